using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AptLab.Human.Pose;

/// <summary>
/// A sequence of COCO-WholeBody keypoints (the 133-point layout DWPose predicts; docs/omnihuman.md#pose), one set per
/// video frame, as normalised image coordinates: x in [0, 1] from the left, y in [0, 1] from the top, and a confidence.
/// Layout: 0-16 body (COCO), 17-22 feet, 23-90 face (68), 91-111 left hand (21), 112-132 right hand (21).
/// <para>File format (JSON): <c>{"width": 832, "height": 480, "frames": [[[x, y, score] x 133], ...]}</c> with pixel
/// coordinates of a width x height frame, or without width/height with coordinates already normalised. A point whose
/// score is below the rasteriser's threshold (or whose coordinates are null) is treated as not detected.</para>
/// </summary>
public sealed class WholeBodyKeypoints
{
    public const int Count = 133;
    public const int BodyCount = 17, FeetStart = 17, FaceStart = 23, LeftHandStart = 91, RightHandStart = 112;
    /// <summary>COCO body indices used by the synthetic data and the pose error: nose, eyes.</summary>
    public const int Nose = 0, LeftEye = 1, RightEye = 2;

    /// <summary>[frames, 133, 3] rows (x, y, score), x and y normalised to [0, 1].</summary>
    public float[,,] Points { get; }
    public int Frames => Points.GetLength(0);
    /// <summary>The frame size the file's pixel coordinates referred to (its width and height), or null when it gave
    /// normalised coordinates: what <see cref="CoverCrop"/> starts from.</summary>
    public (int Width, int Height)? SourceSize { get; init; }

    public WholeBodyKeypoints(float[,,] points)
    {
        if (points.GetLength(1) != Count || points.GetLength(2) != 3)
            throw new ArgumentException($"whole-body keypoints must be [frames, {Count}, 3], got [{points.GetLength(0)}, {points.GetLength(1)}, {points.GetLength(2)}]");
        Points = points;
    }

    public (float X, float Y, float Score) this[int frame, int point] => (Points[frame, point, 0], Points[frame, point, 1], Points[frame, point, 2]);

    /// <summary>Frames [start, start + count) as a new sequence; frames past the end repeat the last one.</summary>
    public WholeBodyKeypoints Slice(int start, int count)
    {
        if (start < 0 || count < 1) throw new ArgumentException($"keypoint slice [{start}, +{count}) is invalid");
        var p = new float[count, Count, 3];
        for (int f = 0; f < count; f++)
        {
            int src = Math.Min(start + f, Frames - 1);
            for (int k = 0; k < Count; k++)
                for (int c = 0; c < 3; c++) p[f, k, c] = Points[src, k, c];
        }
        return new WholeBodyKeypoints(p) { SourceSize = SourceSize };
    }

    /// <summary>The coordinates after the cover-resize and centre crop that turns a w0 x h0 frame into a w x h one
    /// (scale r = max(h/h0, w/w0), then the excess cut evenly; <see cref="AptLab.Avatar.Inference.ReferenceImage"/>).
    /// Points cut away get score 0.</summary>
    public WholeBodyKeypoints CoverCrop(int w0, int h0, int w, int h)
    {
        double r = Math.Max((double)h / h0, (double)w / w0);
        double rw = (int)(w0 * r), rh = (int)(h0 * r);
        double offX = Math.Floor((rw - w) / 2.0), offY = Math.Floor((rh - h) / 2.0);
        var p = (float[,,])Points.Clone();
        for (int f = 0; f < Frames; f++)
            for (int k = 0; k < Count; k++)
            {
                double x = (p[f, k, 0] * rw - offX) / w, y = (p[f, k, 1] * rh - offY) / h;
                p[f, k, 0] = (float)x; p[f, k, 1] = (float)y;
                if (x < 0 || x > 1 || y < 0 || y > 1) p[f, k, 2] = 0;
            }
        return new WholeBodyKeypoints(p);
    }

    /// <summary>As a tensor [frames, 133, 3] (float32).</summary>
    public Tensor ToTensor()
    {
        var flat = new float[Frames * Count * 3];
        Buffer.BlockCopy(Points, 0, flat, 0, flat.Length * sizeof(float));
        return torch.tensor(flat, Frames, Count, 3);
    }

    /// <summary>From a tensor [frames, 133, 3].</summary>
    public static WholeBodyKeypoints FromTensor(Tensor t)
    {
        if (t.dim() != 3 || t.size(1) != Count || t.size(2) != 3)
            throw new ArgumentException($"whole-body keypoints must be [frames, {Count}, 3], got [{string.Join(", ", t.shape)}]");
        var data = t.to(Device.CPU, ScalarType.Float32).contiguous().data<float>();
        var p = new float[t.size(0), Count, 3];
        Buffer.BlockCopy(data.ToArray(), 0, p, 0, data.Length * sizeof(float));
        return new WholeBodyKeypoints(p);
    }

    /// <summary>Reads a keypoints JSON file; every problem is one <see cref="InvalidDataException"/> naming the file
    /// (and the frame / point).</summary>
    public static WholeBodyKeypoints Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"keypoints file not found: {full}", full);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(full)); }
        catch (JsonException e) { throw new InvalidDataException($"{full}: not valid JSON ({e.Message.Split('.')[0]})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("frames", out var frames) || frames.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{full}: expected an object with a \"frames\" array of [[x, y, score] x {Count}] per frame");
            double width = 1, height = 1;
            bool hasW = root.TryGetProperty("width", out var we), hasH = root.TryGetProperty("height", out var he);
            if (hasW != hasH) throw new InvalidDataException($"{full}: give both \"width\" and \"height\" (pixel coordinates) or neither (normalised)");
            if (hasW)
            {
                if (!we.TryGetDouble(out width) || !he.TryGetDouble(out height) || width <= 0 || height <= 0)
                    throw new InvalidDataException($"{full}: \"width\" and \"height\" must be positive numbers");
            }
            int n = frames.GetArrayLength();
            if (n == 0) throw new InvalidDataException($"{full}: \"frames\" is empty");
            var p = new float[n, Count, 3];
            int f = 0;
            foreach (var frame in frames.EnumerateArray())
            {
                if (frame.ValueKind != JsonValueKind.Array || frame.GetArrayLength() != Count)
                    throw new InvalidDataException($"{full}: frame {f} must list {Count} keypoints (COCO-WholeBody), got {(frame.ValueKind == JsonValueKind.Array ? frame.GetArrayLength() : 0)}");
                int k = 0;
                foreach (var point in frame.EnumerateArray())
                {
                    if (point.ValueKind != JsonValueKind.Array || point.GetArrayLength() is < 2 or > 3)
                        throw new InvalidDataException($"{full}: frame {f}, keypoint {k} must be [x, y] or [x, y, score]");
                    var v = point.EnumerateArray().ToArray();
                    if (v[0].ValueKind == JsonValueKind.Null || v[1].ValueKind == JsonValueKind.Null) { k++; continue; }   // not detected
                    if (!v[0].TryGetDouble(out var x) || !v[1].TryGetDouble(out var y))
                        throw new InvalidDataException($"{full}: frame {f}, keypoint {k}: coordinates must be numbers");
                    double s = 1;
                    if (v.Length == 3 && !v[2].TryGetDouble(out s)) throw new InvalidDataException($"{full}: frame {f}, keypoint {k}: score must be a number");
                    p[f, k, 0] = (float)(x / width); p[f, k, 1] = (float)(y / height); p[f, k, 2] = (float)s;
                    k++;
                }
                f++;
            }
            return new WholeBodyKeypoints(p) { SourceSize = hasW ? ((int)Math.Round(width), (int)Math.Round(height)) : null };
        }
    }

    /// <summary>Writes the normalised form (no width/height) atomically.</summary>
    public void Save(string path)
    {
        var sb = new StringBuilder("{\"frames\": [");
        for (int f = 0; f < Frames; f++)
        {
            sb.Append(f == 0 ? "\n[" : ",\n[");
            for (int k = 0; k < Count; k++)
            {
                if (k > 0) sb.Append(',');
                sb.Append('[').Append(Num(Points[f, k, 0])).Append(',').Append(Num(Points[f, k, 1])).Append(',').Append(Num(Points[f, k, 2])).Append(']');
            }
            sb.Append(']');
        }
        sb.Append("\n]}\n");
        AptLab.Training.RunDirectory.WriteAtomic(path, sb.ToString());
    }

    private static string Num(float v) => v.ToString("R", CultureInfo.InvariantCulture);
}
