using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace AptLab.Notebooks;

/// <summary>How <see cref="NotebookRunner.Run"/> executes a notebook.</summary>
public sealed record NotebookRunOptions
{
    /// <summary>The folder the executed notebook (with its outputs) is written to; created if missing.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Replace an executed notebook of the same name already in <see cref="OutputDirectory"/>.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Run folders handed to the notebook: <c>APTLAB_RUN</c> gets the first, <c>APTLAB_RUNS</c> all of them
    /// (joined by the path separator). Empty: the notebook picks (the newest run under results/).</summary>
    public IReadOnlyList<string> Runs { get; init; } = [];

    /// <summary>The results root the notebook searches when no run is given (<c>APTLAB_RESULTS</c>).</summary>
    public string? ResultsRoot { get; init; }

    /// <summary>The whole execution (kernel start and every cell); the process tree is killed when it is exceeded.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>More environment variables for the kernel.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>The outcome: nbconvert's exit code, the executed notebook (null if none was written) and its error outputs.</summary>
public sealed record NotebookRunResult(int ExitCode, bool TimedOut, string? ExecutedPath, IReadOnlyList<string> Errors)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut && ExecutedPath is not null && Errors.Count == 0;
}

/// <summary>
/// Executes a notebook in the .NET Interactive kernel (<c>.net-csharp</c>, the <c>Microsoft.dotnet-interactive</c>
/// local tool registered by <c>dotnet interactive jupyter install</c>; `make deps` does both) through Jupyter's
/// <c>nbconvert --to notebook --execute</c>, in the notebook's folder as Jupyter would. The executed notebook, every
/// cell's outputs included (images as image/png, tables as text/html), is written to the folder the caller names;
/// nothing is written next to the notebook or into the runs it reads. A cell that throws keeps running the rest
/// (<c>--allow-errors</c>) and is reported in <see cref="NotebookRunResult.Errors"/>.
/// </summary>
public static class NotebookRunner
{
    public const string RunVariable = "APTLAB_RUN";
    public const string RunsVariable = "APTLAB_RUNS";
    public const string ResultsVariable = "APTLAB_RESULTS";
    public const string KernelName = ".net-csharp";

    /// <summary>Exit code reported when the timeout killed the run (as coreutils' timeout does).</summary>
    public const int TimeoutExitCode = 124;

    public static NotebookRunResult Run(string notebookPath, NotebookRunOptions options, Action<string> stdout, Action<string> stderr)
    {
        var notebook = Path.GetFullPath(notebookPath);
        if (!File.Exists(notebook)) throw new FileNotFoundException($"notebook not found: {notebook}", notebook);
        var outDir = Path.GetFullPath(options.OutputDirectory);
        Directory.CreateDirectory(outDir);
        var executed = Path.Combine(outDir, Path.GetFileName(notebook));
        if (executed == notebook) throw new ArgumentException($"the output folder {outDir} holds the notebook itself; name another folder");
        if (File.Exists(executed) && !options.Overwrite)
            throw new IOException($"--out {outDir}: already holds {Path.GetFileName(notebook)}; pass --overwrite to replace it or name another folder");
        // nbconvert writes a temporary name; only a finished notebook replaces the target (a stale result never passes
        // for this run's, and a failed run never destroys an earlier one)
        var temp = $".{Path.GetFileNameWithoutExtension(notebook)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}".Substring(0, 48) + ".ipynb";
        var tempPath = Path.Combine(outDir, temp);

        var psi = new ProcessStartInfo(NotebookKernel.Python())
        {
            WorkingDirectory = Path.GetDirectoryName(notebook)!,
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     "-m", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                     $"--ExecutePreprocessor.kernel_name={KernelName}", "--ExecutePreprocessor.startup_timeout=180",
                     $"--ExecutePreprocessor.timeout={Math.Max(1, (int)options.Timeout.TotalSeconds)}",
                     "--output-dir", outDir, "--output", temp, notebook,
                 })
            psi.ArgumentList.Add(a);
        var env = psi.Environment;
        env["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        env["DOTNET_NOLOGO"] = "1";
        env["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1";                     // ipykernel's debugger warning on every start
        if (options.Runs.Count > 0)                                         // else an APTLAB_RUN(S) of the caller's environment applies
        {
            var runs = options.Runs.Select(Path.GetFullPath).ToList();
            foreach (var r in runs)
                if (!Directory.Exists(r)) throw new DirectoryNotFoundException($"run folder not found: {r}");
            env[RunVariable] = runs[0];
            env[RunsVariable] = string.Join(Path.PathSeparator, runs);
        }
        if (options.ResultsRoot is not null) env[ResultsVariable] = Path.GetFullPath(options.ResultsRoot);
        foreach (var (k, v) in options.Environment) env[k] = v;

        var log = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null && !Noise(e.Data)) stdout(e.Data); };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null || Noise(e.Data)) return;
            lock (log) log.AppendLine(e.Data);
            stderr(e.Data);
        };
        try { p.Start(); }
        catch (Win32Exception e) { throw new InvalidOperationException($"cannot start '{psi.FileName}' to run {notebook}: {e.Message}", e); }
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(options.Timeout + TimeSpan.FromMinutes(1)))      // nbconvert's own per-cell timeout fires first
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* it just exited */ }
            p.WaitForExit();
            File.Delete(tempPath);
            stderr($"{notebook}: timed out after {options.Timeout.TotalSeconds:0} s; killed");
            return new NotebookRunResult(TimeoutExitCode, true, null, []);
        }
        p.WaitForExit();                                                    // drains the asynchronous readers
        if (File.Exists(tempPath)) File.Move(tempPath, executed, overwrite: true);
        else
        {
            var hint = log.ToString().Contains("No such kernel") ? $" (the {KernelName} kernel is not installed: run `make deps`)" : "";
            return new NotebookRunResult(p.ExitCode == 0 ? 1 : p.ExitCode, false, null, [$"nbconvert wrote no notebook{hint}"]);
        }
        var errors = NotebookOutputs.Load(executed).Errors
            .Select(e => $"cell {e.Cell.Index + 1}: {e.Error.ErrorName}: {FirstLine(e.Error.ErrorValue)}").ToList();
        return new NotebookRunResult(p.ExitCode, false, executed, errors);
    }

    /// <summary>The folder holding AptLab.sln at or above <paramref name="start"/>, or null.</summary>
    public static string? FindRepo(string start)
    {
        for (var d = new DirectoryInfo(Path.GetFullPath(start)); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "AptLab.sln"))) return d.FullName;
        return null;
    }

    private static string FirstLine(string s) => s.Split('\n', 2)[0].TrimEnd('\r');

    // The kernel host's startup chatter (ASP.NET hosting lines) is not worth showing.
    private static bool Noise(string line) =>
        line.StartsWith("info: Microsoft.Hosting", StringComparison.Ordinal) || line.StartsWith("      ", StringComparison.Ordinal)
        || line.Contains("MissingIDFieldWarning", StringComparison.Ordinal) || line.Contains("validator.normalize", StringComparison.Ordinal);
}
