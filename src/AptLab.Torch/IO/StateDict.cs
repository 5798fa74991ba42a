using System.Collections;

namespace AptLab.Torch.IO;

/// <summary>
/// Tensors by name in file order, as loaded from a checkpoint, plus the file's string metadata. Disposing it frees
/// every tensor (they also belong to the dispose scope that was open when they were loaded, if any), so
/// <c>using var sd = Checkpoint.Load(path); model.load_state_dict(sd, source: path);</c> leaves nothing behind.
/// </summary>
public sealed class StateDict : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    private readonly OrderedDictionary<string, Tensor> tensors = new(StringComparer.Ordinal);

    /// <summary>The file (or index) the tensors came from, for error messages.</summary>
    public string? Source { get; init; }

    /// <summary>String metadata: safetensors <c>__metadata__</c>; empty for .pth files.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Non-tensor values that came with the tensors, e.g. <c>step</c> of a <c>{"state_dict": ..., "step": 7}</c>
    /// training checkpoint, as plain .NET values (see <see cref="TorchPickle"/>). Empty for safetensors.</summary>
    public IReadOnlyDictionary<string, object?> Extra { get; init; } = new Dictionary<string, object?>();

    public StateDict() { }

    public StateDict(IEnumerable<KeyValuePair<string, Tensor>> items)
    {
        foreach (var (k, v) in items) Add(k, v);
    }

    /// <summary>Adds a tensor; a second tensor under the same name is an error naming the key.</summary>
    public void Add(string name, Tensor tensor)
    {
        if (!tensors.TryAdd(name, tensor))
            throw new ArgumentException($"duplicate tensor name '{name}'" + (Source is null ? "" : $" in {Source}"));
    }

    public Tensor this[string key] => tensors.TryGetValue(key, out var t) ? t
        : throw new KeyNotFoundException($"no tensor '{key}'" + (Source is null ? "" : $" in {Source}"));
    public IEnumerable<string> Keys => tensors.Keys;
    public IEnumerable<Tensor> Values => tensors.Values;
    public int Count => tensors.Count;
    public bool ContainsKey(string key) => tensors.ContainsKey(key);
    public bool TryGetValue(string key, out Tensor value) => tensors.TryGetValue(key, out value!);
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => tensors.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Total bytes of the tensors' elements.</summary>
    public long nbytes() => tensors.Values.Sum(t => t.numel() * t.element_size());

    public void Dispose()
    {
        foreach (var t in tensors.Values) t.Dispose();
        tensors.Clear();
        foreach (var v in Extra.Values) DisposeTensors(v);
    }

    // Frees every tensor in a (possibly shared or cyclic) graph of plain containers, each container once; iterative.
    private static void DisposeTensors(object? root)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<object?>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var o = stack.Pop();
            if (o is null || o is string || !seen.Add(o)) continue;
            switch (o)
            {
                case Tensor t: t.Dispose(); break;
                case OrderedDictionary<object, object?> d: foreach (var (k, v) in d) { stack.Push(k); stack.Push(v); } break;
                case List<object?> l: foreach (var v in l) stack.Push(v); break;
                case object?[] a: foreach (var v in a) stack.Push(v); break;
                case HashSet<object?> h: foreach (var v in h) stack.Push(v); break;
            }
        }
    }
}
