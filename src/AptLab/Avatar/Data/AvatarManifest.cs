using System.Text.Json;
using AptLab.Data;

namespace AptLab.Avatar.Data;

/// <summary>One training clip of an <see cref="AvatarManifest"/>, paths absolute.</summary>
/// <param name="Line">1-based line of the manifest (for messages)</param>
/// <param name="Id">stable key of the clip: its manifest-relative paths (video|audio|image)</param>
/// <param name="Image">reference image, or null: the clip's first video frame is the reference</param>
public sealed record AvatarClip(int Line, string Id, string Video, string Audio, string Caption, string? Image);

/// <summary>
/// The list of OmniAvatar training clips: a CSV file with a header (columns <c>video</c>, <c>audio</c>, <c>caption</c>
/// and optionally <c>image</c>, in any order) or JSON Lines (<c>.jsonl</c>: one object per line with the same keys).
/// Paths are relative to the manifest's folder (or absolute). Blank lines and lines starting with # are skipped.
/// A bad row raises one <see cref="InvalidDataException"/> naming the file, the line and the column/key: a missing or
/// empty field, a missing file, malformed CSV or JSON, an unknown column.
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
        var lines = File.ReadAllLines(full);
        var rows = full.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) ? ParseJsonl(full, lines) : ParseCsv(full, lines);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        var clips = new List<AvatarClip>();
        var seen = new Dictionary<string, int>();
        foreach (var (line, fields) in rows)
        {
            string Field(string key) => fields.TryGetValue(key, out var v) && v.Length > 0 ? v
                : throw Error(full, line, key, "is empty");
            string FileField(string key)
            {
                var rel = Field(key);
                var abs = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, rel));
                if (!File.Exists(abs)) throw Error(full, line, key, $"file not found: {abs}");
                return abs;
            }
            var video = FileField("video");
            var audio = FileField("audio");
            var caption = Field("caption");
            string? image = fields.TryGetValue("image", out var im) && im.Length > 0 ? FileField("image") : null;
            var id = $"{fields["video"]}|{fields["audio"]}|{(image is null ? "" : fields["image"])}";
            if (seen.TryGetValue(id, out int first)) throw Error(full, line, "video", $"the same clip as line {first}");
            seen[id] = line;
            clips.Add(new AvatarClip(line, id, video, audio, caption, image));
        }
        if (clips.Count == 0) throw new InvalidDataException($"{full}: the manifest lists no clips");
        return new AvatarManifest(full, clips);
    }

    private static InvalidDataException Error(string file, int line, string column, string problem) =>
        new($"{file}:{line}: column '{column}': {problem}");

    private static bool Skip(string line) => string.IsNullOrWhiteSpace(line) || line.TrimStart().StartsWith('#');

    private static List<(int line, Dictionary<string, string> fields)> ParseCsv(string file, string[] lines)
    {
        int h = Array.FindIndex(lines, l => !Skip(l));
        if (h < 0) throw new InvalidDataException($"{file}: empty manifest (a CSV needs a header: video,audio,caption[,image])");
        var header = CsvLine.Split(lines[h], out var err);
        if (err is not null) throw new InvalidDataException($"{file}:{h + 1}: header: {err}");
        for (int c = 0; c < header.Count; c++)
        {
            var name = header[c].ToLowerInvariant();
            if (!Required.Contains(name) && !Optional.Contains(name))
                throw new InvalidDataException($"{file}:{h + 1}: column {c + 1} '{header[c]}' is not one of {string.Join(", ", Required.Concat(Optional))}");
            header[c] = name;
        }
        foreach (var r in Required)
            if (!header.Contains(r)) throw new InvalidDataException($"{file}:{h + 1}: the header has no '{r}' column (needs video, audio, caption; image optional)");
        var rows = new List<(int, Dictionary<string, string>)>();
        for (int i = h + 1; i < lines.Length; i++)
        {
            if (Skip(lines[i])) continue;
            var f = CsvLine.Split(lines[i], out err);
            if (err is not null) throw new InvalidDataException($"{file}:{i + 1}: {err}");
            if (f.Count != header.Count)
                throw new InvalidDataException($"{file}:{i + 1}: {f.Count} fields, the header has {header.Count} ({string.Join(",", header)})" +
                    (f.Count > header.Count ? "; quote fields that contain commas" : $"; column '{header[f.Count]}' is missing"));
            rows.Add((i + 1, header.Zip(f).ToDictionary(z => z.First, z => z.Second)));
        }
        return rows;
    }

    private static List<(int line, Dictionary<string, string> fields)> ParseJsonl(string file, string[] lines)
    {
        var rows = new List<(int, Dictionary<string, string>)>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (Skip(lines[i])) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(lines[i]); }
            catch (JsonException e) { throw new InvalidDataException($"{file}:{i + 1}: column {e.BytePositionInLine + 1}: not valid JSON ({e.Message.Split('.')[0]})"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{file}:{i + 1}: a line must be a JSON object");
                var fields = new Dictionary<string, string>();
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (!Required.Contains(p.Name) && !Optional.Contains(p.Name))
                        throw Error(file, i + 1, p.Name, $"unknown key (expected {string.Join(", ", Required.Concat(Optional))})");
                    if (p.Value.ValueKind == JsonValueKind.Null && Optional.Contains(p.Name)) continue;
                    if (p.Value.ValueKind != JsonValueKind.String) throw Error(file, i + 1, p.Name, $"must be a string, got {p.Value.ValueKind}");
                    fields[p.Name] = p.Value.GetString()!.Trim();
                }
                foreach (var r in Required)
                    if (!fields.ContainsKey(r)) throw Error(file, i + 1, r, "is missing");
                rows.Add((i + 1, fields));
            }
        }
        return rows;
    }
}
