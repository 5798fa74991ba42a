using System.Text;

namespace AptLab.Tests.Engine.IO;

/// <summary>Builds raw safetensors files byte by byte, for corruption tests.</summary>
internal static class SafetensorsTestFiles
{
    /// <summary>8-byte length + <paramref name="header"/> (space-padded to 8) + <paramref name="data"/>.</summary>
    public static void Write(string path, string header, byte[] data, long? declaredLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        int pad = (8 - h.Length % 8) % 8;
        var hp = h.Concat(Enumerable.Repeat((byte)' ', pad)).ToArray();
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)(declaredLength ?? hp.Length)));
        f.Write(hp);
        f.Write(data);
    }

    /// <summary>Two F32 tensors "a" [2] and "b" [3] with the given offsets.</summary>
    public static string TwoTensors(long a0, long a1, long b0, long b1, string bShape = "[3]") =>
        $"{{\"a\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[{a0},{a1}]}}," +
        $"\"b\":{{\"dtype\":\"F32\",\"shape\":{bShape},\"data_offsets\":[{b0},{b1}]}}}}";
}
