namespace AptLab.Torch;

/// <summary>
/// Owns every tensor created on this thread while it is the innermost open scope, and frees them all when
/// disposed, except those kept with <see cref="Keep"/> (moved to the enclosing scope) or detached with
/// <see cref="Tensor.DetachFromScope"/>. Scopes nest; they are per thread.
/// <code>
/// using var _ = torch.NewScope();      // one line per training step
/// </code>
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? current;

    private readonly List<Tensor> owned = new();
    private readonly DisposeScope? outer;
    private bool disposed;

    internal DisposeScope()
    {
        outer = current;
        current = this;
    }

    internal static DisposeScope? Current => current;

    /// <summary>Number of tensors this scope currently owns (for leak hunting).</summary>
    public int Count => owned.Count(t => t.Scope == this && !t.IsClosed);

    internal void Add(Tensor t)
    {
        t.Scope = this;
        owned.Add(t);
    }

    /// <summary>Moves <paramref name="t"/> to the enclosing scope (or to no scope) and returns it.</summary>
    public T Keep<T>(T t) where T : Tensor
    {
        if (t.Scope == this)
        {
            if (outer is null) t.Scope = null;
            else outer.Add(t);
        }
        return t;
    }

    /// <summary>Keeps several tensors at once.</summary>
    public void KeepAll(params Tensor?[] tensors)
    {
        foreach (var t in tensors) if (t is not null) Keep(t);
    }

    /// <summary>Frees everything owned so far but keeps the scope open (useful inside long loops).</summary>
    public void DisposeEverything()
    {
        foreach (var t in owned) if (t.Scope == this) { t.Scope = null; t.Dispose(); }
        owned.Clear();
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (current != this)
            throw new InvalidOperationException("dispose scopes must be disposed in reverse order of creation");
        current = outer;
        DisposeEverything();
    }
}
