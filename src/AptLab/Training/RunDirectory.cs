using System.Text;

namespace AptLab.Training;

/// <summary>
/// The folder of one run, <c>results/&lt;experiment&gt;/&lt;run-id&gt;/</c> (DESIGN.md section 2): the resolved config,
/// TensorBoard event files, <c>metrics.csv</c>, <c>checkpoints/</c>, <c>samples/</c> and <c>plots/</c>.
/// </summary>
public sealed class RunDirectory
{
    public string Root { get; }
    public string Experiment { get; }
    public string RunId { get; }

    private RunDirectory(string root, string experiment, string runId)
    {
        (Root, Experiment, RunId) = (root, experiment, runId);
        foreach (var d in new[] { Root, Checkpoints, Samples, Plots, Events }) Directory.CreateDirectory(d);
    }

    public string Checkpoints => Path.Combine(Root, "checkpoints");
    public string Samples => Path.Combine(Root, "samples");
    public string Plots => Path.Combine(Root, "plots");
    public string Events => Path.Combine(Root, "events");
    public string MetricsCsv => Path.Combine(Root, "metrics.csv");
    public string ConfigFile => Path.Combine(Root, "config.yaml");
    public string File(string name) => Path.Combine(Root, name);

    /// <summary>A new run: <paramref name="runId"/> defaults to a timestamp (UTC) such as 20261121-235959.</summary>
    public static RunDirectory Create(string resultsRoot, string experiment, string? runId = null)
    {
        runId ??= DateTime.UtcNow.ToString("yyyyMMdd-HHmmss");
        var root = Path.Combine(resultsRoot, experiment, runId);
        for (int i = 2; Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any(); i++)
            root = Path.Combine(resultsRoot, experiment, $"{runId}-{i}");
        return new RunDirectory(root, experiment, Path.GetFileName(root));
    }

    /// <summary>An existing run (for --resume): the folder must exist.</summary>
    public static RunDirectory Open(string path)
    {
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"run folder not found: {path}");
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        return new RunDirectory(full, Path.GetFileName(Path.GetDirectoryName(full)!), Path.GetFileName(full));
    }

    /// <summary>Writes a text file atomically (<see cref="AptLab.Torch.IO.AtomicFile"/>: temp + rename): a crash leaves
    /// the old content or the new, never half, and a temporary name that a resumed run recognises and removes.</summary>
    public static void WriteAtomic(string path, string content) =>
        AptLab.Torch.IO.AtomicFile.Write(path, s => s.Write(new UTF8Encoding(false).GetBytes(content)));
}
