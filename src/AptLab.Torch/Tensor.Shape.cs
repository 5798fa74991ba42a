namespace AptLab.Torch;

// Views, indexing and joining.
public partial class Tensor
{
    public unsafe Tensor view(params long[] shape) { fixed (long* p = shape) return Wrap(Native.apt_view(H, p, shape.Length), this); }
    public unsafe Tensor reshape(params long[] shape) { fixed (long* p = shape) return Wrap(Native.apt_reshape(H, p, shape.Length), this); }
    public unsafe Tensor permute(params long[] dims) { fixed (long* p = dims) return Wrap(Native.apt_permute(H, p, dims.Length), this); }
    public unsafe Tensor expand(params long[] shape) { fixed (long* p = shape) return Wrap(Native.apt_expand(H, p, shape.Length), this); }
    public Tensor expand_as(Tensor other) => expand(other.shape);
    public Tensor view_as(Tensor other) => view(other.shape);
    public unsafe Tensor repeat(params long[] times) { fixed (long* p = times) return Wrap(Native.apt_repeat(H, p, times.Length), this); }
    public unsafe Tensor flip(params long[] dims) { fixed (long* p = dims) return Wrap(Native.apt_flip(H, p, dims.Length), this); }
    public unsafe Tensor roll(long[] shifts, long[] dims)
    {
        if (shifts.Length != dims.Length) throw new ArgumentException("roll: shifts and dims differ in length");
        fixed (long* s = shifts) fixed (long* d = dims) return Wrap(Native.apt_roll(H, s, d, dims.Length), this);
    }
    public Tensor roll(long shift, long dim) => roll(new[] { shift }, new[] { dim });
    public Tensor transpose(long dim0, long dim1) => Wrap(Native.apt_transpose(H, dim0, dim1), this);
    /// <summary>Transpose of the last two dims.</summary>
    public Tensor mT => transpose(-2, -1);
    public Tensor squeeze() => Wrap(Native.apt_squeeze_all(H), this);
    public Tensor squeeze(long dim) => Wrap(Native.apt_squeeze(H, dim), this);
    public Tensor unsqueeze(long dim) => Wrap(Native.apt_unsqueeze(H, dim), this);
    public Tensor flatten(long startDim = 0, long endDim = -1) => Wrap(Native.apt_flatten(H, startDim, endDim), this);
    public unsafe Tensor unflatten(long dim, params long[] sizes) { fixed (long* p = sizes) return Wrap(Native.apt_unflatten(H, dim, p, sizes.Length), this); }
    public Tensor narrow(long dim, long start, long length) => Wrap(Native.apt_narrow(H, dim, start, length), this);
    /// <summary>Python's <c>x[..., start:end:step, ...]</c> along <paramref name="dim"/> (end may be long.MaxValue).</summary>
    public Tensor slice(long dim, long start, long end, long step = 1) => Wrap(Native.apt_slice(H, dim, start, end, step), this);
    /// <summary>Python's <c>x[..., index, ...]</c>: removes <paramref name="dim"/>.</summary>
    public Tensor select(long dim, long index) => Wrap(Native.apt_select(H, dim, index), this);
    public Tensor this[long index] => select(0, index);
    public Tensor index_select(long dim, Tensor index) => Wrap(Native.apt_index_select(H, dim, index.H), this, index);
    public Tensor gather(long dim, Tensor index) => Wrap(Native.apt_gather(H, dim, index.H), this, index);
    public Tensor scatter(long dim, Tensor index, Tensor src) => Wrap(Native.apt_scatter(H, dim, index.H, src.H), this, index, src);
    public Tensor scatter_add(long dim, Tensor index, Tensor src) => Wrap(Native.apt_scatter_add(H, dim, index.H, src.H), this, index, src);
    public Tensor masked_fill(Tensor mask, double value) => Wrap(Native.apt_masked_fill(H, mask.H, value), this, mask);
    public Tensor masked_fill(Tensor mask, Tensor value) => Wrap(Native.apt_masked_fill_t(H, mask.H, value.H), this, mask, value);
    public Tensor masked_select(Tensor mask) => Wrap(Native.apt_masked_select(H, mask.H), this, mask);
    public Tensor tril(long k = 0) => Wrap(Native.apt_tril(H, k), this);
    public Tensor triu(long k = 0) => Wrap(Native.apt_triu(H, k), this);
    public Tensor repeat_interleave(long repeats, long dim) => Wrap(Native.apt_repeat_interleave(H, repeats, dim), this);
    public Tensor nonzero() => Wrap(Native.apt_nonzero(H), this);
    public Tensor view_as_real() => Wrap(Native.apt_view_as_real(H), this);
    public Tensor view_as_complex() => Wrap(Native.apt_view_as_complex(H), this);

    /// <summary>Advanced indexing <c>x[i0, i1, ...]</c> with index tensors (null = full slice).</summary>
    public unsafe Tensor index(params Tensor?[] indices)
    {
        var hs = stackalloc IntPtr[indices.Length];
        for (int i = 0; i < indices.Length; i++) hs[i] = indices[i]?.H ?? IntPtr.Zero;
        var r = Wrap(Native.apt_index(H, hs, indices.Length), this);
        GC.KeepAlive(indices);
        return r;
    }

    /// <summary><c>x[indices] = values</c> (or += with accumulate).</summary>
    public unsafe Tensor index_put_(Tensor?[] indices, Tensor values, bool accumulate = false)
    {
        var hs = stackalloc IntPtr[indices.Length];
        for (int i = 0; i < indices.Length; i++) hs[i] = indices[i]?.H ?? IntPtr.Zero;
        Check(Native.apt_index_put_(H, hs, indices.Length, values.H, accumulate ? 1 : 0), this, values, indices);
        return this;
    }

    public unsafe Tensor[] chunk(long chunks, long dim = 0)
    {
        var buf = new IntPtr[chunks];
        int n;
        fixed (IntPtr* p = buf) n = Native.apt_chunk(H, chunks, dim, p, buf.Length);
        return ListResult(buf, n);
    }

    public unsafe Tensor[] split(long splitSize, long dim = 0)
    {
        long len = size((int)dim);
        var buf = new IntPtr[Math.Max(1, (len + splitSize - 1) / splitSize)];
        int n;
        fixed (IntPtr* p = buf) n = Native.apt_split(H, splitSize, dim, p, buf.Length);
        return ListResult(buf, n);
    }

    public unsafe Tensor[] split(long[] sizes, long dim = 0)
    {
        var buf = new IntPtr[sizes.Length];
        int n;
        fixed (IntPtr* p = buf) fixed (long* s = sizes) n = Native.apt_split_sizes(H, s, sizes.Length, dim, p, buf.Length);
        return ListResult(buf, n);
    }

    public unsafe Tensor[] unbind(long dim = 0)
    {
        var buf = new IntPtr[size((int)dim)];
        int n;
        fixed (IntPtr* p = buf) n = Native.apt_unbind(H, dim, p, buf.Length);
        return ListResult(buf, n);
    }

    private Tensor[] ListResult(IntPtr[] buf, int n)
    {
        GC.KeepAlive(this);
        if (n < 0) throw new TorchException(Native.LastError());
        var r = new Tensor[n];
        for (int i = 0; i < n; i++) r[i] = new Tensor(buf[i]);
        return r;
    }
}
