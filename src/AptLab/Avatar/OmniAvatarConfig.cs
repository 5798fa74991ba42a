using AptLab.Wan;

namespace AptLab.Avatar;

/// <summary>
/// Hyper-parameters of the OmniAvatar DiT (docs/omniavatar.md#overview): a Wan 2.1 T2V config with
/// <c>in_dim = 33</c> (noise latent 16 + reference latent 16 + mask 1) and the audio branch
/// (<c>AudioPack(audio_in_dim · 4 → audio_hidden_size)</c>, <c>num_layers/2 − 1</c> projections to dim).
/// </summary>
public sealed record OmniAvatarConfig
{
    /// <summary>The DiT (model_type t2v, in_dim = 2·out_dim + 1).</summary>
    public WanConfig Wan { get; init; } = WanConfig.T2V_14B with { InDim = 33 };
    /// <summary>Width of one audio feature row: 14 × 768 = 10752 for wav2vec2-base (<c>[last, hs0..hs12]</c>).</summary>
    public int AudioInDim { get; init; } = 10752;
    /// <summary>AudioPack output width (config.json <c>model_config.audio_hidden_size</c>: 32).</summary>
    public int AudioHiddenSize { get; init; } = 32;
    /// <summary>Video frames packed into one latent frame (AudioPack patch t; matches the VAE's 4× time compression).</summary>
    public int AudioPatchT { get; init; } = 4;

    /// <summary>Number of <c>audio_cond_projs</c>: num_layers/2 − 1 (14 for 1.3B, 19 for 14B).</summary>
    public int NumAudioProjections => Wan.NumLayers / 2 - 1;
    /// <summary>Blocks that receive audio (0-based, inclusive): 2 .. num_layers/2.</summary>
    public (int First, int Last) AudioBlocks => (2, Wan.NumLayers / 2);
    /// <summary>Latent channels of the noisy input (= out_dim).</summary>
    public int LatentChannels => Wan.OutDim;

    public static OmniAvatarConfig OmniAvatar_1_3B => new() { Wan = WanConfig.T2V_1_3B with { InDim = 33 } };
    public static OmniAvatarConfig OmniAvatar_14B => new() { Wan = WanConfig.T2V_14B with { InDim = 33 } };

    /// <summary>Checks the constraints the model relies on; the message names the offending key.</summary>
    public OmniAvatarConfig Validate(string? source = null)
    {
        string where = source is null ? "OmniAvatarConfig" : $"OmniAvatarConfig ({source})";
        Wan.Validate(source);
        if (Wan.IsI2V) throw new ArgumentException($"{where}: model_type must be \"t2v\" (OmniAvatar has no CLIP branch), got \"{Wan.ModelType}\"");
        if (Wan.InDim != 2 * Wan.OutDim + 1)
            throw new ArgumentException($"{where}: in_dim must be 2·out_dim + 1 = {2 * Wan.OutDim + 1} (noise + reference latent + mask), got {Wan.InDim}");
        if (Wan.NumLayers < 4) throw new ArgumentException($"{where}: num_layers must be >= 4 so at least one block (2) receives audio, got {Wan.NumLayers}");
        if (Wan.PatchSize.T != 1) throw new ArgumentException($"{where}: patch_size t must be 1 (one token row per latent frame), got {Wan.PatchSize.T}");
        if (AudioInDim <= 0) throw new ArgumentException($"{where}: audio_in_dim must be positive, got {AudioInDim}");
        if (AudioHiddenSize <= 0) throw new ArgumentException($"{where}: audio_hidden_size must be positive, got {AudioHiddenSize}");
        if (AudioPatchT <= 0) throw new ArgumentException($"{where}: audio_patch_t must be positive, got {AudioPatchT}");
        return this;
    }
}
