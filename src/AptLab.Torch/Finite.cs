using System.Globalization;

namespace AptLab.Torch;

/// <summary>A loss, gradient norm or weight that is NaN or infinite: a diverged run (docs/reliability.md).</summary>
public sealed class NonFiniteException(string message) : Exception(message);

/// <summary>
/// Checks for NaN and infinities, for trainers that must stop at the first non-finite loss or gradient norm and never
/// write a checkpoint with non-finite weights. Tensor checks are one <c>isfinite().all()</c> reduction per tensor on its
/// device (only a bool comes back to the host); meta tensors hold no values and pass.
/// </summary>
public static class Finite
{
    /// <summary>Returns <paramref name="value"/>; throws <see cref="NonFiniteException"/> "WHAT is nan" when it is not finite.
    /// <paramref name="what"/> names it with its place, e.g. "apt_image loss_g at step 12".</summary>
    public static double Check(double value, string what) =>
        double.IsFinite(value) ? value : throw new NonFiniteException($"{what} is {Format(value)}");

    /// <summary>True when every element of <paramref name="t"/> is finite.</summary>
    public static bool All(Tensor t)
    {
        if (t.device.Type == DeviceType.Meta || t.numel() == 0) return true;
        using var _ = torch.no_grad();
        using var finite = t.detach().isfinite();
        using var all = finite.all();
        return all.item<bool>();
    }

    /// <summary>The names of the tensors holding NaN or infinities, in order.</summary>
    public static List<string> NonFiniteNames(IEnumerable<KeyValuePair<string, Tensor>> tensors) =>
        tensors.Where(kv => !All(kv.Value)).Select(kv => kv.Key).ToList();

    /// <summary>Throws <see cref="NonFiniteException"/> naming (up to five of) the tensors that hold NaN or infinities,
    /// e.g. before a checkpoint is written: "refusing to save checkpoints/cd.safetensors: 2 tensors hold NaN or inf
    /// values (blocks.0.attn.q.weight, head.weight)".</summary>
    public static void CheckAll(IEnumerable<KeyValuePair<string, Tensor>> tensors, string what)
    {
        var bad = NonFiniteNames(tensors);
        if (bad.Count == 0) return;
        throw new NonFiniteException($"{what}: {bad.Count} tensor{(bad.Count == 1 ? "" : "s")} hold{(bad.Count == 1 ? "s" : "")} NaN or inf values " +
                                     $"({string.Join(", ", bad.Take(5))}{(bad.Count > 5 ? ", ..." : "")})");
    }

    private static string Format(double v) =>
        double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("R", CultureInfo.InvariantCulture);
}
