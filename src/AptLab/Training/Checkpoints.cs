using System.Globalization;
using AptLab.Torch.IO;

namespace AptLab.Training;

/// <summary>
/// Periodic training checkpoints <c>checkpoints/&lt;prefix&gt;-step-000123.safetensors</c>, written atomically (temp file
/// + rename, so a run killed at any moment leaves the previous checkpoint intact) with the step in the metadata; weights
/// holding NaN or infinities are never written (<see cref="SaveFile"/>).
/// </summary>
public static class Checkpoints
{
    public static string PathFor(string dir, string prefix, int step) =>
        Path.Combine(dir, $"{prefix}-step-{step.ToString("D6", CultureInfo.InvariantCulture)}.safetensors");

    public static string Save(string dir, string prefix, int step, IReadOnlyDictionary<string, Tensor> state,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { ["step"] = step.ToString(CultureInfo.InvariantCulture), ["prefix"] = prefix };
        var path = PathFor(dir, prefix, step);
        SaveFile(path, state, meta);
        return path;
    }

    /// <summary>Writes a checkpoint file atomically after checking that every tensor is finite: the weights of a
    /// diverged model are refused with a <see cref="NonFiniteException"/> naming the tensors, and a file already at
    /// <paramref name="path"/> (the previous checkpoint) stays as it was (docs/reliability.md#7-diverged-runs).</summary>
    public static void SaveFile(string path, IReadOnlyDictionary<string, Tensor> state, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Finite.CheckAll(state, $"refusing to write {path}");
        Safetensors.Save(path, state, metadata);
    }

    /// <summary>The step of a checkpoint named by <see cref="PathFor"/>.</summary>
    public static int StepOf(string path)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        int at = name.LastIndexOf("-step-", StringComparison.Ordinal);
        return at >= 0 && int.TryParse(name.AsSpan(at + 6), NumberStyles.None, CultureInfo.InvariantCulture, out int step) ? step
            : throw new ArgumentException($"{path} is not named like a step checkpoint (PREFIX-step-000123.safetensors)");
    }

    /// <summary>The newest complete checkpoint of <paramref name="prefix"/>, or null.</summary>
    public static string? Latest(string dir, string prefix)
    {
        if (!Directory.Exists(dir)) return null;
        return Directory.EnumerateFiles(dir, prefix + "-step-*.safetensors")
            .OrderBy(p => p, StringComparer.Ordinal).LastOrDefault();
    }
}
