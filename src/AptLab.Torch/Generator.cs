namespace AptLab.Torch;

/// <summary>A CPU random number generator (libtorch's MT generator) with its own seed and state. Every draw made with
/// it is made on the CPU, whatever device the result is asked for (torch.randn(..., device: cuda, generator: g)
/// draws on the CPU and moves the numbers): a CUDA run therefore draws exactly what a CPU run draws and resumes from
/// the saved state exactly (docs/precision-and-parallelism.md).</summary>
public sealed class Generator : IDisposable
{
    internal IntPtr H { get; private set; }

    public Generator(ulong seed = 67280421310721UL)
    {
        H = Native.apt_generator_new(seed);
        if (H == IntPtr.Zero) throw new TorchException(Native.LastError());
    }

    private Generator(IntPtr h) => H = h;

    /// <summary>The process-wide default generator (the one <see cref="torch.manual_seed"/> seeds).</summary>
    public static Generator Default => new(Native.apt_default_generator());

    public Generator manual_seed(ulong seed)
    {
        Tensor.Check(Native.apt_generator_seed(H, seed), this);
        return this;
    }

    /// <summary>The full state as a uint8 tensor (for checkpoints).</summary>
    public Tensor get_state() => Tensor.Wrap(Native.apt_generator_get_state(H), this);

    public void set_state(Tensor state) => Tensor.Check(Native.apt_generator_set_state(H, state.H), this, state);

    public void Dispose()
    {
        if (H != IntPtr.Zero) Native.apt_generator_free(H);
        H = IntPtr.Zero;
        GC.SuppressFinalize(this);
    }

    ~Generator() { if (H != IntPtr.Zero) Native.apt_generator_free(H); }
}
