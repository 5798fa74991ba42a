using System.IO.MemoryMappedFiles;

namespace AptLab.Torch.IO;

/// <summary>A read-only memory map of a whole file. Tensors are materialised by copying from the mapped view,
/// so only the pages of the tensor being read are touched and no file-sized managed buffer is ever needed.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    public string Path { get; }
    public long Length { get; }
    private readonly MemoryMappedFile? map;
    private readonly MemoryMappedViewAccessor? view;
    private byte* basePtr;

    public MappedFile(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("weight files are little-endian; this host is not");
        Path = path;
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        Length = fs.Length;
        if (Length == 0) { fs.Dispose(); return; }     // an empty file cannot be mapped; nothing to read anyway
        try
        {
            map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            basePtr += view.PointerOffset;
        }
        catch
        {
            Dispose();
            fs.Dispose();
            throw;
        }
    }

    /// <summary>Pointer to byte <paramref name="offset"/>; [offset, offset+count) must lie in the file.</summary>
    public byte* At(long offset, long count)
    {
        if (offset < 0 || count < 0 || offset > Length - count)
            throw new InvalidDataException($"{Path}: bytes [{offset}, {offset + count}) lie outside the file ({Length} bytes)");
        if (basePtr == null && count > 0) throw new ObjectDisposedException(Path);
        return basePtr + offset;
    }

    public ReadOnlySpan<byte> Span(long offset, int count) => new(At(offset, count), count);

    public void Dispose()
    {
        if (basePtr != null)
        {
            view!.SafeMemoryMappedViewHandle.ReleasePointer();
            basePtr = null;
        }
        view?.Dispose();
        map?.Dispose();
    }
}

/// <summary>Creating tensors from raw memory (the mapped view): a copy, so the tensor outlives the map.</summary>
internal static unsafe class RawTensor
{
    public static Tensor Copy(byte* data, long nbytes, ScalarType dtype, long[] shape)
    {
        long n = 1;
        foreach (var s in shape) n = checked(n * s);
        if (checked(n * dtype.ElementSize()) != nbytes)
            throw new InvalidDataException($"{nbytes} bytes do not hold {dtype.TorchName()}[{string.Join(", ", shape)}]");
        fixed (long* p = shape) return Tensor.Wrap(Native.apt_from_data(data, p, shape.Length, (int)dtype));
    }

    /// <summary>Writes a tensor's elements (row-major, little-endian) to a stream without a managed copy of the
    /// whole tensor.</summary>
    public static void WriteTo(Tensor t, Stream stream)
    {
        using var d = t.detach();
        using var cpu = d.to(Device.CPU);
        using var c = cpu.contiguous();
        long nbytes = c.numel() * c.element_size();
        if (nbytes == 0) return;
        var p = (byte*)Native.apt_data_ptr(c.H);
        if (p == null) throw new TorchException(Native.LastError());
        for (long off = 0; off < nbytes; off += 1 << 30)
            stream.Write(new ReadOnlySpan<byte>(p + off, (int)Math.Min(1 << 30, nbytes - off)));
        GC.KeepAlive(c);
    }
}
