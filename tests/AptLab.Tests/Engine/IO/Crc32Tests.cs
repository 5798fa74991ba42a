using System.Text;
using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>The one CRC-32/IEEE (zip entries, PNG chunks).</summary>
public class Crc32Tests
{
    [Fact]
    public void Check_value_and_chunked_appends_match()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute(Encoding.ASCII.GetBytes("123456789")));   // the catalogue's check value
        Assert.Equal(0u, Crc32.Compute([]));
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 37 + 11)).ToArray();
        uint whole = Crc32.Compute(data);
        foreach (int cut in new[] { 1, 7, 8, 9, 500, 999 })                          // the slicing-by-8 path and its tail
            Assert.Equal(whole, Crc32.Append(Crc32.Compute(data.AsSpan(0, cut)), data.AsSpan(cut)));
        // bitwise reference (one bit at a time) on an odd length
        uint c = 0xFFFFFFFFu;
        foreach (var b in data.AsSpan(0, 13)) { c ^= b; for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1; }
        Assert.Equal(~c, Crc32.Compute(data.AsSpan(0, 13)));
    }
}
