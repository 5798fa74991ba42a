namespace AptLab.Torch.nn;

/// <summary>Applies its modules in order; they are named "0", "1", ... as in PyTorch.</summary>
public sealed class Sequential : Module<Tensor, Tensor>
{
    private readonly List<Module<Tensor, Tensor>> layers = new();

    public Sequential(params Module<Tensor, Tensor>[] modules)
    {
        foreach (var m in modules) Append(m);
    }

    public Sequential Append(Module<Tensor, Tensor> m)
    {
        RegisterModule(layers.Count.ToString(), m);
        layers.Add(m);
        return this;
    }

    public Module<Tensor, Tensor> this[int i] => layers[i];
    public int Count => layers.Count;

    public override Tensor forward(Tensor x)
    {
        // Intermediate results are freed as soon as the next layer has consumed them.
        var h = layers[0].forward(x);
        for (int i = 1; i < layers.Count; i++)
        {
            var next = layers[i].forward(h);
            if (!ReferenceEquals(next, h) && !ReferenceEquals(h, x) && h.Scope is null) h.Dispose();
            h = next;
        }
        return h;
    }
}

/// <summary>A list of modules seen without its item type (<see cref="ModuleList{T}"/>).</summary>
public interface IModuleList
{
    int Count { get; }
    Module item(int i);

    /// <summary>Runs <paramref name="hook"/>(i) whenever item i is fetched by index, until the returned handle is
    /// disposed. The model families fetch a block by index right before running it (<c>var block = blocks[i];</c>),
    /// so this is their per-block forward pre-hook: fully sharded data parallel gathers the block's weights there.</summary>
    IDisposable register_get_hook(Action<int> hook);
}

/// <summary>An indexed list of modules named "0", "1", ...</summary>
public sealed class ModuleList<T> : Module, IReadOnlyList<T>, IModuleList where T : Module
{
    private readonly List<T> items = new();
    private Action<int>[] getHooks = [];

    public ModuleList(IEnumerable<T>? modules = null)
    {
        if (modules is not null) foreach (var m in modules) Add(m);
    }

    public void Add(T m)
    {
        RegisterModule(items.Count.ToString(), m);
        items.Add(m);
    }

    public T this[int i]
    {
        get
        {
            var item = items[i];
            foreach (var h in getHooks) h(i);
            return item;
        }
    }
    public int Count => items.Count;
    Module IModuleList.item(int i) => items[i];

    public IDisposable register_get_hook(Action<int> hook)
    {
        getHooks = [.. getHooks, hook];
        return new HookHandle(this, hook);
    }

    private sealed class HookHandle(ModuleList<T> list, Action<int> hook) : IDisposable
    {
        public void Dispose() => list.getHooks = list.getHooks.Where(h => !ReferenceEquals(h, hook)).ToArray();
    }

    public IEnumerator<T> GetEnumerator() => items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Modules by name, in insertion order.</summary>
public sealed class ModuleDict<T> : Module where T : Module
{
    private readonly Dictionary<string, T> items = new();

    public void Add(string name, T m)
    {
        RegisterModule(name, m);
        items[name] = m;
    }

    public T this[string name] => items[name];
    public bool ContainsKey(string name) => items.ContainsKey(name);
    public IEnumerable<string> Keys => items.Keys;
}
