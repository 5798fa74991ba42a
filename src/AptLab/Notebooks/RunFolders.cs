namespace AptLab.Notebooks;

/// <summary>
/// The run folders a notebook looks at. <c>aptlab notebook run --run DIR</c> sets <c>APTLAB_RUN</c> (the first run)
/// and <c>APTLAB_RUNS</c> (all, joined by the path separator); without them a notebook takes the newest run under
/// the results root (<c>APTLAB_RESULTS</c>, else <c>results/</c> of the repository above the working directory).
/// A run folder is <c>results/&lt;experiment&gt;/&lt;run-id&gt;/</c> holding <c>metrics.csv</c>.
/// <paramref name="env"/> arguments replace the process environment (for tests); null reads it.
/// </summary>
public static class RunFolders
{
    /// <summary>The run to explore: <c>APTLAB_RUN</c>, else the first of <c>APTLAB_RUNS</c>, else the newest run.</summary>
    public static string Current(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        if (Given(env) is { Count: > 0 } runs) return runs[0];
        return Newest(ResultsRoot(env));
    }

    /// <summary>The runs to compare: <c>APTLAB_RUNS</c> (or <c>APTLAB_RUN</c>), else the newest run of each experiment.</summary>
    public static IReadOnlyList<string> Selected(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        if (Given(env) is { Count: > 0 } runs) return runs;
        var root = ResultsRoot(env);
        var newestPerExperiment = All(root).GroupBy(r => Path.GetFileName(Path.GetDirectoryName(r)!))
            .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => NewestOf(g)).ToList();
        if (newestPerExperiment.Count == 0) throw NoRuns(root);
        return newestPerExperiment;
    }

    /// <summary>The results root: <c>APTLAB_RESULTS</c>, else <c>results/</c> beside the AptLab.sln above the working directory, else <c>./results</c>.</summary>
    public static string ResultsRoot(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        if (env(NotebookRunner.ResultsVariable) is { Length: > 0 } r) return Path.GetFullPath(r);
        var repo = NotebookRunner.FindRepo(Environment.CurrentDirectory);
        return Path.Combine(repo ?? Environment.CurrentDirectory, "results");
    }

    /// <summary>Every run folder (<c>&lt;root&gt;/&lt;experiment&gt;/&lt;run-id&gt;/metrics.csv</c> exists), in path order.</summary>
    public static IReadOnlyList<string> All(string resultsRoot)
    {
        if (!Directory.Exists(resultsRoot)) return [];
        return Directory.GetDirectories(resultsRoot).SelectMany(Directory.GetDirectories)
            .Where(d => File.Exists(Path.Combine(d, "metrics.csv"))).OrderBy(d => d, StringComparer.Ordinal).ToList();
    }

    /// <summary>The run whose metrics.csv was written last (ties: the greater path).</summary>
    public static string Newest(string resultsRoot)
    {
        var runs = All(resultsRoot);
        return runs.Count == 0 ? throw NoRuns(resultsRoot) : NewestOf(runs);
    }

    /// <summary>"experiment/run-id" for a run folder.</summary>
    public static string Name(string runDir)
    {
        var full = Path.GetFullPath(runDir).TrimEnd(Path.DirectorySeparatorChar);
        return Path.GetFileName(Path.GetDirectoryName(full)) + "/" + Path.GetFileName(full);
    }

    private static List<string>? Given(Func<string, string?> env)
    {
        var list = env(NotebookRunner.RunsVariable) is { Length: > 0 } many
            ? many.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).ToList()
            : env(NotebookRunner.RunVariable) is { Length: > 0 } one ? [one] : null;
        if (list is null) return null;
        var full = list.Select(Path.GetFullPath).ToList();
        foreach (var r in full)
            if (!Directory.Exists(r)) throw new DirectoryNotFoundException($"run folder not found: {r} (from {NotebookRunner.RunVariable}/{NotebookRunner.RunsVariable})");
        return full;
    }

    private static string NewestOf(IEnumerable<string> runs) =>
        runs.OrderBy(r => File.GetLastWriteTimeUtc(Path.Combine(r, "metrics.csv"))).ThenBy(r => r, StringComparer.Ordinal).Last();

    private static DirectoryNotFoundException NoRuns(string root) =>
        new($"no run under {root} (a run folder is <results>/<experiment>/<run-id>/ with a metrics.csv): " +
            $"pass 'aptlab notebook run NOTEBOOK --run DIR' or set {NotebookRunner.ResultsVariable}");
}
