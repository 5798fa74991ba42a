using System.Runtime.InteropServices;

namespace AptLab.Torch;

/// <summary>The <c>torch</c> namespace of PyTorch: dtypes, creation functions, joining, RNG, grad mode,
/// scopes and threads.</summary>
public static partial class torch
{
    public const ScalarType float32 = ScalarType.Float32, float64 = ScalarType.Float64, bfloat16 = ScalarType.BFloat16,
        float16 = ScalarType.Float16, int64 = ScalarType.Int64, int32 = ScalarType.Int32, @bool = ScalarType.Bool,
        uint8 = ScalarType.UInt8, complex64 = ScalarType.ComplexFloat32;

    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Initialize()
    {
        OpenMpPolicy.Apply();   // before libtorch (and libgomp) load
        // APTLAB_THREADS, else OMP_NUM_THREADS, else the usable cores (libtorch's own default can count only physical cores).
        Native.apt_set_num_threads(OpenMpPolicy.StartThreads);
        Autograd.RegisterCheckpointCallback();
    }

    /// <summary>Version of the libtorch the shim was built against, e.g. "1.13.0".</summary>
    public static string version => Marshal.PtrToStringUTF8(Native.apt_torch_version()) ?? "";

    public static class cuda
    {
        public static bool is_available() => Native.apt_cuda_available() != 0;
    }

    /// <summary>Number of native tensor handles alive in the process (for leak tests).</summary>
    public static long live_tensors() => Native.apt_live_tensors();

    public static void set_num_threads(int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "the thread count must be at least 1");
        Native.apt_set_num_threads(n);
        OpenMpPolicy.ThreadsSource = "set_num_threads";
    }

    public static int get_num_threads() => Native.apt_get_num_threads();

    /// <summary>The engine's parallel settings in one line (cf. PyTorch's <c>torch.__config__.parallel_info()</c>), for a
    /// run's records: <c>threads 2 (OMP_NUM_THREADS), cores 2, OMP_WAIT_POLICY PASSIVE, libtorch 1.13.1</c>. Results are
    /// bit-identical only between runs with the same thread count (docs/reliability.md).</summary>
    public static string parallel_info() =>
        $"threads {get_num_threads()} ({OpenMpPolicy.ThreadsSource}), cores {Environment.ProcessorCount}, " +
        $"{OpenMpPolicy.Variable} {(OpenMpPolicy.WaitPolicy.Length > 0 ? OpenMpPolicy.WaitPolicy : "default")}, libtorch {version}";

    /// <summary>Seeds the default generator.</summary>
    public static void manual_seed(ulong seed) => Native.apt_manual_seed(seed);

    /// <summary>Opens a dispose scope on this thread (see <see cref="DisposeScope"/>).</summary>
    public static DisposeScope NewScope() => new();

    /// <summary>Disables gradient recording until disposed: <c>using var _ = torch.no_grad();</c></summary>
    public static GradMode no_grad() => new(false);
    public static GradMode NoGrad() => new(false);
    public static GradMode enable_grad() => new(true);
    public static bool is_grad_enabled() => Native.apt_is_grad_enabled() != 0;

    // ---- creation ----
    private static Device Dev(Device? d) => d ?? Device.CPU;
    private static int Rg(bool b) => b ? 1 : 0;

    public static unsafe Tensor empty(long[] shape, ScalarType dtype = float32, Device? device = null, bool requires_grad = false)
    { var d = Dev(device); fixed (long* p = shape) return Tensor.Wrap(Native.apt_empty(p, shape.Length, (int)dtype, (int)d.Type, d.Index, Rg(requires_grad))); }
    public static unsafe Tensor zeros(long[] shape, ScalarType dtype = float32, Device? device = null, bool requires_grad = false)
    { var d = Dev(device); fixed (long* p = shape) return Tensor.Wrap(Native.apt_zeros(p, shape.Length, (int)dtype, (int)d.Type, d.Index, Rg(requires_grad))); }
    public static unsafe Tensor ones(long[] shape, ScalarType dtype = float32, Device? device = null, bool requires_grad = false)
    { var d = Dev(device); fixed (long* p = shape) return Tensor.Wrap(Native.apt_ones(p, shape.Length, (int)dtype, (int)d.Type, d.Index, Rg(requires_grad))); }
    public static unsafe Tensor full(long[] shape, double value, ScalarType dtype = float32, Device? device = null, bool requires_grad = false)
    { var d = Dev(device); fixed (long* p = shape) return Tensor.Wrap(Native.apt_full(p, shape.Length, value, 0, (int)dtype, (int)d.Type, d.Index, Rg(requires_grad))); }
    public static Tensor zeros(params long[] shape) => zeros(shape, float32);
    public static Tensor ones(params long[] shape) => ones(shape, float32);
    public static Tensor empty(params long[] shape) => empty(shape, float32);

    public static Tensor arange(double end, ScalarType dtype = int64, Device? device = null) => arange(0, end, 1, dtype, device);
    public static Tensor arange(double start, double end, double step = 1, ScalarType dtype = int64, Device? device = null)
    { var d = Dev(device); return Tensor.Wrap(Native.apt_arange(start, end, step, (int)dtype, (int)d.Type, d.Index, 0)); }
    public static Tensor linspace(double start, double end, long steps, ScalarType dtype = float32, Device? device = null)
    { var d = Dev(device); return Tensor.Wrap(Native.apt_linspace(start, end, steps, (int)dtype, (int)d.Type, d.Index, 0)); }
    public static Tensor eye(long n, long? m = null, ScalarType dtype = float32, Device? device = null)
    { var d = Dev(device); return Tensor.Wrap(Native.apt_eye(n, m ?? n, (int)dtype, (int)d.Type, d.Index, 0)); }

    public static unsafe Tensor randn(long[] shape, ScalarType dtype = float32, Device? device = null, Generator? generator = null, bool requires_grad = false)
    { var d = Dev(device); fixed (long* p = shape) return Tensor.Wrap(Native.apt_randn(p, shape.Length, generator?.H ?? 0, (int)dtype, (int)d.Type, d.Index, Rg(requires_grad)), generator); }
    public static unsafe Tensor rand(long[] shape, ScalarType dtype = float32, Device? device = null, Generator? generator = null, bool requires_grad = false)
    { var d = Dev(device); fixed (long* p = shape) return Tensor.Wrap(Native.apt_rand(p, shape.Length, generator?.H ?? 0, (int)dtype, (int)d.Type, d.Index, Rg(requires_grad)), generator); }
    public static Tensor randn(params long[] shape) => randn(shape, float32);
    public static Tensor rand(params long[] shape) => rand(shape, float32);
    /// <summary>Integers uniform in [low, high).</summary>
    public static unsafe Tensor randint(long low, long high, long[] shape, ScalarType dtype = int64, Device? device = null, Generator? generator = null)
    { var d = Dev(device); fixed (long* p = shape) return Tensor.Wrap(Native.apt_randint(low, high, p, shape.Length, generator?.H ?? 0, (int)dtype, (int)d.Type, d.Index), generator); }
    public static Tensor randperm(long n, Generator? generator = null, Device? device = null)
    { var d = Dev(device); return Tensor.Wrap(Native.apt_randperm(n, generator?.H ?? 0, (int)d.Type, d.Index), generator); }

    public static Tensor empty_like(Tensor t) => Tensor.Wrap(Native.apt_empty_like(t.H), t);
    public static Tensor zeros_like(Tensor t) => Tensor.Wrap(Native.apt_zeros_like(t.H), t);
    public static Tensor ones_like(Tensor t) => Tensor.Wrap(Native.apt_ones_like(t.H), t);
    public static Tensor full_like(Tensor t, double value) => Tensor.Wrap(Native.apt_full_like(t.H, value, 0), t);
    public static Tensor randn_like(Tensor t, Generator? generator = null) => Tensor.Wrap(Native.apt_randn_like(t.H, generator?.H ?? 0), t, generator);
    public static Tensor rand_like(Tensor t, Generator? generator = null) => Tensor.Wrap(Native.apt_rand_like(t.H, generator?.H ?? 0), t, generator);

    /// <summary>A tensor holding a copy of <paramref name="data"/> with the given shape (default: 1-D).</summary>
    public static unsafe Tensor tensor<T>(ReadOnlySpan<T> data, long[]? shape = null) where T : unmanaged
    {
        shape ??= [data.Length];
        long n = 1;
        foreach (var s in shape) n *= s;
        if (n != data.Length) throw new ArgumentException($"tensor: {data.Length} values do not fill shape [{string.Join(", ", shape)}]");
        var dtype = DtypeOf<T>();
        fixed (T* d = data) fixed (long* p = shape) return Tensor.Wrap(Native.apt_from_data(d, p, shape.Length, (int)dtype));
    }
    public static Tensor tensor<T>(T[] data, params long[] shape) where T : unmanaged =>
        tensor<T>(data.AsSpan(), shape.Length == 0 ? null : shape);
    public static Tensor tensor(double value, ScalarType dtype = float32) => full([], value, dtype);
    public static Tensor scalar_tensor(double value, ScalarType dtype = float32) => full([], value, dtype);

    /// <summary>A tensor of <paramref name="dtype"/> holding a copy of raw little-endian bytes.</summary>
    public static unsafe Tensor from_bytes(ReadOnlySpan<byte> bytes, ScalarType dtype, long[] shape)
    {
        long n = 1;
        foreach (var s in shape) n *= s;
        if (n * dtype.ElementSize() != bytes.Length)
            throw new ArgumentException($"from_bytes: {bytes.Length} bytes do not hold {dtype.TorchName()}[{string.Join(", ", shape)}]");
        fixed (byte* d = bytes) fixed (long* p = shape) return Tensor.Wrap(Native.apt_from_data(d, p, shape.Length, (int)dtype));
    }

    internal static ScalarType DtypeOf<T>() =>
        typeof(T) == typeof(float) ? float32 : typeof(T) == typeof(double) ? float64 : typeof(T) == typeof(long) ? int64
        : typeof(T) == typeof(int) ? int32 : typeof(T) == typeof(bool) ? @bool : typeof(T) == typeof(byte) ? uint8
        : typeof(T) == typeof(short) ? ScalarType.Int16 : typeof(T) == typeof(sbyte) ? ScalarType.Int8
        : typeof(T) == typeof(Half) ? float16
        : throw new NotSupportedException($"no dtype for {typeof(T).Name}");

    // ---- joining and functions of several tensors ----
    public static unsafe Tensor cat(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        var hs = stackalloc IntPtr[tensors.Count];
        for (int i = 0; i < tensors.Count; i++) hs[i] = tensors[i].H;
        var r = Tensor.Wrap(Native.apt_cat(hs, tensors.Count, dim));
        GC.KeepAlive(tensors);
        return r;
    }
    public static unsafe Tensor stack(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        var hs = stackalloc IntPtr[tensors.Count];
        for (int i = 0; i < tensors.Count; i++) hs[i] = tensors[i].H;
        var r = Tensor.Wrap(Native.apt_stack(hs, tensors.Count, dim));
        GC.KeepAlive(tensors);
        return r;
    }
    public static unsafe Tensor einsum(string equation, params Tensor[] operands)
    {
        var hs = stackalloc IntPtr[operands.Length];
        for (int i = 0; i < operands.Length; i++) hs[i] = operands[i].H;
        var r = Tensor.Wrap(Native.apt_einsum(equation, hs, operands.Length));
        GC.KeepAlive(operands);
        return r;
    }
    public static Tensor where(Tensor condition, Tensor a, Tensor b) => Tensor.Wrap(Native.apt_where(condition.H, a.H, b.H), condition, a, b);
    public static Tensor where(Tensor condition, Tensor a, double b) => Tensor.Wrap(Native.apt_where_s(condition.H, a.H, b), condition, a);
    public static Tensor polar(Tensor abs, Tensor angle) => Tensor.Wrap(Native.apt_polar(abs.H, angle.H), abs, angle);
    public static Tensor complex(Tensor real, Tensor imag) => Tensor.Wrap(Native.apt_complex(real.H, imag.H), real, imag);
    public static Tensor matmul(Tensor a, Tensor b) => a.matmul(b);
    public static Tensor bmm(Tensor a, Tensor b) => a.bmm(b);
    public static Tensor baddbmm(Tensor self, Tensor a, Tensor b, double beta = 1, double alpha = 1) => self.baddbmm(a, b, beta, alpha);
    public static Tensor maximum(Tensor a, Tensor b) => a.maximum(b);
    public static Tensor minimum(Tensor a, Tensor b) => a.minimum(b);
    public static Tensor exp(Tensor a) => a.exp();
    public static Tensor sqrt(Tensor a) => a.sqrt();
    public static Tensor rsqrt(Tensor a) => a.rsqrt();
    public static Tensor sin(Tensor a) => a.sin();
    public static Tensor cos(Tensor a) => a.cos();
    public static Tensor outer(Tensor a, Tensor b) => a.outer(b);
    public static Tensor pow(double @base, Tensor exponent) => Tensor.Wrap(Native.apt_rpow_s(exponent.H, @base), exponent);
    public static bool allclose(Tensor a, Tensor b, double rtol = 1e-5, double atol = 1e-8) => a.allclose(b, rtol, atol);
}

/// <summary>A grad-mode switch that restores the previous mode when disposed.</summary>
public readonly struct GradMode : IDisposable
{
    private readonly bool previous;

    public GradMode(bool enabled)
    {
        previous = Native.apt_is_grad_enabled() != 0;
        Native.apt_set_grad_enabled(enabled ? 1 : 0);
    }

    public void Dispose() => Native.apt_set_grad_enabled(previous ? 1 : 0);
}
