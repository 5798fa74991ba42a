using System.Runtime.InteropServices;
using System.Text;

namespace AptLab.Torch;

/// <summary>
/// A libtorch tensor. The object owns one native handle (an <c>at::Tensor</c>), released deterministically by
/// <see cref="SafeHandle.Dispose()"/> or by the <see cref="DisposeScope"/> that was open when it was created.
/// Every operation returns a new handle (views included); in-place operations (names ending in <c>_</c>)
/// return <c>this</c>.
/// </summary>
public partial class Tensor : SafeHandle
{
    internal DisposeScope? Scope;

    internal Tensor(IntPtr handle) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(handle);
        DisposeScope.Current?.Add(this);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        Native.apt_free(handle);
        return true;
    }

    /// <summary>The raw handle; callers must keep this object alive across its use.</summary>
    internal IntPtr H
    {
        get
        {
            if (IsClosed) throw new ObjectDisposedException(nameof(Tensor), "the tensor was disposed (by its scope or explicitly)");
            return handle;
        }
    }

    /// <summary>Wraps a returned handle. The extra arguments are the operands, referenced here only so that
    /// the garbage collector cannot finalise them while the native call runs.</summary>
    internal static Tensor Wrap(IntPtr p, object? keep0 = null, object? keep1 = null, object? keep2 = null)
    {
        if (p == IntPtr.Zero) throw new TorchException(Native.LastError());
        return new Tensor(p);
    }

    internal static void Check(int status, object? keep0 = null, object? keep1 = null, object? keep2 = null)
    {
        if (status < 0) throw new TorchException(Native.LastError());
    }

    /// <summary>Removes the tensor from its dispose scope: it lives until disposed or finalised.</summary>
    public Tensor DetachFromScope()
    {
        Scope = null;
        return this;
    }

    /// <summary>Moves the tensor to the scope enclosing its current one.</summary>
    public Tensor MoveToOuterScope() => Scope is null ? this : Scope.Keep(this);

    /// <summary>Hands the native handle to the caller (the shim), leaving this object empty.</summary>
    internal IntPtr TransferOwnership()
    {
        var h = H;
        Scope = null;
        SetHandleAsInvalid();
        handle = IntPtr.Zero;
        GC.SuppressFinalize(this);
        return h;
    }

    // ---- properties ----
    public int dim() { var r = Native.apt_dim(H); GC.KeepAlive(this); return r; }
    public int ndim => dim();
    public long numel() { var r = Native.apt_numel(H); GC.KeepAlive(this); return r; }
    public ScalarType dtype { get { var r = (ScalarType)Native.apt_dtype(H); GC.KeepAlive(this); return r; } }
    public Device device
    {
        get
        {
            var r = new Device((DeviceType)Native.apt_device_type(H), Native.apt_device_index(H));
            GC.KeepAlive(this);
            return r;
        }
    }
    public bool is_leaf { get { var r = Native.apt_is_leaf(H) != 0; GC.KeepAlive(this); return r; } }
    public bool is_contiguous() { var r = Native.apt_is_contiguous(H) != 0; GC.KeepAlive(this); return r; }
    public long storage_offset() { var r = Native.apt_storage_offset(H); GC.KeepAlive(this); return r; }
    public int element_size() => dtype.ElementSize();

    public unsafe long[] shape
    {
        get
        {
            Span<long> buf = stackalloc long[16];
            int d;
            fixed (long* p = buf) d = Native.apt_sizes(H, p, 16);
            GC.KeepAlive(this);
            if (d <= 16) return buf[..d].ToArray();
            var big = new long[d];
            fixed (long* p = big) Native.apt_sizes(H, p, d);
            GC.KeepAlive(this);
            return big;
        }
    }
    public long[] size() => shape;
    public long size(int dim) { var s = shape; return s[dim < 0 ? dim + s.Length : dim]; }

    public unsafe long[] stride()
    {
        var s = new long[dim()];
        fixed (long* p = s) Native.apt_strides(H, p, s.Length);
        GC.KeepAlive(this);
        return s;
    }

    public bool requires_grad
    {
        get { var r = Native.apt_requires_grad(H) != 0; GC.KeepAlive(this); return r; }
        set => Check(Native.apt_set_requires_grad(H, value ? 1 : 0), this);
    }

    /// <summary>Sets requires_grad and returns this (PyTorch's requires_grad_).</summary>
    public Tensor requires_grad_(bool on = true) { requires_grad = on; return this; }

    // ---- conversion ----
    public Tensor to(ScalarType type) => Wrap(Native.apt_to_dtype(H, (int)type), this);
    public Tensor to(Device dev) => Wrap(Native.apt_to_device(H, (int)dev.Type, dev.Index), this);
    public Tensor to(Device dev, ScalarType type) => Wrap(Native.apt_to(H, (int)type, (int)dev.Type, dev.Index), this);
    public Tensor to(Tensor other) => to(other.device, other.dtype);
    public Tensor cpu() => to(Device.CPU);
    public Tensor @float() => to(ScalarType.Float32);
    public Tensor @double() => to(ScalarType.Float64);
    public Tensor @long() => to(ScalarType.Int64);
    public Tensor @bool() => to(ScalarType.Bool);
    public Tensor contiguous() => Wrap(Native.apt_contiguous(H), this);
    public Tensor clone() => Wrap(Native.apt_clone(H), this);
    public Tensor detach() => Wrap(Native.apt_detach(H), this);
    public Tensor detach_() { Check(Native.apt_detach_(H), this); return this; }
    /// <summary>A second handle to the same tensor (same storage, same autograd identity).</summary>
    public Tensor alias() => Wrap(Native.apt_alias(H), this);
    public Tensor copy_(Tensor src) { Check(Native.apt_copy_(H, src.H), this, src); return this; }
    /// <summary>Replaces the data of this tensor (a parameter, say) keeping its identity: PyTorch's <c>.data =</c>.</summary>
    public void set_data(Tensor src) => Check(Native.apt_set_data(H, src.H), this, src);
    /// <summary><see cref="set_data"/> across tensor types, e.g. a parameter built on the meta device receiving real
    /// storage (PyTorch's <c>module.to_empty</c> does the same). Only for tensors not yet used in autograd.</summary>
    public void set_data_any_device(Tensor src) => Check(Native.apt_set_data_any_device(H, src.H), this, src);
    public bool same_storage(Tensor other)
    {
        var r = Native.apt_same_storage(H, other.H) != 0;
        GC.KeepAlive(this); GC.KeepAlive(other);
        return r;
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public T item<T>() where T : struct
    {
        if (typeof(T) == typeof(long) || typeof(T) == typeof(int) || typeof(T) == typeof(bool))
        {
            long v;
            unsafe { Check(Native.apt_item_int64(H, &v), this); }
            if (typeof(T) == typeof(bool)) return (T)(object)(v != 0);
            return typeof(T) == typeof(int) ? (T)(object)checked((int)v) : (T)(object)v;
        }
        double d;
        unsafe { Check(Native.apt_item_double(H, &d), this); }
        if (typeof(T) == typeof(double)) return (T)(object)d;
        if (typeof(T) == typeof(float)) return (T)(object)(float)d;
        throw new NotSupportedException($"item<{typeof(T).Name}>");
    }

    /// <summary>Copies the elements (row-major, any device or layout) into a new array.</summary>
    public T[] data<T>() where T : unmanaged
    {
        var result = new T[numel()];
        CopyTo<T>(result);
        return result;
    }

    /// <summary>Copies the elements into <paramref name="destination"/>, whose length must equal numel.</summary>
    public unsafe void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        CheckElementType<T>();
        fixed (T* p = destination) Check(Native.apt_copy_to(H, p, (long)destination.Length * sizeof(T)), this);
    }

    /// <summary>Copies the raw bytes of the elements (row-major) into a new array.</summary>
    public unsafe byte[] bytes()
    {
        var result = new byte[numel() * element_size()];
        fixed (byte* p = result) Check(Native.apt_copy_to(H, p, result.Length), this);
        return result;
    }

    private void CheckElementType<T>() where T : unmanaged
    {
        var t = dtype;
        bool ok = typeof(T) == typeof(float) ? t == ScalarType.Float32
            : typeof(T) == typeof(double) ? t == ScalarType.Float64
            : typeof(T) == typeof(long) ? t == ScalarType.Int64
            : typeof(T) == typeof(int) ? t == ScalarType.Int32
            : typeof(T) == typeof(byte) ? t is ScalarType.UInt8 or ScalarType.Bool
            : typeof(T) == typeof(bool) ? t == ScalarType.Bool
            : typeof(T) == typeof(short) ? t == ScalarType.Int16
            : typeof(T) == typeof(Half) ? t == ScalarType.Float16
            : typeof(T) == typeof(ushort) ? t is ScalarType.BFloat16 or ScalarType.Float16
            : typeof(T) == typeof(sbyte) ? t == ScalarType.Int8
            : false;
        if (!ok) throw new ArgumentException($"cannot read a {t.TorchName()} tensor as {typeof(T).Name}");
    }

    public override string ToString()
    {
        if (IsClosed) return "tensor(<disposed>)";
        var sb = new StringBuilder("tensor(");
        var s = shape;
        if (numel() <= 16 && device.Type != DeviceType.Meta)
        {
            using var f = to(Device.CPU, ScalarType.Float64);
            sb.Append('[').Append(string.Join(", ", f.data<double>().Select(v => v.ToString("G6")))).Append("], ");
        }
        sb.Append("shape=[").Append(string.Join(", ", s)).Append("], dtype=").Append(dtype.TorchName());
        if (device.Type != DeviceType.CPU) sb.Append(", device=").Append(device);
        if (requires_grad) sb.Append(", requires_grad=True");
        return sb.Append(')').ToString();
    }
}
