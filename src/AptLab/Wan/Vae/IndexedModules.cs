using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>A parameter-holding container whose children have explicit (possibly gapped) index names, as the
/// official <c>nn.Sequential</c>s whose activations, pads and dropouts have no keys (<c>residual.1</c>,
/// <c>head.1</c>, <c>resample.0</c>).</summary>
public sealed class IndexedModules : Module
{
    public IndexedModules(params (string name, Module module)[] children)
    {
        foreach (var (n, m) in children) RegisterModule(n, m);
    }
}
