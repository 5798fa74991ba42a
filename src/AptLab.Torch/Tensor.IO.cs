namespace AptLab.Torch;

// Views with explicit strides (weight IO rebuilds torch.save views through these).
public partial class Tensor
{
    /// <summary>PyTorch's <c>as_strided</c>: a view of this tensor's storage with the given sizes, strides and
    /// storage offset, all in elements. Bounds are checked by libtorch.</summary>
    public unsafe Tensor as_strided(long[] size, long[] stride, long storage_offset = 0)
    {
        if (size.Length != stride.Length)
            throw new ArgumentException($"as_strided: {size.Length} sizes but {stride.Length} strides");
        fixed (long* s = size) fixed (long* st = stride)
            return Wrap(Native.apt_as_strided(H, s, st, size.Length, storage_offset), this);
    }
}
