namespace AptLab.Torch.optim;

/// <summary>
/// A parameter group, as in torch.optim: parameters that share hyper-parameters (lr, weight_decay, ...).
/// Options not set on the group take the optimizer's defaults when the group is added to an optimizer; an
/// option the optimizer does not know is an error naming it. Booleans (amsgrad, nesterov, centered) are 0/1.
/// <code>
/// new AdamW([new ParamGroup(decay), new ParamGroup(noDecay) { ["weight_decay"] = 0 }], lr: 1e-4)
/// </code>
/// </summary>
public sealed class ParamGroup
{
    private readonly List<Tensor> parameters;
    internal readonly Dictionary<string, double> options = new();

    public ParamGroup(IEnumerable<Tensor> parameters, IReadOnlyDictionary<string, double>? options = null)
    {
        this.parameters = parameters.ToList();
        if (options is not null) foreach (var (k, v) in options) this.options[k] = v;
    }

    /// <summary>The group's parameters, in the order that numbers them in the state dict.</summary>
    public IReadOnlyList<Tensor> @params => parameters;

    /// <summary>A hyper-parameter of this group by its PyTorch name ("lr", "weight_decay", "beta1", ...).</summary>
    public double this[string name]
    {
        get => options.TryGetValue(name, out var v) ? v
            : throw new KeyNotFoundException($"parameter group has no option '{name}' (known: {string.Join(", ", options.Keys)})");
        set => options[name] = value;
    }

    /// <summary>The learning rate; LR schedulers set it before every step.</summary>
    public double lr { get => this["lr"]; set => this["lr"] = value; }

    public double weight_decay { get => this["weight_decay"]; set => this["weight_decay"] = value; }

    /// <summary>The hyper-parameters by name.</summary>
    public IReadOnlyDictionary<string, double> Options => options;

    internal bool Flag(string name) => this[name] != 0;
}
