using AptLab.Wan;

namespace AptLab.Human;

/// <summary>
/// Hyper-parameters of the OmniHuman DiT on Wan 2.1 (docs/omnihuman.md#model): a Wan 2.1 T2V config whose patch
/// embedding is widened by the pose channels (<c>in_dim = out_dim + (2n + 1) C_pose</c>), plus the widths of the three
/// added parts: the audio MLP and per-block audio cross-attention, the pose guider, and the motion frames.
/// </summary>
public sealed record OmniHumanConfig
{
    /// <summary>The DiT (model_type t2v). <c>in_dim</c> must be <c>out_dim + PoseInputChannels</c>.</summary>
    public WanConfig Wan { get; init; } = WanConfig.T2V_1_3B with { InDim = 16 + 3 * 16 };
    /// <summary>Width of one audio feature row: (num_hidden_layers + 1) hidden states of wav2vec2 (13 x 768 = 9984 for
    /// wav2vec2-base: the transformer's input and each of its 12 layers).</summary>
    public int AudioInDim { get; init; } = 13 * 768;
    /// <summary>n: each video frame's audio tokens come from video frames f - n .. f + n (docs/omnihuman.md#audio).</summary>
    public int AudioWindow { get; init; } = 2;
    /// <summary>Video frames per latent frame (the VAE's temporal compression, 4 for Wan 2.1).</summary>
    public int VaeTemporal { get; init; } = 4;
    /// <summary>Pixels per latent pixel (the VAE's spatial compression, 8 for Wan 2.1; the tiny study VAE has 4).</summary>
    public int VaeSpatial { get; init; } = 8;
    /// <summary>Heatmap channels the pose guider reads: by default the 26 keypoint groups Pose/PoseHeatmaps draws (17 body
    /// points, 6 foot points, face, left hand, right hand; docs/omnihuman.md#pose). The root does not use the Pose
    /// folder (no cycle); a test pins the two numbers together.</summary>
    public int PoseHeatmapChannels { get; init; } = 26;
    /// <summary>C_pose: pose-guider output channels per latent frame.</summary>
    public int PoseChannels { get; init; } = 16;
    /// <summary>Latent-frame neighbours on each side whose pose features are stacked with a frame's own (1: f - 1, f, f + 1).</summary>
    public int PoseNeighbours { get; init; } = 1;
    /// <summary>Widths of the pose guider's strided 3-D conv layers (one per downsampling step, at least log2 of the
    /// larger of the spatial and temporal factors).</summary>
    public int[] PoseGuiderWidths { get; init; } = [32, 64, 128];
    /// <summary>Video frames of the previous segment that condition the next (5, docs/omnihuman.md#motion-frames).</summary>
    public int MotionFrames { get; init; } = 5;

    /// <summary>Latent channels of the noisy input (= out_dim).</summary>
    public int LatentChannels => Wan.OutDim;
    /// <summary>Channels the pose adds to the patch embedding's input: (2n + 1) C_pose.</summary>
    public int PoseInputChannels => (2 * PoseNeighbours + 1) * PoseChannels;
    /// <summary>Audio tokens per video frame (2n + 1).</summary>
    public int AudioTokensPerFrame => 2 * AudioWindow + 1;
    /// <summary>Audio tokens per latent frame: its VAE-temporal video frames' windows.</summary>
    public int AudioTokensPerLatentFrame => VaeTemporal * AudioTokensPerFrame;
    /// <summary>Latent frames of the motion frames (1 + 4 video frames -> 2 with Wan's causal VAE).</summary>
    public int MotionLatentFrames => (MotionFrames - 1) / VaeTemporal + 1;

    public static OmniHumanConfig OmniHuman_1_3B => new() { Wan = WanConfig.T2V_1_3B with { InDim = 16 + 3 * 16 } };
    public static OmniHumanConfig OmniHuman_14B => new() { Wan = WanConfig.T2V_14B with { InDim = 16 + 3 * 16 } };

    /// <summary>The tiny model of tests and random-weight runs: dim 32, 2 heads, 2 blocks, C_pose 4, a 3-layer pose
    /// guider (8x space, 4x time).</summary>
    public static OmniHumanConfig Tiny(int textDim, int textLen, int audioInDim) => new()
    {
        Wan = new WanConfig
        {
            ModelType = "t2v", InDim = 16 + 3 * 4, Dim = 32, FfnDim = 64, FreqDim = 16, TextDim = textDim, OutDim = 16,
            NumHeads = 2, NumLayers = 2, TextLen = textLen, Eps = 1e-6,
        },
        AudioInDim = audioInDim, PoseChannels = 4, PoseGuiderWidths = [8, 8, 8],
    };

    /// <summary>A Wan config widened for this config's pose channels (in_dim = out_dim + PoseInputChannels).</summary>
    public static OmniHumanConfig FromWan(WanConfig wan, int poseChannels = 16, int poseNeighbours = 1) =>
        new() { Wan = wan with { InDim = wan.OutDim + (2 * poseNeighbours + 1) * poseChannels }, PoseChannels = poseChannels, PoseNeighbours = poseNeighbours };

    /// <summary>Checks the constraints the model relies on; the message names the offending key.</summary>
    public OmniHumanConfig Validate(string? source = null)
    {
        string where = source is null ? "OmniHumanConfig" : $"OmniHumanConfig ({source})";
        void Fail(string key, string why) => throw new ArgumentException($"{where}: {key} {why}");
        Wan.Validate(source);
        if (Wan.IsI2V) Fail("model_type", $"must be \"t2v\" (OmniHuman packs the reference as tokens, no CLIP branch), got \"{Wan.ModelType}\"");
        if (Wan.PatchSize.T != 1) Fail("patch_size", $"t must be 1 (one token row per latent frame), got {Wan.PatchSize.T}");
        if (AudioInDim <= 0) Fail("audio_in_dim", $"must be positive, got {AudioInDim}");
        if (AudioWindow < 0) Fail("audio_window", $"must be >= 0, got {AudioWindow}");
        if (VaeTemporal < 1 || !IsPowerOfTwo(VaeTemporal)) Fail("vae_temporal", $"must be a power of two, got {VaeTemporal}");
        if (VaeSpatial < 1 || !IsPowerOfTwo(VaeSpatial)) Fail("vae_spatial", $"must be a power of two, got {VaeSpatial}");
        if (PoseHeatmapChannels < 1) Fail("pose_heatmap_channels", $"must be positive, got {PoseHeatmapChannels}");
        if (PoseChannels < 1) Fail("pose_channels", $"must be positive, got {PoseChannels}");
        if (PoseNeighbours < 0) Fail("pose_neighbours", $"must be >= 0, got {PoseNeighbours}");
        int steps = Math.Max(Log2(VaeSpatial), Log2(VaeTemporal));
        if (PoseGuiderWidths.Length != steps || PoseGuiderWidths.Any(w => w < 1))
            Fail("pose_guider_widths", $"needs {steps} positive widths (one per downsampling step of x{VaeSpatial} space, x{VaeTemporal} time), got [{string.Join(", ", PoseGuiderWidths)}]");
        if (Wan.InDim != Wan.OutDim + PoseInputChannels)
            Fail("in_dim", $"must be out_dim + (2·pose_neighbours + 1)·pose_channels = {Wan.OutDim + PoseInputChannels} (latent + stacked pose features), got {Wan.InDim}");
        if (MotionFrames < 1 || (MotionFrames - 1) % VaeTemporal != 0) Fail("motion_frames", $"must be 1 + {VaeTemporal}k, got {MotionFrames}");
        return this;
    }

    // ---- parameter counts of the added parts (by formula; the meta-device tests compare them with the module) ----

    /// <summary>The patch embedding's extra input channels: dim · PoseInputChannels · pt·ph·pw.</summary>
    public long PatchWideningParameters => (long)Wan.Dim * PoseInputChannels * Wan.PatchSize.T * Wan.PatchSize.H * Wan.PatchSize.W;
    /// <summary>audio_proj (Linear(C_a, dim) + Linear(dim, dim)) and the slot embedding [4(2n + 1), dim].</summary>
    public long AudioProjectionParameters => (long)AudioInDim * Wan.Dim + Wan.Dim + (long)Wan.Dim * Wan.Dim + Wan.Dim + (long)AudioTokensPerLatentFrame * Wan.Dim;
    /// <summary>One block's audio cross-attention: q, k, v, o (dim² + dim each) and the q/k RMSNorm weights.</summary>
    public long AudioCrossAttentionParameters => 4 * ((long)Wan.Dim * Wan.Dim + Wan.Dim) + (Wan.QkNorm ? 2L * Wan.Dim : 0);
    /// <summary>The pose guider: strided Conv3d(k = 3) layers through <see cref="PoseGuiderWidths"/>, then Conv3d(k = 1) to C_pose.</summary>
    public long PoseGuiderParameters
    {
        get
        {
            long n = 0, c = PoseHeatmapChannels;
            foreach (var w in PoseGuiderWidths) { n += w * c * 27 + w; c = w; }
            return n + PoseChannels * c + PoseChannels;
        }
    }
    /// <summary>Everything OmniHuman adds to a Wan 2.1 T2V DiT of the same size.</summary>
    public long AddedParameters => PatchWideningParameters + AudioProjectionParameters + Wan.NumLayers * AudioCrossAttentionParameters + PoseGuiderParameters;

    internal static bool IsPowerOfTwo(int v) => v > 0 && (v & (v - 1)) == 0;
    internal static int Log2(int v) => 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)v);
}
