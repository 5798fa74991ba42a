using System.Globalization;
using System.Text.Json;

namespace AptLab.Data.Media;

/// <summary>One stream as ffprobe reports it.</summary>
public sealed record MediaStream(string CodecType, string? CodecName, int Width, int Height, double Fps, long? FrameCount,
                                 int SampleRate, int Channels, double? DurationSeconds);

/// <summary>What ffprobe says about a file: its streams and duration.</summary>
public sealed record MediaInfo(string Path, IReadOnlyList<MediaStream> Streams, double? DurationSeconds)
{
    public MediaStream? Video => Streams.FirstOrDefault(s => s.CodecType == "video");
    public MediaStream? Audio => Streams.FirstOrDefault(s => s.CodecType == "audio");

    /// <summary>Parses <c>ffprobe -print_format json -show_streams -show_format</c> output.</summary>
    public static MediaInfo Parse(string path, string json)
    {
        using var doc = JsonDocument.Parse(json);
        var streams = new List<MediaStream>();
        if (doc.RootElement.TryGetProperty("streams", out var arr))
            foreach (var s in arr.EnumerateArray())
                streams.Add(new MediaStream(
                    Str(s, "codec_type") ?? "unknown", Str(s, "codec_name"),
                    (int)(Num(s, "width") ?? 0), (int)(Num(s, "height") ?? 0),
                    Rate(Str(s, "avg_frame_rate")) ?? Rate(Str(s, "r_frame_rate")) ?? 0,
                    (long?)Num(s, "nb_frames"), (int)(Num(s, "sample_rate") ?? 0), (int)(Num(s, "channels") ?? 0),
                    Num(s, "duration")));
        double? duration = doc.RootElement.TryGetProperty("format", out var f) ? Num(f, "duration") : null;
        return new MediaInfo(path, streams, duration);
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.ToString() : null;

    // ffprobe writes many numbers as strings ("25", "3.200000").
    private static double? Num(JsonElement e, string name) =>
        double.TryParse(Str(e, name), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;

    private static double? Rate(string? r)
    {
        if (r is null) return null;
        var parts = r.Split('/');
        if (parts.Length == 2 && double.TryParse(parts[0], CultureInfo.InvariantCulture, out var n)
            && double.TryParse(parts[1], CultureInfo.InvariantCulture, out var d) && d != 0 && n != 0) return n / d;
        return null;
    }
}
