namespace AptLab.Torch.optim;

/// <summary>
/// RMSprop (torch.optim.RMSprop), with optional momentum and centering:
/// <code>
/// g = grad + weight_decay * p
/// square_avg = alpha * square_avg + (1 - alpha) * g * g
/// avg = sqrt(square_avg - grad_avg^2 (centered, grad_avg = alpha * grad_avg + (1 - alpha) * g)) + eps
/// momentum > 0: buf = momentum * buf + g / avg;  p -= lr * buf      else: p -= lr * g / avg
/// </code>
/// State: step, square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
/// </summary>
public sealed class RMSprop : Optimizer
{
    public RMSprop(IEnumerable<Tensor> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weight_decay = 0, double momentum = 0, bool centered = false)
        : this([new ParamGroup(parameters)], lr, alpha, eps, weight_decay, momentum, centered) { }

    public RMSprop(IEnumerable<ParamGroup> param_groups, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weight_decay = 0, double momentum = 0, bool centered = false)
        : base(param_groups, new Dictionary<string, double>
        {
            ["lr"] = lr, ["alpha"] = alpha, ["eps"] = eps, ["weight_decay"] = weight_decay,
            ["momentum"] = momentum, ["centered"] = centered ? 1 : 0,
        }) { }

    private static readonly string[] Names = ["square_avg", "momentum_buffer", "grad_avg"];
    protected override IReadOnlyCollection<string> StateNames => Names;

    protected override void Validate(ParamGroup group, string where)
    {
        base.Validate(group, where);
        if (!(group["alpha"] >= 0)) throw new ArgumentException($"{where}: invalid alpha={group["alpha"]}");
        if (!(group["eps"] >= 0)) throw new ArgumentException($"{where}: invalid eps={group["eps"]}");
        if (!(group["momentum"] >= 0)) throw new ArgumentException($"{where}: invalid momentum={group["momentum"]}");
    }

    protected override void Update(ParamGroup group, Tensor param, Tensor grad, ParamState state)
    {
        double lr = group.lr, alpha = group["alpha"], eps = group["eps"], wd = group.weight_decay, momentum = group["momentum"];
        var squareAvg = state.GetOrZeros("square_avg", param);                       // [*param]
        if (momentum > 0) state.GetOrZeros("momentum_buffer", param);
        if (group.Flag("centered")) state.GetOrZeros("grad_avg", param);
        state.step++;

        if (wd != 0) grad = grad.add(param, wd);
        squareAvg.mul_(alpha).addcmul_(grad, grad, 1 - alpha);
        Tensor avg;
        if (group.Flag("centered"))
        {
            var gradAvg = state["grad_avg"].mul_(alpha).add_(grad, 1 - alpha);
            avg = squareAvg.clone().addcmul_(gradAvg, gradAvg, -1).sqrt_();
        }
        else avg = squareAvg.sqrt();
        avg.add_(eps);

        if (momentum > 0)
        {
            var buf = state["momentum_buffer"].mul_(momentum).addcdiv_(grad, avg);
            param.add_(buf, -lr);
        }
        else param.addcdiv_(grad, avg, -lr);
    }
}
