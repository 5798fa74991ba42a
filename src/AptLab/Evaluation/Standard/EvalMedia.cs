using AptLab.Data.Media;

namespace AptLab.Evaluation.Standard;

/// <summary>One image or video of an evaluation set.</summary>
public sealed record MediaFile(string Path, bool IsVideo)
{
    public string Name => System.IO.Path.GetFileName(Path);
}

/// <summary>
/// The media of an evaluation set: every image and video under a folder (recursively, sorted by path; a run folder's
/// samples count), decoded through ffmpeg (docs/evaluation.md, "aptlab eval").
/// </summary>
public static class EvalMedia
{
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp"];
    public static readonly string[] VideoExtensions = [".mp4", ".webm", ".avi", ".mov", ".mkv", ".gif"];
    public static readonly string[] AudioExtensions = [".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg"];

    public static List<MediaFile> List(string folder, string what)
    {
        var full = Path.GetFullPath(folder);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"{what}: folder not found: {full}");
        var files = Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories)
            .Select(p => (p, ext: Path.GetExtension(p).ToLowerInvariant()))
            .Where(t => ImageExtensions.Contains(t.ext) || VideoExtensions.Contains(t.ext))
            .Select(t => new MediaFile(t.p, VideoExtensions.Contains(t.ext)))
            .OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            throw new InvalidDataException($"{what}: no images ({string.Join(" ", ImageExtensions)}) or videos ({string.Join(" ", VideoExtensions)}) under {full}");
        return files;
    }

    /// <summary>FID's inputs: each image, and every frame of each video, as [3, H, W] in [0, 1].</summary>
    public static IEnumerable<Tensor> FidImages(IEnumerable<MediaFile> files)
    {
        foreach (var f in files)
        {
            if (!f.IsVideo) { yield return TensorImages.ToTensor(Ffmpeg.ReadImage(f.Path)); continue; }
            foreach (var frame in Ffmpeg.ReadVideo(f.Path).Frames) yield return TensorImages.ToTensor(frame);
        }
    }

    /// <summary>FVD's inputs: the first <paramref name="frames"/> frames of each video as [3, T, H, W] in [0, 1].</summary>
    public static IEnumerable<(string name, Tensor video)> FvdVideos(IEnumerable<MediaFile> files, int frames)
    {
        foreach (var f in files)
        {
            if (!f.IsVideo) throw new InvalidDataException($"FVD: {f.Path} is an image; FVD needs videos of at least {frames} frames");
            var v = Ffmpeg.ReadVideo(f.Path, maxFrames: frames);
            if (v.Frames.Count < frames) throw new InvalidDataException($"FVD: {f.Path} has {v.Frames.Count} frames; a clip needs {frames} (--fvd-frames)");
            Tensor stacked;
            using (var scope = torch.NewScope())                             // never open across a yield
                stacked = scope.Keep(torch.stack(v.Frames.Select(fr => TensorImages.ToTensor(fr)).ToList(), 1));   // [3, T, H, W]
            yield return (f.Path, stacked);
        }
    }

    /// <summary>The audio of a video for Sync: <paramref name="audioDir"/>/&lt;stem&gt;.{wav,flac,...} when given, else the video's own track.</summary>
    public static string AudioFor(MediaFile video, string? audioDir)
    {
        if (audioDir is null) return video.Path;
        var stem = Path.GetFileNameWithoutExtension(video.Path);
        foreach (var ext in AudioExtensions)
        {
            var p = Path.Combine(audioDir, stem + ext);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"Sync: no audio for {video.Name} in {Path.GetFullPath(audioDir)} (expected {stem}.wav or {string.Join("/", AudioExtensions.Skip(1))})");
    }
}
