using System.Runtime.InteropServices;

namespace AptLab.Torch;

public partial class Tensor
{
    /// <summary>Backpropagates from this tensor (a scalar, or with an explicit <paramref name="gradient"/>).</summary>
    public void backward(Tensor? gradient = null, bool retain_graph = false, bool create_graph = false) =>
        Check(Native.apt_backward(H, gradient?.H ?? 0, retain_graph ? 1 : 0, create_graph ? 1 : 0), this, gradient);

    /// <summary>The accumulated gradient (a new handle), or null if none. Setting null clears it.</summary>
    public unsafe Tensor? grad
    {
        get
        {
            IntPtr g;
            Check(Native.apt_grad(H, &g), this);
            return g == IntPtr.Zero ? null : new Tensor(g);
        }
        set => Check(Native.apt_set_grad(H, value?.H ?? 0), this, value);
    }

    /// <summary>Keeps .grad for a non-leaf tensor.</summary>
    public Tensor retain_grad() { Check(Native.apt_retain_grad(H), this); return this; }
}

/// <summary>torch.autograd: gradients of non-leaf tensors and activation checkpointing.</summary>
public static unsafe class Autograd
{
    /// <summary>torch.autograd.grad: d(outputs)/d(inputs) weighted by <paramref name="grad_outputs"/>.
    /// An entry is null when its input is unused and <paramref name="allow_unused"/> is set.</summary>
    public static Tensor?[] grad(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor> inputs,
        IReadOnlyList<Tensor?>? grad_outputs = null, bool retain_graph = false, bool create_graph = false,
        bool allow_unused = false)
    {
        var outs = stackalloc IntPtr[outputs.Count];
        var gos = stackalloc IntPtr[outputs.Count];
        var ins = stackalloc IntPtr[inputs.Count];
        var res = stackalloc IntPtr[inputs.Count];
        for (int i = 0; i < outputs.Count; i++) { outs[i] = outputs[i].H; gos[i] = grad_outputs?[i]?.H ?? 0; }
        for (int i = 0; i < inputs.Count; i++) ins[i] = inputs[i].H;
        Tensor.Check(Native.apt_autograd_grad(outs, outputs.Count, ins, inputs.Count, gos, retain_graph ? 1 : 0,
            create_graph ? 1 : 0, allow_unused ? 1 : 0, res), outputs, inputs, grad_outputs);
        var result = new Tensor?[inputs.Count];
        for (int i = 0; i < inputs.Count; i++) result[i] = res[i] == 0 ? null : new Tensor(res[i]);
        return result;
    }

    // ---- activation checkpointing ----
    private static int registered;

    internal static void RegisterCheckpointCallback()
    {
        if (Interlocked.Exchange(ref registered, 1) == 0)
            Native.apt_set_checkpoint_callbacks(&RunCheckpointed, &CheckpointBackwardDone, &ReleaseCheckpointed);
    }

    // The observers installed on this thread, innermost last (see observe_checkpoints).
    [ThreadStatic] private static List<ICheckpointObserver>? observers;

    /// <summary>
    /// Installs <paramref name="observer"/> for the checkpointed regions created on this thread until the returned
    /// scope is disposed (the innermost installed observer watches). The observer is told when each region is
    /// created, before and after its function runs (in the forward and in the recomputation) and after the backward
    /// through the recomputation; it keeps watching the region after the scope closed, until the region's autograd
    /// node is gone. Fully sharded data parallel gathers a block's parameters there.
    /// </summary>
    public static IDisposable observe_checkpoints(ICheckpointObserver observer)
    {
        (observers ??= new()).Add(observer);
        return new ObserverScope(observer);
    }

    private sealed class ObserverScope(ICheckpointObserver observer) : IDisposable
    {
        private bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            observers!.Remove(observer);
        }
    }

    // What the shim's fn_id stands for: the function and the observer (with its state) that watch it.
    private sealed record Region(Func<Tensor[], Tensor[]> Function, ICheckpointObserver? Observer, object? State);

    /// <summary>
    /// Runs <paramref name="function"/> on <paramref name="inputs"/> without keeping its activations; backward
    /// runs it again with grad enabled (the CPU RNG state restored, so dropout repeats) and backpropagates
    /// through the recomputation. Gradients equal those of a plain call; peak memory is lower.
    /// The function must be deterministic given its inputs and the RNG state. Parameters the function captures
    /// get gradients even when no input requires grad. As PyTorch's reentrant checkpoint, the recomputation's
    /// backward accumulates into the captured parameters' .grad, so use it with backward(), not with
    /// Autograd.grad over those parameters.
    /// </summary>
    public static Tensor[] checkpoint(Func<Tensor[], Tensor[]> function, params Tensor[] inputs)
    {
        RegisterCheckpointCallback();
        var observer = observers is { Count: > 0 } o ? o[^1] : null;
        var state = observer?.Created();
        var region = new Region(function, state is null ? null : observer, state);
        var ins = stackalloc IntPtr[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) ins[i] = inputs[i].H;
        // From here the shim owns the handle: it frees it (through ReleaseCheckpointed) when the autograd node
        // that may re-run the function is destroyed, or at once if the call fails.
        var id = GCHandle.ToIntPtr(GCHandle.Alloc(region)).ToInt64();
        var outs = stackalloc IntPtr[64];
        int n = Native.apt_checkpoint(id, ins, inputs.Length, outs, 64);
        GC.KeepAlive(inputs);
        if (n < 0) throw new TorchException(Native.LastError());
        var result = new Tensor[n];
        for (int i = 0; i < n; i++) result[i] = new Tensor(outs[i]);
        return result;
    }

    /// <summary>Checkpoints a single-input, single-output block.</summary>
    public static Tensor checkpoint(Func<Tensor, Tensor> function, Tensor input) =>
        checkpoint(xs => new[] { function(xs[0]) }, input)[0];

    [UnmanagedCallersOnly]
    private static int RunCheckpointed(long fnId, int recompute, IntPtr* inputs, int nIn, IntPtr* outputs, int capacity)
    {
        try
        {
            var region = (Region)GCHandle.FromIntPtr(new IntPtr(fnId)).Target!;
            region.Observer?.BeforeRun(region.State!, recompute != 0);
            try
            {
                using var scope = torch.NewScope();
                var args = new Tensor[nIn];
                for (int i = 0; i < nIn; i++) args[i] = Tensor.Wrap(Native.apt_alias(inputs[i]));
                var results = region.Function(args);
                if (results.Length > capacity) throw new InvalidOperationException("checkpointed function returned too many tensors");
                for (int i = 0; i < results.Length; i++) outputs[i] = results[i].alias().TransferOwnership();
                return results.Length;
            }
            finally { region.Observer?.AfterRun(region.State!, recompute != 0); }
        }
        catch (Exception e)
        {
            Native.apt_set_error_message(e.Message);
            return -1;
        }
    }

    [UnmanagedCallersOnly]
    private static int CheckpointBackwardDone(long fnId)
    {
        try
        {
            var region = (Region)GCHandle.FromIntPtr(new IntPtr(fnId)).Target!;
            region.Observer?.AfterBackward(region.State!);
            return 0;
        }
        catch (Exception e)
        {
            Native.apt_set_error_message(e.Message);
            return -1;
        }
    }

    [UnmanagedCallersOnly]
    private static void ReleaseCheckpointed(long fnId) => GCHandle.FromIntPtr(new IntPtr(fnId)).Free();
}

/// <summary>Watches activation-checkpointed regions (<see cref="Autograd.observe_checkpoints"/>).</summary>
public interface ICheckpointObserver
{
    /// <summary>A region is being created on this thread: the returned state travels with it to the calls below
    /// (null: this region is not watched).</summary>
    object? Created();

    /// <summary>Before the region's function runs: in the forward (<paramref name="recompute"/> false, grad off) or
    /// recomputed in backward (true, grad on). May run on an autograd worker thread.</summary>
    void BeforeRun(object state, bool recompute);

    /// <summary>After the function ran (also when it threw).</summary>
    void AfterRun(object state, bool recompute);

    /// <summary>After the backward through the recomputation: the parameters the function captured hold this
    /// region's gradient contribution in .grad.</summary>
    void AfterBackward(object state);
}
