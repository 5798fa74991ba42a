using AptLab.Data;
using AptLab.Human.Audio;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;

namespace AptLab.Human.Data;

/// <summary>
/// Encodes the clips of a <see cref="HumanManifest"/> once into a <see cref="LatentCache"/> (models not owned). Per clip,
/// under the cache's names (latents unnormalised, as LatentCache stores them):
/// <code>
/// latents          [16, F, h, w]   VAE posterior mean of the segment's L frames
/// motion_latents   [16, Fm, h, w]  VAE posterior mean of the M motion frames before them (encoded on their own)
/// ref_latents      [16, R, h, w]   each reference candidate encoded as an image
/// audio            [M + L, C]      wav2vec2 multi-layer features, one row per video frame of the clip
/// context          [Lt, dim]       umT5 embedding of the caption, its real rows only
/// keypoints        [M + L, 133, 3] whole-body keypoints cropped like the frames (only clips with pose)
/// audio_qualified  [1]             1 when the clip passed the lip-sync filter
/// </code>
/// Clips already cached are skipped.
/// </summary>
public sealed class HumanCacheEncoder(WanVAE vae, UmT5TextEncoder text, HumanAudioEncoder audio, HumanClipSpec spec)
{
    public HumanClipSpec Spec { get; } = spec.Validate();
    public int Encoded { get; private set; }

    public Dictionary<string, Tensor> Encode(HumanClip clip) => Encode(clip, HumanClipReader.Decode(clip, Spec));

    /// <summary>The cache tensors of <paramref name="clip"/> from its decoded <paramref name="media"/>.</summary>
    public Dictionary<string, Tensor> Encode(HumanClip clip, HumanClipMedia media)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        using var d = HumanClipReader.ToTensors(media, Spec);
        int m = Spec.MotionFrames;
        var (mu, _) = vae.encode_moments(d.Video.narrow(2, m, Spec.Frames));                 // [1, 16, F, h, w]
        var (motion, _) = vae.encode_moments(d.Video.narrow(2, 0, m));                        // [1, 16, Fm, h, w]
        var (refs, _) = vae.encode_moments(d.References);                                    // [R, 16, 1, h, w]
        var feats = audio.Encode(d.Audio, Spec.TotalFrames);                                  // [M + L, C]
        var ctx = text.Encode([clip.Caption])[0];                                             // [Lt, dim]
        var result = new Dictionary<string, Tensor>
        {
            ["latents"] = mu.squeeze(0).contiguous(),
            ["motion_latents"] = motion.squeeze(0).contiguous(),
            ["ref_latents"] = refs.squeeze(2).permute(1, 0, 2, 3).contiguous(),
            ["audio"] = feats,
            ["context"] = ctx.contiguous(),
            ["audio_qualified"] = torch.tensor(new float[] { clip.AudioQualified ? 1 : 0 }, 1),
        };
        if (d.Keypoints is not null) result["keypoints"] = d.Keypoints.ToTensor();
        scope.KeepAll(result.Values.ToArray());
        return result;
    }

    /// <summary>Encodes every clip of <paramref name="manifest"/> missing from <paramref name="cache"/>; returns how many.
    /// The next <paramref name="prefetch"/> clips are decoded by ffmpeg on worker threads while this one encodes; clips
    /// are still encoded and stored in manifest order, and a clip's decoding error surfaces when its turn comes (the
    /// clips before it are in the cache by then).</summary>
    public int EncodeAll(HumanManifest manifest, LatentCache cache, TextWriter? log = null, int prefetch = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefetch);
        var todo = manifest.Clips.Where(c => !cache.Contains(c.Id)).ToList();
        var pending = new Queue<Task<HumanClipMedia>>();
        int next = 0, n = 0;
        void Fill()
        {
            while (next < todo.Count && pending.Count <= prefetch)
            {
                var clip = todo[next++];
                pending.Enqueue(Task.Run(() => HumanClipReader.Decode(clip, Spec)));
            }
        }
        try
        {
            foreach (var clip in todo)
            {
                Fill();
                var media = pending.Dequeue().GetAwaiter().GetResult();
                var tensors = Encode(clip, media);
                try { cache.Add(clip.Id, clip.Caption, tensors); }
                finally { foreach (var t in tensors.Values) t.Dispose(); }
                n++;
                Encoded++;
                if (log is not null && (n % 50 == 0 || n == 1)) log.WriteLine($"[encode] {n}: {Path.GetFileName(clip.Video)} -> {cache.Root}");
            }
        }
        finally
        {
            foreach (var t in pending) try { t.Wait(); } catch (AggregateException) { }      // no ffmpeg left running behind an error
        }
        return n;
    }
}
