using AptLab.Data.Media;
using AptLab.Avatar.Audio;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;

namespace AptLab.Avatar.Inference;

/// <summary>Where the long-video generation is: chunk c of n, denoising step s of m (s = 0: chunk started).</summary>
public readonly record struct AvatarProgress(int Chunk, int Chunks, int Step, int Steps);

/// <summary>Settings of the whole long-video run (docs/omniavatar.md#sampling, docs/omniavatar.md#long-video).</summary>
public sealed record AvatarVideoOptions
{
    public AvatarSamplingOptions Sampling { get; init; } = new();
    /// <summary>Aspect-ratio buckets [H, W] (image_sizes_{max_hw}).</summary>
    public IReadOnlyList<int[]> ImageSizes { get; init; } = [[400, 720], [720, 720], [720, 400]];
    public int MaxTokens { get; init; } = 30000;
    public int OverlapFrame { get; init; } = 13;
    public bool RandomPrefixFrames { get; init; } = true;
    public int Fps { get; init; } = 25;
    public string NegativePrompt { get; init; } = AvatarDefaults.NegativePrompt;
    public ulong Seed { get; init; } = 42;
}

/// <summary>What a generation did: its plan and the DiT calls made and skipped (TeaCache).</summary>
public sealed record AvatarRun(LongVideoPlan Plan, int ModelCalls, int SkippedCalls);

/// <summary>The generated video: frames [N, 3, H, W] in [0, 1] (frame 0 = the re-generated reference) and its plan.</summary>
public sealed record AvatarVideo(Tensor Frames, LongVideoPlan Plan, int ModelCalls, int SkippedCalls) : IDisposable
{
    public void Dispose() => Frames.Dispose();
}

/// <summary>
/// OmniAvatar's <c>WanInferencePipeline.forward</c> (docs/omniavatar.md#conditioning, docs/omniavatar.md#long-video): reference image → bucket, VAE latent; audio →
/// wav2vec2 features padded to whole chunks; per chunk: y (reference latent at every latent frame, mask 0 on the fixed
/// frames), the chunk's audio with the rolling prefix, the clean latent prefix (reference latent, then the VAE-encoded
/// last f decoded frames of the previous chunk), <see cref="AvatarSampler"/>, VAE decode; the overlap is dropped and the
/// video trimmed to <c>ori_audio_len + 1</c> frames. The models are not owned. Frames are handed out chunk by chunk as
/// they are decoded (<see cref="Generate(RgbImage, ReadOnlySpan{float}, string, AvatarVideoOptions, Action{Tensor}, Action{AvatarProgress}?)"/>),
/// so a long video needs no more memory than a short one (docs/omniavatar.md#long-audio).
/// </summary>
public sealed class OmniAvatarPipeline(OmniAvatarModel dit, WanVAE vae, UmT5TextEncoder text, OmniAvatarAudioEncoder audio)
{
    public OmniAvatarModel Dit { get; } = dit;
    public WanVAE Vae { get; } = vae;
    public UmT5TextEncoder Text { get; } = text;
    public OmniAvatarAudioEncoder Audio { get; } = audio;

    /// <summary>Runs the whole generation for an image, 16 kHz mono samples (before the silence padding) and a prompt,
    /// and returns every frame.</summary>
    public AvatarVideo Generate(RgbImage image, ReadOnlySpan<float> samples, string prompt, AvatarVideoOptions options,
        Action<AvatarProgress>? progress = null)
    {
        var pieces = new List<Tensor>();
        try
        {
            var run = Generate(image, samples, prompt, options, frames => pieces.Add(frames.contiguous().DetachFromScope()), progress);
            return new AvatarVideo(torch.cat(pieces, 0), run.Plan, run.ModelCalls, run.SkippedCalls);   // [N, 3, H, W]
        }
        finally { foreach (var p in pieces) p.Dispose(); }
    }

    /// <summary>The generation, handing the output frames to <paramref name="onFrames"/> as each chunk is decoded:
    /// [n, 3, H, W] in [0, 1], n ≥ 1, in order, <c>Plan.OutputFrames</c> in all. The tensor is freed after the call.</summary>
    public AvatarRun Generate(RgbImage image, ReadOnlySpan<float> samples, string prompt, AvatarVideoOptions options,
        Action<Tensor> onFrames, Action<AvatarProgress>? progress = null)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var sampling = options.Sampling.Validate();
        // reference image → bucket → latent [1, 16, 1, h, w]
        var img = ReferenceImage.Prepare(image, options.ImageSizes);           // [1, 3, 1, Hb, Wb]
        int hb = (int)img.size(3), wb = (int)img.size(4);
        int l = LongVideoPlan.FramesPerChunkFor(options.MaxTokens, hb, wb);
        var (f, _) = LongVideoPlan.Prefix(options.OverlapFrame, options.RandomPrefixFrames);
        if (f >= l) throw new ArgumentException($"overlap_frame {f} must be below the {l} frames per chunk that max_tokens {options.MaxTokens} gives at {hb}x{wb}");
        var imgLat = Vae.encode(img);                                           // [1, 16, 1, h, w]
        // audio → [A, C], padded for the chunking
        using var feats = Audio.EncodeSamples(samples, new AudioChunking(l, f, 1));
        var plan = LongVideoPlan.Create(feats.ori_audio_len, l, options.OverlapFrame, options.RandomPrefixFrames);
        if (plan.PaddedAudioLen != feats.audio_len)
            throw new InvalidOperationException($"audio padded to {feats.audio_len} frames, the plan expects {plan.PaddedAudioLen}");
        // y: reference latent over all T latent frames + mask (0 = known, 1 = generate)
        int t = plan.LatentFrames;
        long h = imgLat.size(3), w = imgLat.size(4);
        var msk = torch.ones([1, 1, t, h, w], imgLat.dtype, imgLat.device);
        msk.narrow(2, 0, 1).zero_();
        var y = torch.cat([imgLat.expand(1, imgLat.size(1), t, h, w), msk], 1); // [1, 17, T, h, w]
        // text (deterministic, encoded once)
        var ctxPos = Text.EncodePadded([prompt]);                               // [1, text_len, text_dim]
        var ctxNeg = sampling.Passes > 1 ? Text.EncodePadded([options.NegativePrompt]) : null;

        using var gen = new Generator(options.Seed);
        Tensor? audioPrefix = null;
        Tensor? tailLatents = null;                                             // [1, 16, 4, h, w]
        int calls = 0, skipped = 0, generated = 0, written = 0;
        foreach (var chunk in plan.Chunks)
        {
            // the audio encoding's and the last chunk's freed storage back to the OS: the resident set stays flat
            // over a long video instead of creeping up as the C heap's free space fragments (docs/omniavatar.md#long-audio)
            torch.native_heap_trim();
            using var chunkScope = torch.NewScope();
            progress?.Invoke(new AvatarProgress(chunk.Index + 1, plan.Chunks.Count, 0, sampling.NumSteps));
            if (chunk.Index > 0) y.narrow(1, 16, 1).narrow(2, 0, chunk.PrefixLatentFrames).zero_();   // persists for later chunks
            var previous = audioPrefix;
            var chunkAudio = plan.ChunkAudio(feats.audio_embeddings, chunk, ref audioPrefix).unsqueeze(0);   // [1, L, C]
            chunkScope.Keep(audioPrefix!);                                      // the rolling prefix outlives the chunk
            previous?.Dispose();
            var prefix = chunk.Index == 0 ? imgLat : tailLatents!;
            if (prefix.size(2) != chunk.PrefixLatentFrames)
                throw new InvalidOperationException($"chunk {chunk.Index}: {prefix.size(2)} prefix latent frames, expected {chunk.PrefixLatentFrames}");
            var lat = torch.cat([prefix, torch.zeros([1, prefix.size(1), t - prefix.size(2), h, w], prefix.dtype, prefix.device)], 2);
            var sample = AvatarSampler.Sample(Dit, lat, chunk.PrefixLatentFrames, y, chunkAudio, ctxPos, ctxNeg, sampling, gen,
                onStep: (s, n) => progress?.Invoke(new AvatarProgress(chunk.Index + 1, plan.Chunks.Count, s, n)));
            calls += sample.ModelCalls;
            skipped += sample.SkippedCalls;
            var frames = ((Vae.decode(sample.Latents.to(imgLat.dtype)) + 1.0) / 2.0).squeeze(0);   // [3, L, H, W] in [0, 1]
            // the last f frames seed the next chunk's prefix
            if (chunk.Index + 1 < plan.Chunks.Count)
            {
                var tail = frames.narrow(1, l - plan.FixedFrames, plan.FixedFrames).clamp(0, 1) * 2.0 - 1.0;
                tailLatents?.Dispose();
                tailLatents = chunkScope.Keep(Vae.encode(tail.unsqueeze(0)));   // [1, 16, prefix_lat, h, w] (to the run's scope)
            }
            // the overlap re-generates the previous tail: dropped; the video ends at the audio's end
            int fresh = l - chunk.DroppedFrames, n = Math.Min(fresh, plan.OutputFrames - written);
            generated += fresh;
            if (n > 0) onFrames(frames.narrow(1, chunk.DroppedFrames, n).permute(1, 0, 2, 3));   // [n, 3, H, W]
            written += Math.Max(0, n);
        }
        if (generated != plan.GeneratedFrames || written != plan.OutputFrames)
            throw new InvalidOperationException($"generated {generated} frames and wrote {written}, the plan says {plan.GeneratedFrames} and {plan.OutputFrames}");
        return new AvatarRun(plan, calls, skipped);
    }
}
