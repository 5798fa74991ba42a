namespace AptLab.Torch.optim;

/// <summary>
/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay (torch.optim.SGD):
/// <code>
/// d = grad + weight_decay * p
/// buf = d (first step), else buf = momentum * buf + (1 - dampening) * d
/// d = nesterov ? d + momentum * buf : buf
/// p -= lr * d
/// </code>
/// State: momentum_buffer (only when momentum != 0).
/// </summary>
public sealed class SGD : Optimizer
{
    public SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0,
        double weight_decay = 0, bool nesterov = false)
        : this([new ParamGroup(parameters)], lr, momentum, dampening, weight_decay, nesterov) { }

    public SGD(IEnumerable<ParamGroup> param_groups, double lr, double momentum = 0, double dampening = 0,
        double weight_decay = 0, bool nesterov = false)
        : base(param_groups, new Dictionary<string, double>
        {
            ["lr"] = lr, ["momentum"] = momentum, ["dampening"] = dampening,
            ["weight_decay"] = weight_decay, ["nesterov"] = nesterov ? 1 : 0,
        }) { }

    private static readonly string[] Names = ["momentum_buffer"];
    protected override IReadOnlyCollection<string> StateNames => Names;
    protected override bool CountsSteps => false;

    protected override void Validate(ParamGroup group, string where)
    {
        base.Validate(group, where);
        if (!(group["momentum"] >= 0)) throw new ArgumentException($"{where}: invalid momentum={group["momentum"]}");
        if (group.Flag("nesterov") && (group["momentum"] <= 0 || group["dampening"] != 0))
            throw new ArgumentException($"{where}: Nesterov momentum requires a momentum and zero dampening");
    }

    protected override void Update(ParamGroup group, Tensor param, Tensor grad, ParamState state)
    {
        double lr = group.lr, momentum = group["momentum"], dampening = group["dampening"], wd = group.weight_decay;
        var d = wd != 0 ? grad.add(param, wd) : grad;
        if (momentum != 0)
        {
            Tensor buf;
            if (!state.Has("momentum_buffer")) buf = state.Set("momentum_buffer", d.clone());
            else buf = state["momentum_buffer"].mul_(momentum).add_(d, 1 - dampening);
            d = group.Flag("nesterov") ? d.add(buf, momentum) : buf;
        }
        param.add_(d, -lr);
        state.step++;
    }
}
