using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Torch.optim;

namespace AptLab.Training;

/// <summary>How the ranks share a trained network (config key <c>parallel</c>): <c>ddp</c> keeps a whole replica
/// per rank (or runs alone without a group), <c>fsdp</c> gives each rank 1/N of every parameter, gradient,
/// optimizer state and EMA.</summary>
public enum ParallelMode { Ddp, Fsdp }

public static class ParallelModes
{
    public static string ToConfigString(this ParallelMode m) => m == ParallelMode.Fsdp ? "fsdp" : "ddp";

    /// <summary>Parses ddp | fsdp; an error names the key (and the file when given).</summary>
    public static ParallelMode Parse(string value, string key = "parallel", string? file = null) =>
        value.Trim().ToLowerInvariant() switch
        {
            "ddp" => ParallelMode.Ddp,
            "fsdp" => ParallelMode.Fsdp,
            _ => throw new ArgumentException($"{(file is null ? "" : file + ": ")}{key} must be ddp or fsdp, got '{value}'"),
        };
}

/// <summary>
/// A network as a trainer holds it: its <see cref="Precision"/> policy (master weights beside compute copies) and
/// how the ranks share it (<see cref="ReplicatedModule"/>: whole on every rank; <see cref="FullyShardedDataParallel"/>:
/// 1/N per rank). A trainer drives both alike, so the choice is one constructor argument:
/// <code>
/// var y = g.forward(() => net.Forward(x, ...));        // FSDP gathers the parameters just in time
/// g.backward(loss / accumulation);                     // per micro-batch: gradients into float32 accumulators
/// g.sync_gradients();                                  // average over ranks (FSDP has reduce-scattered already)
/// double norm = g.grad_norm();                         // global, over all ranks
/// g.step(optimizer); g.zero_grad();                    // optimizer over g.parameters(); compute copies follow
/// ema.update(g.named_parameters());                    // float32 shadows of the masters (of this rank's shards)
/// </code>
/// Checkpoints use the official key names whatever the mode (<see cref="state_dict"/>, <see cref="to_full"/>,
/// <see cref="optimizer_state_dict"/>), so a run resumes under another mode or world size.
/// docs/precision-and-parallelism.md.
/// </summary>
public interface IParallelModule : IDisposable
{
    Module module { get; }
    Precision precision { get; }
    /// <summary>The ranks (null: this process alone).</summary>
    ProcessGroup? group { get; }

    /// <summary>What the optimizer steps: the masters, whole (one per trainable parameter) or this rank's flat
    /// shards (one per unit).</summary>
    IReadOnlyList<Tensor> parameters();

    /// <summary><see cref="parameters"/> under names: the official state-dict names when whole, "&lt;unit&gt;.flat"
    /// names for shards. An EMA built from them keeps float32 shadows of exactly what this rank holds.</summary>
    IEnumerable<(string name, Tensor tensor)> named_parameters();

    /// <summary>Runs a forward of <see cref="module"/> (FSDP: gathers its parameters as they are needed).</summary>
    T forward<T>(Func<T> body);

    /// <summary>loss.backward(), then <see cref="post_backward"/>.</summary>
    void backward(Tensor loss);

    /// <summary>After a backward through this module (also one started from another module's loss): its gradients
    /// move into the master-dtype accumulators (FSDP: reduce-scattered, then the gathered parameters are freed).</summary>
    void post_backward();

    /// <summary>Averages the accumulated gradients over the ranks (unless inside <see cref="no_sync"/>).</summary>
    void sync_gradients();

    /// <summary>While open, gradients only accumulate locally (the next synchronised backward or
    /// <see cref="sync_gradients"/> averages the sums).</summary>
    IDisposable no_sync();

    /// <summary>The global L2 norm of the accumulated gradients (over all ranks); 0 without gradients.</summary>
    double grad_norm();

    /// <summary>The global L2 norms of the accumulated gradients per group of trainable parameters
    /// (<paramref name="groupOf"/> maps an official parameter name to its group), over all ranks: one all-reduce
    /// under FSDP, where a rank's shard holds parts of several parameters.</summary>
    Dictionary<string, double> grad_norms(Func<string, string> groupOf);

    /// <summary>Scales the gradients so that their global norm is at most <paramref name="max_norm"/>; returns the
    /// norm before clipping.</summary>
    double clip_grad_norm_(double max_norm);

    /// <summary>The optimizer (built over <see cref="parameters"/>) steps; the compute copies follow.</summary>
    void step(Optimizer optimizer);

    void zero_grad();

    /// <summary>The weights under the official names in the master dtype (or <paramref name="dtype"/>). Under FSDP a
    /// collective: every rank must call it; the full dict is built on rank 0 only (others get an empty one).</summary>
    Dictionary<string, Tensor> state_dict(ScalarType? dtype = null);

    /// <summary>Loads weights under the official names (from any mode and world size).</summary>
    void load_state_dict(IReadOnlyDictionary<string, Tensor> state, string? source = null);

    /// <summary>Loads the TRAINABLE weights only (official names; frozen ones stay as they are) into the masters (this
    /// rank's shards under FSDP), then the compute copies follow: a fine-tuning checkpoint that stores what trains.</summary>
    void load_parameters(IReadOnlyDictionary<string, Tensor> full, string? source = null);

    /// <summary>Tensors shaped like <see cref="named_parameters"/> (an EMA's shadows) under the official names (a
    /// collective under FSDP; the full dict on rank 0 only).</summary>
    Dictionary<string, Tensor> to_full(IEnumerable<(string name, Tensor tensor)> local);

    /// <summary>The inverse of <see cref="to_full"/>: this rank's tensors shaped like <see cref="named_parameters"/>
    /// from full tensors under the official names.</summary>
    Dictionary<string, Tensor> from_full(IReadOnlyDictionary<string, Tensor> full, string? source = null);

    /// <summary>The optimizer's state as a whole-model optimizer over the trainable parameters in module order would
    /// have it (state.&lt;i&gt;.&lt;name&gt;, param_groups.*; rank 0 only under FSDP).</summary>
    Dictionary<string, Tensor> optimizer_state_dict(Optimizer optimizer);

    /// <summary>Loads an <see cref="optimizer_state_dict"/> (from any mode and world size).</summary>
    void load_optimizer_state_dict(Optimizer optimizer, IReadOnlyDictionary<string, Tensor> state, string? source = null);
}
