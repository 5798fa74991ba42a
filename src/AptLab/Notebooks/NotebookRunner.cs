using System.ComponentModel;
using System.Diagnostics;

namespace AptLab.Notebooks;

/// <summary>How <see cref="NotebookRunner.Run"/> runs a notebook.</summary>
public sealed record NotebookRunOptions
{
    /// <summary>The repository (the folder holding AptLab.sln): projects are resolved in it.</summary>
    public required string RepoRoot { get; init; }

    /// <summary>Run folders handed to the notebook: <c>APTLAB_RUN</c> gets the first, <c>APTLAB_RUNS</c> all of them
    /// (joined by the path separator). Empty: the notebook picks (the newest run under results/).</summary>
    public IReadOnlyList<string> Runs { get; init; } = [];

    /// <summary>The results root the notebook searches when no run is given (<c>APTLAB_RESULTS</c>); null: <c>&lt;repo&gt;/results</c>.</summary>
    public string? ResultsRoot { get; init; }

    /// <summary>Where the generated app goes; null: <c>&lt;repo&gt;/obj/notebooks</c>. A stable folder keeps the SDK's
    /// build cache (keyed by the app's path) warm between runs.</summary>
    public string? AppDirectory { get; init; }

    /// <summary>Build and run together; the process tree is killed when it is exceeded.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>More environment variables for the notebook.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>The outcome of a notebook run: the exit code of <c>dotnet run</c> (the notebook's own, or 1 when the build failed).</summary>
public sealed record NotebookRunResult(int ExitCode, bool TimedOut, string AppPath, ConvertedNotebook App)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;
}

/// <summary>
/// Runs a notebook headless: converts it (<see cref="NotebookConverter"/>), writes <c>&lt;AppDirectory&gt;/&lt;name&gt;.cs</c>
/// and runs <c>dotnet run --file</c> on it in the notebook's folder (as the kernel would), streaming each line of
/// output as it comes. The first run of an app builds it into <c>~/.local/share/dotnet/runfile/</c>; later runs
/// of an unchanged notebook reuse that build. No MSBuild node or compiler server outlives the run.
/// </summary>
public static class NotebookRunner
{
    public const string RunVariable = "APTLAB_RUN";
    public const string RunsVariable = "APTLAB_RUNS";
    public const string ResultsVariable = "APTLAB_RESULTS";

    /// <summary>Exit code reported when the timeout killed the run (as coreutils' timeout does).</summary>
    public const int TimeoutExitCode = 124;

    public static NotebookRunResult Run(string notebookPath, NotebookRunOptions options, Action<string> stdout, Action<string> stderr)
    {
        var notebook = NotebookDocument.Load(notebookPath);
        var app = NotebookConverter.Convert(notebook, options.RepoRoot);
        var appDir = options.AppDirectory ?? Path.Combine(options.RepoRoot, "obj", "notebooks");
        Directory.CreateDirectory(appDir);
        var appPath = Path.Combine(appDir, Path.GetFileNameWithoutExtension(notebook.Path) + ".cs");
        if (!File.Exists(appPath) || File.ReadAllText(appPath) != app.Source)       // an untouched file keeps the build cache valid
            File.WriteAllText(appPath, app.Source);

        var psi = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = Path.GetDirectoryName(notebook.Path)!,
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false, CreateNoWindow = true,
        };
        foreach (var a in new[] { "run", "--file", appPath }) psi.ArgumentList.Add(a);
        var env = psi.Environment;
        env["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        env["DOTNET_NOLOGO"] = "1";
        env["MSBUILDDISABLENODEREUSE"] = "1";                  // no MSBuild worker nodes left behind
        env["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        env["UseSharedCompilation"] = "false";                 // MSBuild reads it as a property: no VBCSCompiler server
        if (options.Runs.Count > 0)                            // else an APTLAB_RUN(S) of the caller's environment applies
        {
            var runs = options.Runs.Select(r => Path.GetFullPath(r)).ToList();
            foreach (var r in runs)
                if (!Directory.Exists(r)) throw new DirectoryNotFoundException($"run folder not found: {r}");
            env[RunVariable] = runs[0];
            env[RunsVariable] = string.Join(Path.PathSeparator, runs);
        }
        if (options.ResultsRoot is not null) env[ResultsVariable] = Path.GetFullPath(options.ResultsRoot);
        foreach (var (k, v) in options.Environment) env[k] = v;

        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) stdout(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) stderr(e.Data); };
        try { p.Start(); }
        catch (Win32Exception e) { throw new InvalidOperationException($"cannot start '{psi.FileName}' to run {notebook.Path}: {e.Message}", e); }
        p.StandardInput.Close();                               // a notebook reading stdin sees end-of-file, not a hang
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool finished = p.WaitForExit(options.Timeout);
        if (!finished)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* it just exited */ }
            p.WaitForExit();
            stderr($"{notebook.Path}: timed out after {options.Timeout.TotalSeconds:0} s (build and run); killed");
            return new NotebookRunResult(TimeoutExitCode, true, appPath, app);
        }
        p.WaitForExit();                                       // drains the asynchronous output readers
        return new NotebookRunResult(p.ExitCode, false, appPath, app);
    }

    /// <summary>The folder holding AptLab.sln at or above <paramref name="start"/>, or null.</summary>
    public static string? FindRepo(string start)
    {
        for (var d = new DirectoryInfo(Path.GetFullPath(start)); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "AptLab.sln"))) return d.FullName;
        return null;
    }

    // The dotnet host running us (the CLI and tests run under it), else DOTNET_HOST_PATH, else dotnet on PATH.
    private static string DotnetHost()
    {
        var self = System.Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        var host = System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
    }
}
