using System.Text;
using AptLab.Data.Media;
using AptLab.Torch.IO;
using AptLab.Logging;
using AptLab.Torch.IO;

namespace AptLab.Tests.Logging;

public class Crc32CTests
{
    // Bit-at-a-time CRC32C straight from the definition (reflected polynomial 0x82F63B78), for cross-checking.
    private static uint Reference(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78 : c >> 1;
        }
        return ~c;
    }

    [Fact]
    public void CheckValueOf123456789()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
    }

    [Fact]
    public void MaskOfZeroIsTheDelta()
    {
        Assert.Equal(0xA282EAD8u, Crc32C.Mask(0));
    }

    [Fact]
    public void MatchesBitwiseDefinitionOnAllLengths()
    {
        var rng = new Random(7);
        for (int len = 0; len < 40; len++)
        {
            var data = new byte[len];
            rng.NextBytes(data);
            Assert.Equal(Reference(data), Crc32C.Compute(data));
            uint c = Crc32C.Compute(data);
            Assert.Equal(c, Crc32C.Unmask(Crc32C.Mask(c)));
        }
    }

    [Fact]
    public void Crc32IeeeCheckValue()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, Crc32.Compute([]));
        // Appending in two parts equals one pass.
        var all = Encoding.ASCII.GetBytes("The quick brown fox jumps over the lazy dog");
        Assert.Equal(0x414FA339u, Crc32.Compute(all));
        Assert.Equal(Crc32.Compute(all), Crc32.Append(Crc32.Compute(all.AsSpan(0, 10)), all.AsSpan(10)));
    }
}
