using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace AptLab.Evaluation;

/// <summary>One array of a .npy/.npz file: float64 values in C order with their shape.</summary>
public sealed record NpyArray(long[] Shape, double[] Values)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// NumPy's .npz (a zip of .npy members, stored or deflated, as np.savez / np.savez_compressed write them) and .npy
/// format, for float64/float32/integer arrays: enough to exchange FID statistics (<c>mu</c>, <c>sigma</c>) with
/// pytorch-fid and clean-fid. Arrays are read as float64; Fortran-ordered arrays are reordered to C order.
/// </summary>
public static partial class Npz
{
    /// <summary>Every member of an .npz file by name (without ".npy").</summary>
    public static Dictionary<string, NpyArray> Read(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"statistics file not found: {full}", full);
        try
        {
            using var zip = ZipFile.OpenRead(full);
            var result = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
            foreach (var e in zip.Entries)
            {
                if (!e.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                using var s = e.Open();
                using var ms = new MemoryStream();
                s.CopyTo(ms);
                result[e.FullName[..^4]] = ReadNpy(ms.ToArray(), $"{full} ({e.FullName})");
            }
            return result;
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(full, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{full}: not a readable .npz file ({e.Message})", e);
        }
    }

    /// <summary>Writes arrays as an .npz (deflated, as np.savez_compressed), atomically.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, NpyArray> arrays)
    {
        AptLab.Torch.IO.AtomicFile.Write(path, fs =>
        {
            using var zip = new ZipArchive(fs, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (name, a) in arrays)
            {
                using var s = zip.CreateEntry(name + ".npy", CompressionLevel.Optimal).Open();
                s.Write(WriteNpy(a));
            }
        });
    }

    /// <summary>Parses one .npy image; <paramref name="source"/> names it in errors.</summary>
    public static NpyArray ReadNpy(byte[] d, string source)
    {
        if (d.Length < 10 || d[0] != 0x93 || Encoding.ASCII.GetString(d, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{source}: not a .npy array (bad magic)");
        int major = d[6];
        int headerLen, start;
        if (major == 1) { headerLen = BitConverter.ToUInt16(d, 8); start = 10; }
        else if (major is 2 or 3) { headerLen = (int)BitConverter.ToUInt32(d, 8); start = 12; }
        else throw new InvalidDataException($"{source}: .npy version {major} is not supported");
        if (start + headerLen > d.Length) throw new InvalidDataException($"{source}: truncated .npy header");
        var header = Encoding.Latin1.GetString(d, start, headerLen);
        var descr = DescrRx().Match(header);
        var fortran = FortranRx().Match(header);
        var shapeM = ShapeRx().Match(header);
        if (!descr.Success || !fortran.Success || !shapeM.Success) throw new InvalidDataException($"{source}: unreadable .npy header {header.Trim()}");
        var shape = shapeM.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        long n = shape.Aggregate(1L, (a, b) => a * b);
        string type = descr.Groups[1].Value;
        if (type.Length < 3 || type[0] == '>') throw new InvalidDataException($"{source}: dtype '{type}' is not supported (little-endian float/int only)");
        int size = int.Parse(type[2..]);
        char kind = type[1];
        int off = start + headerLen;
        if (off + n * size > d.Length) throw new InvalidDataException($"{source}: truncated data ({d.Length - off} bytes for {n} x {type})");
        var v = new double[n];
        for (long i = 0; i < n; i++)
        {
            int p = checked((int)(off + i * size));
            v[i] = (kind, size) switch
            {
                ('f', 8) => BitConverter.ToDouble(d, p),
                ('f', 4) => BitConverter.ToSingle(d, p),
                ('i', 8) => BitConverter.ToInt64(d, p),
                ('i', 4) => BitConverter.ToInt32(d, p),
                _ => throw new InvalidDataException($"{source}: dtype '{type}' is not supported (float64/32, int64/32)"),
            };
        }
        if (fortran.Groups[1].Value == "True" && shape.Length > 1) v = FromFortran(v, shape);
        return new NpyArray(shape, v);
    }

    /// <summary>The .npy (version 1.0, float64, C order) image of an array.</summary>
    public static byte[] WriteNpy(NpyArray a)
    {
        string shape = a.Shape.Length == 1 ? $"({a.Shape[0]},)" : "(" + string.Join(", ", a.Shape) + ")";
        var header = $"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        var bytes = new byte[10 + header.Length + a.Values.Length * 8];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        BitConverter.GetBytes((ushort)header.Length).CopyTo(bytes, 8);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 10);
        Buffer.BlockCopy(a.Values, 0, bytes, 10 + header.Length, a.Values.Length * 8);
        return bytes;
    }

    private static double[] FromFortran(double[] v, long[] shape)
    {
        // Fortran order: the first index varies fastest.
        var r = new double[v.Length];
        var idx = new long[shape.Length];
        for (long f = 0; f < v.Length; f++)
        {
            long c = 0;
            for (int k = 0; k < shape.Length; k++) c = c * shape[k] + idx[k];
            r[c] = v[f];
            for (int k = 0; k < shape.Length && ++idx[k] == shape[k]; k++) idx[k] = 0;
        }
        return r;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")] private static partial Regex DescrRx();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex FortranRx();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapeRx();
}
