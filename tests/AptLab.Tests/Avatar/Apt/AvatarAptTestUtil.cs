using AptLab.Apt;
using AptLab.Avatar;
using AptLab.Avatar.Apt;

namespace AptLab.Tests.Avatar.Apt;

internal static class AvatarAptTestUtil
{
    /// <summary>dim 32, 1 head, 6 layers (audio into blocks 2, 3), text_dim 12, audio rows of 24 features.</summary>
    public static OmniAvatarConfig Cfg => AvatarTestUtil.Tiny;

    /// <summary>A tiny OmniAvatar with every parameter random (the audio branch and head are not zero).</summary>
    public static OmniAvatarFlowModel Model(ulong seed)
    {
        var net = new OmniAvatarModel(Cfg);
        AvatarTestUtil.Randomize(net, seed, Cfg.Wan.Dim);
        return new OmniAvatarFlowModel(net);
    }

    /// <summary>Conditioning of <paramref name="b"/> samples with <paramref name="frames"/> latent frames of 4 x 4:
    /// context [B, 5, 12], y [B, 17, F, 4, 4] (mask 0 at frame 0), audio [B, 4F - 3, 24].</summary>
    public static Conditioning Cond(Generator g, long b, long frames)
    {
        var refLat = torch.randn([b, 16, 1, 4, 4], generator: g).expand(b, 16, frames, 4, 4);
        var mask = torch.ones([b, 1, frames, 4, 4]);
        mask.narrow(2, 0, 1).zero_();
        return new Conditioning(torch.randn([b, 5, Cfg.Wan.TextDim], generator: g), Y: torch.cat([refLat, mask], 1),
            Audio: torch.randn([b, 4 * frames - 3, Cfg.AudioInDim], generator: g));
    }

    public static Tensor Latents(Generator g, long b, long frames) => torch.randn([b, 16, frames, 4, 4], generator: g) * 0.5 + 0.2;

    public static bool IsAudioParameter(string name) => name.StartsWith("audio_proj.") || name.StartsWith("audio_cond_projs.");
}
