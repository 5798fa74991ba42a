namespace AptLab.Torch;

/// <summary>A trainable tensor owned by its module, never by a dispose scope. The constructor consumes
/// <c>data</c>: the parameter takes a detached handle to the same storage and disposes <c>data</c>, so
/// <c>new Parameter(torch.randn(...))</c> leaves nothing behind.</summary>
public sealed class Parameter : Tensor
{
    public Parameter(Tensor data, bool requires_grad = true) : base(Detached(data))
    {
        DetachFromScope();
        this.requires_grad = requires_grad;
    }

    private static IntPtr Detached(Tensor data)
    {
        var h = Native.apt_detach(data.H);
        if (h == IntPtr.Zero) throw new TorchException(Native.LastError());
        data.Dispose();
        return h;
    }
}
