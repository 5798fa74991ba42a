namespace AptLab.Torch.optim;

/// <summary>Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.</summary>
public static class ClipGrad
{
    /// <summary>
    /// Scales the gradients of <paramref name="parameters"/> in place so that their total norm (all gradients
    /// viewed as one vector) is at most <paramref name="max_norm"/>: g *= min(1, max_norm / (total_norm + 1e-6)).
    /// Returns the total norm before clipping (a scalar tensor, owned by the caller's scope); 0 if no parameter
    /// has a gradient. <paramref name="norm_type"/> may be <see cref="double.PositiveInfinity"/>.
    /// </summary>
    public static Tensor clip_grad_norm_(IEnumerable<Tensor> parameters, double max_norm, double norm_type = 2.0,
        bool error_if_nonfinite = false)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return scope.Keep(torch.tensor(0.0));
        var device = grads[0].device;
        Tensor total;
        if (double.IsPositiveInfinity(norm_type))
        {
            var norms = grads.Select(g => g.abs().max().to(device)).ToList();
            total = norms.Count == 1 ? norms[0] : torch.stack(norms).max();
        }
        else
        {
            var norms = grads.Select(g => g.norm(norm_type).to(device)).ToList();
            total = torch.stack(norms).norm(norm_type);
        }
        if (error_if_nonfinite && !total.isfinite().item<bool>())
            throw new InvalidOperationException($"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite ({total.item<double>()})");
        var coef = (max_norm / (total + 1e-6)).clamp(max: 1.0);
        foreach (var g in grads) g.mul_(coef.to(g.device));
        return scope.Keep(total);
    }

    /// <summary>Clamps every gradient element of <paramref name="parameters"/> to [-clip_value, clip_value] in place.</summary>
    public static void clip_grad_value_(IEnumerable<Tensor> parameters, double clip_value)
    {
        if (!(clip_value >= 0)) throw new ArgumentException($"clip_grad_value_: clip_value must be >= 0, got {clip_value}");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        foreach (var p in parameters) p.grad?.clamp_(-clip_value, clip_value);
    }
}
