using AptLab.Data;

namespace AptLab.Human.Data;

/// <summary>One training clip of a <see cref="HumanManifest"/>, paths absolute.</summary>
/// <param name="Id">stable key: the manifest-relative paths (video|audio|image|pose)</param>
/// <param name="Image">reference image, or null: frames of the clip are the reference candidates</param>
/// <param name="Pose">COCO-WholeBody keypoints JSON of the clip's frames (<see cref="Pose.WholeBodyKeypoints"/>), or null</param>
/// <param name="AudioQualified">the clip passes the audio (lip-sync) filter: it may train audio-conditioned tasks</param>
public sealed record HumanClip(int Line, string Id, string Video, string Audio, string Caption, string? Image, string? Pose, bool AudioQualified)
{
    /// <summary>Pose-conditioned tasks need the clip's audio too (pose is the stronger condition): audio-qualified with keypoints.</summary>
    public bool PoseQualified => AudioQualified && Pose is not null;
}

/// <summary>
/// The OmniHuman training clips (docs/omnihuman.md#data; CSV with a header or JSON Lines, <see cref="ManifestTable"/>):
/// columns <c>video</c>, <c>audio</c>, <c>caption</c>, optionally <c>image</c> (a reference image), <c>pose</c> (keypoints
/// JSON) and <c>audio_qualified</c> (true/false, default true: whether the clip passed the lip-sync filter). Clips without
/// pose or not audio-qualified still train the weaker-condition tasks. Paths are relative to the manifest's folder.
/// </summary>
public sealed class HumanManifest
{
    public static readonly string[] Required = ["video", "audio", "caption"];
    public static readonly string[] Optional = ["image", "pose", "audio_qualified"];

    public string Path { get; }
    public IReadOnlyList<HumanClip> Clips { get; }
    public string Directory => System.IO.Path.GetDirectoryName(Path)!;

    private HumanManifest(string path, IReadOnlyList<HumanClip> clips) => (Path, Clips) = (path, clips);

    public static HumanManifest Load(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"manifest not found: {full}", full);
        var clips = new List<HumanClip>();
        var seen = new Dictionary<string, int>();
        foreach (var (line, fields) in ManifestTable.Read(full, Required, Optional))
        {
            string? Opt(string key) => fields.TryGetValue(key, out var v) && v.Length > 0 ? ManifestTable.FileField(full, line, fields, key) : null;
            var video = ManifestTable.FileField(full, line, fields, "video");
            var audio = ManifestTable.FileField(full, line, fields, "audio");
            var caption = ManifestTable.Field(full, line, fields, "caption");
            var image = Opt("image");
            var pose = Opt("pose");
            bool qualified = !fields.TryGetValue("audio_qualified", out var q) || q.Length == 0 || q.ToLowerInvariant() switch
            {
                "true" or "1" or "yes" => true,
                "false" or "0" or "no" => false,
                _ => throw ManifestTable.Error(full, line, "audio_qualified", $"must be true or false, got '{q}'"),
            };
            var id = string.Join("|", new[] { "video", "audio", "image", "pose" }.Select(k => fields.GetValueOrDefault(k, "")));
            if (seen.TryGetValue(id, out int first)) throw ManifestTable.Error(full, line, "video", $"the same clip as line {first}");
            seen[id] = line;
            clips.Add(new HumanClip(line, id, video, audio, caption, image, pose, qualified));
        }
        if (clips.Count == 0) throw new InvalidDataException($"{full}: the manifest lists no clips");
        return new HumanManifest(full, clips);
    }
}
