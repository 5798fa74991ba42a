using AptLab.Avatar.Inference;
using AptLab.Data.Media;
using AptLab.Human.Pose;

namespace AptLab.Human.Data;

/// <summary>How OmniHuman training clips are cut (docs/omnihuman.md#data): the motion frames (the previous segment's
/// tail, 1 + 4k) then the generated frames (1 + 4k) of one segment, pixel size, frame and audio rates, and how many
/// frames of the segment serve as reference candidates (when the manifest names no image).</summary>
public sealed record HumanClipSpec(int Height, int Width, int Frames, int MotionFrames = 5, int Fps = 25, int SampleRate = 16000,
    int ReferenceCandidates = 3)
{
    public HumanClipSpec Validate()
    {
        if (Height < 16 || Width < 16 || Height % 16 != 0 || Width % 16 != 0)
            throw new ArgumentException($"clip size {Height}x{Width}: height and width must be multiples of 16 (VAE 8x, patch 2x)");
        if (Frames < 1 || (Frames - 1) % 4 != 0) throw new ArgumentException($"frames {Frames} must be 1 + 4k (the segment's latent frames)");
        if (MotionFrames < 1 || (MotionFrames - 1) % 4 != 0) throw new ArgumentException($"motion_frames {MotionFrames} must be 1 + 4k");
        if (Fps <= 0 || SampleRate <= 0 || SampleRate % Fps != 0) throw new ArgumentException($"fps {Fps} must divide the sample rate {SampleRate}");
        if (ReferenceCandidates < 1 || ReferenceCandidates > Frames) throw new ArgumentException($"reference_candidates {ReferenceCandidates} must lie in [1, frames {Frames}]");
        return this;
    }

    /// <summary>Frames read per clip: motion + generated.</summary>
    public int TotalFrames => MotionFrames + Frames;
    public int SamplesPerFrame => SampleRate / Fps;
    public int LatentFrames => (Frames - 1) / 4 + 1;

    /// <summary>The frames (of the whole clip) that are reference candidates: evenly spread over the generated part.</summary>
    public int[] ReferenceFrames => Enumerable.Range(0, ReferenceCandidates)
        .Select(j => MotionFrames + (ReferenceCandidates == 1 ? 0 : (int)Math.Round(j * (Frames - 1.0) / (ReferenceCandidates - 1)))).ToArray();
}

/// <summary>One row's media before any tensor: the video's frames, the reference image (null: candidate frames), the
/// audio of the clip's M + L frames and the keypoints in the crop's coordinates.</summary>
public sealed record HumanClipMedia(VideoFrames Video, RgbImage? Image, float[] Audio, WholeBodyKeypoints? Keypoints);

/// <summary>A decoded clip: video [1, 3, M + L, H, W] and references [R, 3, 1, H, W] in [-1, 1], mono audio of exactly
/// (M + L) frames, and the keypoints of those frames (cropped like the video) or null.</summary>
public sealed record DecodedHumanClip(Tensor Video, Tensor References, float[] Audio, WholeBodyKeypoints? Keypoints) : IDisposable
{
    public void Dispose() { Video.Dispose(); References.Dispose(); }
}

/// <summary>
/// Decodes one manifest row with ffmpeg: the first M + L frames cover-resized and centre-cropped to the spec's size
/// (<see cref="ReferenceImage.ResizeCrop"/>), the reference image likewise (or the candidate frames), the 16 kHz mono
/// audio cut or zero-padded to the frames' duration, and the keypoints transformed by the same resize and crop.
/// Errors name the file and the manifest line.
/// </summary>
public static class HumanClipReader
{
    public static DecodedHumanClip Read(HumanClip clip, HumanClipSpec spec) => ToTensors(Decode(clip, spec), spec);

    /// <summary>The media of one row as ffmpeg gives it, checked against the spec (no tensors: safe on any thread, so
    /// an encoder can decode the next clips while it encodes this one).</summary>
    public static HumanClipMedia Decode(HumanClip clip, HumanClipSpec spec)
    {
        spec.Validate();
        int total = spec.TotalFrames;
        var v = Ffmpeg.ReadVideo(clip.Video, maxFrames: total);
        if (v.Frames.Count < total)
            throw new InvalidDataException($"{clip.Video} (manifest line {clip.Line}): {v.Frames.Count} frames, the config needs {total} ({spec.MotionFrames} motion + {spec.Frames})");
        if (Math.Abs(v.Fps - spec.Fps) > 0.01)
            throw new InvalidDataException($"{clip.Video} (manifest line {clip.Line}): {v.Fps:G4} fps, the config's fps is {spec.Fps} (re-encode the clip)");
        var image = clip.Image is null ? null : Ffmpeg.ReadImage(clip.Image);
        var samples = Ffmpeg.ReadAudio(clip.Audio, spec.SampleRate);
        var audio = new float[total * spec.SamplesPerFrame];
        Array.Copy(samples, audio, Math.Min(samples.Length, audio.Length));
        WholeBodyKeypoints? kp = null;
        if (clip.Pose is not null)
        {
            var all = WholeBodyKeypoints.Load(clip.Pose);
            if (all.Frames < total)
                throw new InvalidDataException($"{clip.Pose} (manifest line {clip.Line}): {all.Frames} keypoint frames, the clip needs {total}");
            kp = all.Slice(0, total).CoverCrop(v.Width, v.Height, spec.Width, spec.Height);
        }
        return new HumanClipMedia(v, image, audio, kp);
    }

    /// <summary>The decoded media as the clip's tensors (video [1, 3, M + L, H, W] and references in [-1, 1]).</summary>
    public static DecodedHumanClip ToTensors(HumanClipMedia media, HumanClipSpec spec)
    {
        int total = spec.TotalFrames;
        using var scope = torch.NewScope();
        var frames = torch.stack(media.Video.Frames.Take(total).Select(f => TensorImages.ToTensor(f.ToRgb())).ToList());  // [T, 3, H0, W0] in [0, 1]
        var video = ReferenceImage.ResizeCrop(frames, spec.Height, spec.Width) * 2.0 - 1.0;                      // [T, 3, H, W]
        Tensor refs;
        if (media.Image is null)
            refs = video.index_select(0, torch.tensor(spec.ReferenceFrames.Select(i => (long)i).ToArray(), spec.ReferenceCandidates)).unsqueeze(2);   // [R, 3, 1, H, W]
        else
        {
            var img = TensorImages.ToTensor(media.Image.ToRgb()).unsqueeze(0);
            refs = (ReferenceImage.ResizeCrop(img, spec.Height, spec.Width) * 2.0 - 1.0).unsqueeze(2);         // [1, 3, 1, H, W]
        }
        var clipVideo = video.permute(1, 0, 2, 3).unsqueeze(0).contiguous();                                     // [1, 3, T, H, W]
        return new DecodedHumanClip(scope.Keep(clipVideo), scope.Keep(refs.contiguous()), media.Audio, media.Keypoints);
    }
}
