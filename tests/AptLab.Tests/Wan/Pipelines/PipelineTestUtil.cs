using AptLab.Wan;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Wan.Pipelines;

namespace AptLab.Tests.Wan.Pipelines;

internal static class PipelineTestUtil
{
    public static string Tokenizer => Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model");

    /// <summary>Tiny random models (seeded): DiT dim 64 / 2 layers, VAE dim 8, 1-layer umT5.</summary>
    public static (WanModel dit, WanVAE vae, UmT5TextEncoder text) Tiny(bool i2v = false, ulong seed = 3) =>
        TinyWan.Build(new TinyModelConfig { Seed = seed, TextLen = 16 }, i2v, Tokenizer);

    /// <summary>Max |a − b| (0 means bit-identical).</summary>
    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var _ = torch.NewScope();
        Assert.Equal(b.shape, a.shape);
        return (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    }
}
