using AptLab.Avatar.Audio;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Data;

namespace AptLab.Avatar.Data;

/// <summary>
/// Encodes the clips of an <see cref="AvatarManifest"/> once into a <see cref="LatentCache"/> (the models are not
/// owned). Per clip, under the cache's names:
/// <code>
/// latents      [16, F, h, w]  VAE posterior mean of the L frames (unnormalised, as LatentCache stores latents)
/// ref_latents  [16, 1, h, w]  VAE posterior mean of the reference image
/// audio        [L, C]         OmniAvatar's wav2vec2 features (docs/omniavatar.md#audio-features), one row per video frame, row k ↔ frame k
///                             (the clip's own audio, no silence prepended: training aligns frames and audio directly)
/// context      [Lt, dim]      umT5 embedding of the caption, its real rows only
/// </code>
/// Clips already in the cache are skipped, so a second epoch or a second run encodes nothing.
/// </summary>
public sealed class AvatarCacheEncoder(WanVAE vae, UmT5TextEncoder text, Wav2Vec2Model wav2vec, AvatarClipSpec spec)
{
    public AvatarClipSpec Spec { get; } = spec.Validate();
    private readonly OmniAvatarAudioEncoder audio = new(wav2vec, new OmniAvatarAudioOptions(spec.SampleRate, spec.Fps, silence_duration_s: 0));

    /// <summary>Number of clips encoded by this process's calls (the cache hits are not counted).</summary>
    public int Encoded { get; private set; }

    /// <summary>The tensors of one clip (caller owns them).</summary>
    public Dictionary<string, Tensor> Encode(AvatarClip clip)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        using var decoded = AvatarClipReader.Read(clip, Spec);
        var (mu, _) = vae.encode_moments(decoded.Video);                       // [1, 16, F, h, w]
        var (refMu, _) = vae.encode_moments(decoded.Reference);                // [1, 16, 1, h, w]
        using var feats = audio.EncodeSamples(decoded.Audio);
        if (feats.audio_len != Spec.Frames)
            throw new InvalidOperationException($"{clip.Audio}: {feats.audio_len} audio feature rows for {Spec.Frames} video frames");
        var ctx = text.Encode([clip.Caption])[0];                             // [Lt, dim]
        var result = new Dictionary<string, Tensor>
        {
            ["latents"] = scope.Keep(mu.squeeze(0).contiguous()),
            ["ref_latents"] = scope.Keep(refMu.squeeze(0).contiguous()),
            ["audio"] = scope.Keep(feats.audio_embeddings.clone()),
            ["context"] = scope.Keep(ctx.contiguous()),
        };
        return result;
    }

    /// <summary>Encodes every clip of <paramref name="manifest"/> missing from <paramref name="cache"/>; returns how many.</summary>
    public int EncodeAll(AvatarManifest manifest, LatentCache cache, TextWriter? log = null)
    {
        int n = 0;
        foreach (var clip in manifest.Clips)
        {
            if (cache.Contains(clip.Id)) continue;
            var tensors = Encode(clip);
            try { cache.Add(clip.Id, clip.Caption, tensors); }
            finally { foreach (var t in tensors.Values) t.Dispose(); }
            n++;
            Encoded++;
            log?.WriteLine($"[encode] {n}: {Path.GetFileName(clip.Video)} -> {cache.Root}");
        }
        return n;
    }
}
