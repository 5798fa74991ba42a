using AptLab.Avatar.Inference;
using AptLab.Data.Media;
using AptLab.Human.Audio;
using AptLab.Human.Pose;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;

namespace AptLab.Human.Inference;

/// <summary>What drives the motion (docs/omnihuman.md#inference): audio (text, reference, audio; no pose), pose (text,
/// reference, pose; the audio is only the soundtrack) or both (every condition).</summary>
public enum HumanDrive { Audio, Pose, Both }

/// <summary>Settings of a long-video run.</summary>
public sealed record HumanVideoOptions
{
    public int Height { get; init; } = 480;
    public int Width { get; init; } = 832;
    /// <summary>L: frames per segment (1 + 4k).</summary>
    public int SegmentFrames { get; init; } = 81;
    public int Steps { get; init; } = 50;
    public double Shift { get; init; } = 5.0;
    public HumanGuidance Guidance { get; init; } = new();
    public HumanDrive Drive { get; init; } = HumanDrive.Audio;
    public int Fps { get; init; } = 25;
    public int SampleRate { get; init; } = 16000;
    /// <summary>σ of the pose heatmaps in pixels of the output size.</summary>
    public double PoseSigma { get; init; } = 4.0;
    public ulong Seed { get; init; } = 42;
}

/// <summary>Where a run is: segment s of n, denoising step k of m (k = 0: the segment started).</summary>
public readonly record struct HumanProgress(int Segment, int Segments, int Step, int Steps);

/// <summary>The generated video: frames [N, 3, H, W] in [0, 1] and its plan.</summary>
public sealed record HumanVideo(Tensor Frames, SegmentPlan Plan) : IDisposable
{
    public void Dispose() => Frames.Dispose();
}

/// <summary>
/// OmniHuman inference (docs/omnihuman.md#inference), the models not owned: the reference image cover-resized and
/// centre-cropped to the output size and VAE-encoded; the audio's features (<see cref="HumanAudioEncoder"/>) over the
/// whole padded track; the pose keypoints cropped like the frames; then <see cref="SegmentPlan"/>'s segments in turn,
/// each denoised by <see cref="HumanSampler"/> with the conditions the drive activates and, after the first, the last
/// motion frames of the previous segment VAE-encoded as motion latents; the decoded segments concatenated and cut to
/// the audio's length.
/// </summary>
public sealed class OmniHumanPipeline(OmniHumanModel dit, WanVAE vae, UmT5TextEncoder text, HumanAudioEncoder audio)
{
    public OmniHumanModel Dit { get; } = dit;
    public WanVAE Vae { get; } = vae;
    public UmT5TextEncoder Text { get; } = text;
    public HumanAudioEncoder Audio { get; } = audio;

    public HumanVideo Generate(RgbImage image, float[] samples, WholeBodyKeypoints? pose, string prompt, HumanVideoOptions o,
        Action<HumanProgress>? progress = null)
    {
        var cfg = Dit.config;
        o.Guidance.Validate();
        bool useAudio = o.Drive != HumanDrive.Pose, usePose = o.Drive != HumanDrive.Audio;
        if (usePose && pose is null) throw new ArgumentException($"drive {o.Drive.ToString().ToLowerInvariant()} needs pose keypoints");
        if (o.Height % (cfg.VaeSpatial * 2) != 0 || o.Width % (cfg.VaeSpatial * 2) != 0)
            throw new ArgumentException($"size {o.Height}x{o.Width} must be multiples of {cfg.VaeSpatial * 2} (VAE {cfg.VaeSpatial}x, patch 2x)");
        int frames = SegmentPlan.FramesOfAudio(samples.Length, o.SampleRate, o.Fps);
        var plan = SegmentPlan.Create(frames, o.SegmentFrames, cfg.MotionFrames);
        if (usePose && pose!.Frames < frames)
            throw new ArgumentException($"the pose keypoints have {pose.Frames} frames, the audio needs {frames} ({samples.Length / (double)o.SampleRate:F2} s at {o.Fps} fps)");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var img = TensorImages.ToTensor(image.ToRgb()).unsqueeze(0);                               // [1, 3, h0, w0]
        var reference = Vae.encode((ReferenceImage.ResizeCrop(img, o.Height, o.Width) * 2.0 - 1.0).unsqueeze(2));   // [1, 16, 1, h, w]
        Tensor? track = null;                                                                       // [K·L, C]
        if (useAudio)
        {
            var padded = new float[plan.GeneratedFrames * (o.SampleRate / o.Fps)];
            Array.Copy(samples, padded, Math.Min(samples.Length, padded.Length));
            track = Audio.Encode(padded, plan.GeneratedFrames);
        }
        WholeBodyKeypoints? kp = null;
        if (usePose)
            kp = pose!.SourceSize is { } src ? pose.CoverCrop(src.Width, src.Height, o.Width, o.Height) : pose;
        var context = Text.EncodePadded([prompt]).to(Dit.Dtype);                                   // [1, text_len, dim]
        using var gen = new Generator(o.Seed);
        long h = reference.size(3), w = reference.size(4), latentFrames = (o.SegmentFrames - 1) / cfg.VaeTemporal + 1;
        var pieces = new List<Tensor>();
        Tensor? last = null;                                                                        // [1, 3, L, H, W] in [-1, 1]
        foreach (var seg in plan.Segments)
        {
            using var segScope = torch.NewScope();
            progress?.Invoke(new HumanProgress(seg.Index + 1, plan.Segments.Count, 0, o.Steps));
            var c = new HumanConditions
            {
                Reference = reference,
                Motion = last is null ? null : Vae.encode(last.narrow(2, o.SegmentFrames - cfg.MotionFrames, cfg.MotionFrames)),
                Audio = track is null ? null : AudioWindows.Gather(track, seg.Start, o.SegmentFrames, cfg.AudioWindow).to(Dit.Dtype),
                Pose = kp is null ? null : PoseHeatmaps.Render(kp.Slice(seg.Start, o.SegmentFrames), o.Height, o.Width, o.PoseSigma).unsqueeze(0),
            };
            var noise = torch.randn([1, cfg.LatentChannels, latentFrames, h, w], generator: gen);
            var latents = HumanSampler.Sample(Dit, noise, context, c, o.Guidance, o.Steps, o.Shift,
                (k, n) => progress?.Invoke(new HumanProgress(seg.Index + 1, plan.Segments.Count, k, n)));
            var video = Vae.decode(latents.to(reference.dtype));                                    // [1, 3, L, H, W] in [-1, 1]
            last?.Dispose();
            last = segScope.Keep(video).DetachFromScope();
            pieces.Add(segScope.Keep(video.squeeze(0).narrow(1, 0, seg.Kept)).DetachFromScope());
        }
        last?.Dispose();
        var all = torch.cat(pieces, 1);                                                             // [3, N, H, W]
        foreach (var p in pieces) p.Dispose();
        var output = ((all + 1.0) / 2.0).clamp(0, 1).permute(1, 0, 2, 3).contiguous();              // [N, 3, H, W]
        return new HumanVideo(scope.Keep(output), plan);
    }

    /// <summary>Writes the frames [N, 3, H, W] in [0, 1] as an H.264 mp4 at <paramref name="fps"/> with the audio of
    /// <paramref name="audioPath"/> muxed from frame 0 (no delay: the first frame is the first audio frame).</summary>
    public static void WriteVideo(string outputPath, Tensor frames, int fps, string audioPath)
    {
        var silent = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outputPath))!, $".{Path.GetFileNameWithoutExtension(outputPath)}.silent.mp4");
        try
        {
            Ffmpeg.WriteVideo(silent, AvatarVideoWriter.ToImages(frames), fps);
            Ffmpeg.MuxAudio(silent, audioPath, outputPath);
        }
        finally
        {
            if (File.Exists(silent)) File.Delete(silent);
        }
    }
}
