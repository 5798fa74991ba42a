using System.Globalization;
using AptLab.Torch.Distributed;

namespace AptLab.Training;

/// <summary>What a trainer does at a NaN or infinite loss or gradient norm (config key <c>nonfinite</c>).</summary>
public enum NonFiniteMode
{
    /// <summary>Stop the run at once, before the update is applied and before any checkpoint is written.</summary>
    Stop,
    /// <summary>Drop the update (as mixed-precision trainers do with an overflowing step) and go on, at most
    /// <c>max_nonfinite_skips</c> times per stage.</summary>
    Skip,
}

/// <summary>
/// The divergence check of one training stage (docs/reliability.md#7-diverged-runs): every trainer asks it, after the
/// backward pass and before the optimizer step, whether the step's losses and gradient norm are finite. In stop mode
/// a non-finite value ends the run with a <see cref="NonFiniteException"/> naming the stage, the step, the quantity and
/// its value; in skip mode the update is dropped and counted, and more than <see cref="MaxSkips"/> skips stop the run.
/// With a process group every rank takes the same decision (one all-reduce of a flag), since the losses of a
/// data-parallel step are per rank.
/// </summary>
public sealed class NonFiniteGuard(string stage, NonFiniteMode mode = NonFiniteMode.Stop, int maxSkips = 0,
    ProcessGroup? group = null, TextWriter? output = null)
{
    public string Stage { get; } = stage;
    public NonFiniteMode Mode { get; } = mode;
    public int MaxSkips { get; } = maxSkips >= 0 ? maxSkips : throw new ArgumentException($"max_nonfinite_skips must be >= 0, got {maxSkips}");
    /// <summary>Updates dropped so far (skip mode).</summary>
    public int Skipped { get; private set; }

    /// <summary>True when every value is finite on every rank: apply the update. Otherwise stop mode throws; skip mode
    /// counts the skip, says so on the output and returns false (throws past <see cref="MaxSkips"/>).</summary>
    /// <param name="step">the step being taken (1-based, as logged)</param>
    /// <param name="values">the step's losses and gradient norms by name</param>
    public bool Allows(long step, params (string Name, double Value)[] values)
    {
        var bad = values.Where(v => !double.IsFinite(v.Value)).ToList();
        bool anyBad = bad.Count > 0;
        if (group is not null)
        {
            using var scope = torch.NewScope();
            var flag = torch.tensor(new[] { anyBad ? 1.0 : 0.0 }, 1);
            group.all_reduce(flag, ReduceOp.Max);
            anyBad = flag.item<double>() > 0;
        }
        if (!anyBad) return true;
        var what = bad.Count > 0 ? string.Join(", ", bad.Select(v => $"{v.Name} is {Format(v.Value)}")) : "a loss or gradient norm is non-finite on another rank";
        if (Mode == NonFiniteMode.Stop)
            throw new NonFiniteException($"{Stage} step {step}: {what}; the run diverged and stops before this update (checkpoints written so far are " +
                                         "kept). Lower the learning rate, or set 'nonfinite: skip' to skip such steps");
        Skipped++;
        if (Skipped > MaxSkips)
            throw new NonFiniteException($"{Stage} step {step}: {what}; {Skipped} non-finite steps skipped, more than max_nonfinite_skips " +
                                         $"({MaxSkips}): the run diverged and stops");
        output?.WriteLine($"[{Stage}] step {step}: {what}; update skipped ({Skipped} of at most {MaxSkips})");
        return false;
    }

    /// <summary>The total L2 norm of the gradients of <paramref name="parameters"/> (0 without any), computed on their
    /// device with one value brought back.</summary>
    public static double GradNorm(IEnumerable<Tensor> parameters)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var norms = parameters.Select(p => p.grad).OfType<Tensor>().Select(g => g.to(ScalarType.Float64).norm(2)).ToList();
        if (norms.Count == 0) return 0;
        var device = norms[0].device;
        return torch.stack(norms.Select(n => n.to(device)).ToArray()).norm(2).item<double>();
    }

    private static string Format(double v) =>
        double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("G6", CultureInfo.InvariantCulture);
}
