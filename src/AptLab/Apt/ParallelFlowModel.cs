using AptLab.Diffusion;
using AptLab.Torch.nn;
using AptLab.Training;

namespace AptLab.Apt;

/// <summary>
/// A flow model whose network is held by an <see cref="IParallelModule"/> (docs/precision-and-parallelism.md): every
/// forward runs inside the wrapper's <c>forward</c>, so under FSDP the blocks are gathered as the network fetches them.
/// Code written for <see cref="FlowModel"/> (consistency distillation's loss, teacher sampling) then runs unchanged on
/// a replicated or sharded network. It does not own the model or the wrapper (disposing it does nothing to them) and
/// cannot be copied (a sharded network holds no whole weights: take them from the wrapper's state_dict).
/// </summary>
public sealed class ParallelFlowModel(FlowModel inner, IParallelModule wrapper) : FlowModel
{
    public FlowModel Inner { get; } = inner;
    public IParallelModule Wrapper { get; } = wrapper;
    public override Module Module => Inner.Module;
    public override int NumLayers => Inner.NumLayers;
    public override int Dim => Inner.Dim;
    public override int NumHeads => Inner.NumHeads;
    public override bool GradientCheckpointing { get => Inner.GradientCheckpointing; set => Inner.GradientCheckpointing = value; }

    public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null) =>
        Wrapper.forward(() => Inner.Forward(x, sigma, c, hiddenAfter));

    public override IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks) =>
        Wrapper.forward(() => Inner.Hidden(x, sigma, c, blocks));

    /// <summary>Nothing: the model and the wrapper belong to the caller.</summary>
    public override void Dispose() { }

    public override FlowModel Copy() =>
        throw new NotSupportedException("ParallelFlowModel cannot be copied: take the weights from its wrapper's state_dict()");
}
