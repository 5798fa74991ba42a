using AptLab.Data.Media;
using AptLab.Avatar.Inference;

namespace AptLab.Avatar.Data;

/// <summary>How training clips are cut: pixel size, frames (1 + 4k), frame rate and audio rate.</summary>
public sealed record AvatarClipSpec(int Height, int Width, int Frames, int Fps = 25, int SampleRate = 16000)
{
    public AvatarClipSpec Validate()
    {
        if (Height < 16 || Width < 16 || Height % 16 != 0 || Width % 16 != 0)
            throw new ArgumentException($"clip size {Height}x{Width}: height and width must be multiples of 16 (VAE 8x, patch 2x)");
        if (Frames < 5 || (Frames - 1) % 4 != 0) throw new ArgumentException($"clip frames {Frames} must be 1 + 4k with k >= 1");
        if (Fps <= 0 || SampleRate <= 0 || SampleRate % Fps != 0) throw new ArgumentException($"fps {Fps} must divide the sample rate {SampleRate}");
        return this;
    }

    /// <summary>Audio samples per video frame (640 at 16 kHz, 25 fps).</summary>
    public int SamplesPerFrame => SampleRate / Fps;
    public int LatentFrames => (Frames - 1) / 4 + 1;
}

/// <summary>A decoded clip: video [1, 3, L, H, W] and reference [1, 3, 1, H, W] in [−1, 1], mono audio of exactly
/// L · samples_per_frame samples.</summary>
public sealed record DecodedClip(Tensor Video, Tensor Reference, float[] Audio) : IDisposable
{
    public void Dispose() { Video.Dispose(); Reference.Dispose(); }
}

/// <summary>
/// Decodes one manifest row with ffmpeg: the first L video frames, cover-resized and centre-cropped to the spec's size
/// (as OmniAvatar's reference image, <see cref="ReferenceImage.ResizeCrop"/>); the reference image likewise (or the
/// first frame); the audio as 16 kHz mono, cut (or zero-padded) to the L frames' duration. The video must have the
/// spec's frame rate and at least L frames; errors name the file.
/// </summary>
public static class AvatarClipReader
{
    public static DecodedClip Read(AvatarClip clip, AvatarClipSpec spec)
    {
        spec.Validate();
        var v = Ffmpeg.ReadVideo(clip.Video, maxFrames: spec.Frames);
        if (v.Frames.Count < spec.Frames)
            throw new InvalidDataException($"{clip.Video} (manifest line {clip.Line}): {v.Frames.Count} frames, the config needs {spec.Frames}");
        if (Math.Abs(v.Fps - spec.Fps) > 0.01)
            throw new InvalidDataException($"{clip.Video} (manifest line {clip.Line}): {v.Fps:G4} fps, the config's fps is {spec.Fps} (re-encode the clip)");
        using var scope = torch.NewScope();
        var frames = torch.stack(v.Frames.Select(f => TensorImages.ToTensor(f.ToRgb())).ToList());   // [L, 3, H0, W0] in [0, 1]
        var video = ReferenceImage.ResizeCrop(frames, spec.Height, spec.Width) * 2.0 - 1.0;          // [L, 3, H, W]
        video = video.permute(1, 0, 2, 3).unsqueeze(0).contiguous();                                  // [1, 3, L, H, W]
        Tensor reference;
        if (clip.Image is null) reference = video.narrow(2, 0, 1).contiguous();
        else
        {
            var img = TensorImages.ToTensor(Ffmpeg.ReadImage(clip.Image).ToRgb()).unsqueeze(0);      // [1, 3, h0, w0]
            reference = (ReferenceImage.ResizeCrop(img, spec.Height, spec.Width) * 2.0 - 1.0).unsqueeze(2);   // [1, 3, 1, H, W]
        }
        var samples = Ffmpeg.ReadAudio(clip.Audio, spec.SampleRate);
        var audio = new float[spec.Frames * spec.SamplesPerFrame];
        Array.Copy(samples, audio, Math.Min(samples.Length, audio.Length));                          // zero-padded if short
        return new DecodedClip(scope.Keep(video), scope.Keep(reference), audio);
    }
}
