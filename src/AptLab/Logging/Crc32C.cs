using System.Buffers.Binary;
using System.Numerics;

namespace AptLab.Logging;

/// <summary>
/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) as TFRecord uses it, plus TFRecord's mask.
/// <see cref="BitOperations.Crc32C(uint, ulong)"/> only accumulates (hardware CRC instructions when present);
/// the initial and final inversion are done here. Check values: crc32c("123456789") = 0xE3069283,
/// Mask(0) = 0xA282EAD8.
/// </summary>
public static class Crc32C
{
    private const uint MaskDelta = 0xA282EAD8;

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8) c = BitOperations.Crc32C(c, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++) c = BitOperations.Crc32C(c, data[i]);
        return ~c;
    }

    /// <summary>TFRecord's masked CRC: rotate right by 15 bits, then add 0xA282EAD8 (mod 2^32).</summary>
    public static uint Mask(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + MaskDelta);

    public static uint Unmask(uint masked)
    {
        uint rot = unchecked(masked - MaskDelta);
        return (rot << 15) | (rot >> 17);
    }

    public static uint MaskedCompute(ReadOnlySpan<byte> data) => Mask(Compute(data));
}
