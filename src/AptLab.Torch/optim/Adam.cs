namespace AptLab.Torch.optim;

/// <summary>
/// Adam (torch.optim.Adam): L2 weight decay added to the gradient, bias-corrected moments, optional AMSGrad.
/// <code>
/// g = grad + weight_decay * p
/// exp_avg = beta1 * exp_avg + (1 - beta1) * g;  exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
/// denom = sqrt(amsgrad ? max_exp_avg_sq : exp_avg_sq) / sqrt(1 - beta2^t) + eps
/// p -= lr / (1 - beta1^t) * exp_avg / denom
/// </code>
/// State: step, exp_avg, exp_avg_sq, max_exp_avg_sq (with amsgrad). Options: lr, beta1, beta2, eps,
/// weight_decay, amsgrad.
/// </summary>
public class Adam : Optimizer
{
    private readonly bool decoupled;

    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, (double beta1, double beta2)? betas = null,
        double eps = 1e-8, double weight_decay = 0, bool amsgrad = false)
        : this([new ParamGroup(parameters)], lr, betas, eps, weight_decay, amsgrad) { }

    public Adam(IEnumerable<ParamGroup> param_groups, double lr = 1e-3, (double beta1, double beta2)? betas = null,
        double eps = 1e-8, double weight_decay = 0, bool amsgrad = false)
        : this(param_groups, lr, betas, eps, weight_decay, amsgrad, decoupled: false) { }

    private protected Adam(IEnumerable<ParamGroup> param_groups, double lr, (double beta1, double beta2)? betas,
        double eps, double weight_decay, bool amsgrad, bool decoupled)
        : base(param_groups, MakeDefaults(lr, betas ?? (0.9, 0.999), eps, weight_decay, amsgrad)) => this.decoupled = decoupled;

    private static Dictionary<string, double> MakeDefaults(double lr, (double beta1, double beta2) betas, double eps,
        double weight_decay, bool amsgrad) => new()
    {
        ["lr"] = lr, ["beta1"] = betas.beta1, ["beta2"] = betas.beta2, ["eps"] = eps,
        ["weight_decay"] = weight_decay, ["amsgrad"] = amsgrad ? 1 : 0,
    };

    private static readonly string[] Names = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];
    protected override IReadOnlyCollection<string> StateNames => Names;

    protected override void Validate(ParamGroup group, string where)
    {
        base.Validate(group, where);
        if (!(group["eps"] >= 0)) throw new ArgumentException($"{where}: invalid eps={group["eps"]}");
        foreach (var b in new[] { "beta1", "beta2" })
            if (!(group[b] >= 0 && group[b] < 1)) throw new ArgumentException($"{where}: invalid {b}={group[b]} (must be in [0, 1))");
    }

    protected override void Update(ParamGroup group, Tensor param, Tensor grad, ParamState state)
    {
        double lr = group.lr, beta1 = group["beta1"], beta2 = group["beta2"], eps = group["eps"], wd = group.weight_decay;
        bool amsgrad = group.Flag("amsgrad");
        var expAvg = state.GetOrZeros("exp_avg", param);          // [*param]
        var expAvgSq = state.GetOrZeros("exp_avg_sq", param);     // [*param]
        state.step++;

        if (decoupled) param.mul_(1 - lr * wd);                   // AdamW: decay the weights themselves
        else if (wd != 0) grad = grad.add(param, wd);             // Adam: L2 penalty in the gradient

        expAvg.mul_(beta1).add_(grad, 1 - beta1);
        expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

        double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
        double biasCorrection2Sqrt = Math.Sqrt(1 - Math.Pow(beta2, state.step));
        double stepSize = lr / biasCorrection1;

        var second = expAvgSq;
        if (amsgrad)
        {
            var maxSq = state.GetOrZeros("max_exp_avg_sq", param);
            maxSq.copy_(maxSq.maximum(expAvgSq));
            second = maxSq;
        }
        var denom = (second.sqrt() / biasCorrection2Sqrt).add_(eps);
        param.addcdiv_(expAvg, denom, -stepSize);
    }
}

/// <summary>
/// AdamW (torch.optim.AdamW): Adam with decoupled weight decay, p *= 1 - lr * weight_decay before the Adam
/// update (and no L2 term in the gradient). Default weight_decay 1e-2.
/// </summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, (double beta1, double beta2)? betas = null,
        double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false)
        : this([new ParamGroup(parameters)], lr, betas, eps, weight_decay, amsgrad) { }

    public AdamW(IEnumerable<ParamGroup> param_groups, double lr = 1e-3, (double beta1, double beta2)? betas = null,
        double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false)
        : base(param_groups, lr, betas, eps, weight_decay, amsgrad, decoupled: true) { }
}
