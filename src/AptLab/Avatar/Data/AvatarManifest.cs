using AptLab.Data;

namespace AptLab.Avatar.Data;

/// <summary>One training clip of an <see cref="AvatarManifest"/>, paths absolute.</summary>
/// <param name="Line">1-based line of the manifest (for messages)</param>
/// <param name="Id">stable key of the clip: its manifest-relative paths (video|audio|image)</param>
/// <param name="Image">reference image, or null: the clip's first video frame is the reference</param>
public sealed record AvatarClip(int Line, string Id, string Video, string Audio, string Caption, string? Image);

/// <summary>
/// The list of OmniAvatar training clips (<see cref="ManifestTable"/>: CSV with a header or JSON Lines): columns
/// <c>video</c>, <c>audio</c>, <c>caption</c> and optionally <c>image</c>. Paths are relative to the manifest's folder
/// (or absolute). A bad row raises one <see cref="InvalidDataException"/> naming the file, the line and the column/key:
/// a missing or empty field, a missing file, malformed CSV or JSON, an unknown column, a repeated clip.
/// </summary>
public sealed class AvatarManifest
{
    public static readonly string[] Required = ["video", "audio", "caption"];
    public static readonly string[] Optional = ["image"];

    public string Path { get; }
    public IReadOnlyList<AvatarClip> Clips { get; }
    public string Directory => System.IO.Path.GetDirectoryName(Path)!;

    private AvatarManifest(string path, IReadOnlyList<AvatarClip> clips) => (Path, Clips) = (path, clips);

    public static AvatarManifest Load(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"manifest not found: {full}");
        var clips = new List<AvatarClip>();
        var seen = new Dictionary<string, int>();
        foreach (var (line, fields) in ManifestTable.Read(full, Required, Optional))
        {
            var video = ManifestTable.FileField(full, line, fields, "video");
            var audio = ManifestTable.FileField(full, line, fields, "audio");
            var caption = ManifestTable.Field(full, line, fields, "caption");
            string? image = fields.TryGetValue("image", out var im) && im.Length > 0 ? ManifestTable.FileField(full, line, fields, "image") : null;
            var id = $"{fields["video"]}|{fields["audio"]}|{(image is null ? "" : fields["image"])}";
            if (seen.TryGetValue(id, out int first)) throw ManifestTable.Error(full, line, "video", $"the same clip as line {first}");
            seen[id] = line;
            clips.Add(new AvatarClip(line, id, video, audio, caption, image));
        }
        if (clips.Count == 0) throw new InvalidDataException($"{full}: the manifest lists no clips");
        return new AvatarManifest(full, clips);
    }
}
