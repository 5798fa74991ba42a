using AptLab.Human;

namespace AptLab.Tests.Human;

internal static class HumanTestUtil
{
    public const int TextDim = 24, TextLen = 8, AudioDim = 12;

    /// <summary>The tiny OmniHuman model; <paramref name="nontrivial"/> draws EVERY parameter afresh (so the zero-initialised
    /// added parts contribute too), else the model's own init (added parts a no-op).</summary>
    public static OmniHumanModel Tiny(ulong seed, bool nontrivial = true, OmniHumanConfig? config = null)
    {
        torch.manual_seed(seed);                                                          // Wan's patch-embedding bias keeps the default init
        using var g = new Generator(seed);
        var m = new OmniHumanModel(config ?? OmniHumanConfig.Tiny(TextDim, TextLen, AudioDim), generator: g);
        if (nontrivial) AptLab.Torch.nn.init.nontrivial_(m, g);
        m.eval();
        return m;
    }

    /// <summary>Random inputs for a latent of F frames at h x w: x [B, 16, F, h, w], t [B], context [B, 5, text_dim],
    /// and every condition (reference, 2 motion frames, audio windows, pose heatmaps).</summary>
    public static (Tensor x, Tensor t, Tensor ctx, HumanConditions c) Inputs(OmniHumanModel m, int b, int frames, int h, int w, ulong seed)
    {
        using var g = new Generator(seed);
        var cfg = m.config;
        int video = cfg.VaeTemporal * (frames - 1) + 1;
        var x = torch.randn([b, 16, frames, h, w], generator: g);
        var t = torch.rand([b], generator: g) * 1000.0;
        var ctx = torch.randn([b, 5, cfg.Wan.TextDim], generator: g);
        var c = new HumanConditions
        {
            Reference = torch.randn([b, 16, 1, h, w], generator: g),
            Motion = torch.randn([b, 16, cfg.MotionLatentFrames, h, w], generator: g),
            Audio = torch.randn([b, video, cfg.AudioTokensPerFrame, cfg.AudioInDim], generator: g),
            Pose = torch.rand([b, cfg.PoseHeatmapChannels, video, h * cfg.VaeSpatial, w * cfg.VaeSpatial], generator: g),
        };
        return (x, t, ctx, c);
    }

    /// <summary>max |a − b|.</summary>
    public static double MaxAbs(Tensor a, Tensor b)
    {
        using var _ = torch.NewScope();
        return (a.detach().to(ScalarType.Float64) - b.detach().to(ScalarType.Float64)).abs().max().item<double>();
    }
}
