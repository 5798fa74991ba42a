using System.CommandLine;
using AptLab.Data.Media;
using AptLab.Notebooks;
using AptLab.Torch.IO;

namespace AptLab.Cli;

/// <summary>
/// `aptlab notebook run NOTEBOOK --out DIR [--run RUN]...`: executes a notebook in the .NET Interactive kernel (through
/// Jupyter's nbconvert) and writes the executed notebook, with its plots and tables, into DIR (docs/notebooks.md).
/// </summary>
public static class NotebookCommand
{
    public static Command Create()
    {
        var cmd = new Command("notebook", "Execute C# notebooks (.ipynb) in the .NET Interactive kernel");
        cmd.Subcommands.Add(RunCommand());
        return cmd;
    }

    private static Command RunCommand()
    {
        var notebook = new Argument<FileInfo>("notebook") { Description = "the .ipynb file" };
        var runs = new Option<string[]>("--run") { Description = "a run folder results/<experiment>/<run-id> (repeat to compare runs); default: the newest run" };
        var output = new Option<string>("--out") { Description = "folder for the executed notebook (with its outputs)", Required = true };
        var results = new Option<string?>("--results") { Description = "the results root searched when no --run is given (default: <repo>/results)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace an executed notebook of the same name in --out" };
        var timeout = new Option<int>("--timeout") { Description = "seconds allowed for the whole execution", DefaultValueFactory = _ => 600 };
        var cmd = new Command("run", "Execute a notebook (nbconvert --execute, .net-csharp kernel) and write it with its outputs into --out");
        cmd.Arguments.Add(notebook);
        cmd.Options.Add(runs);
        cmd.Options.Add(output);
        cmd.Options.Add(results);
        cmd.Options.Add(timeout);
        cmd.Options.Add(overwrite);
        cmd.SetAction(parse => Guarded(() =>
        {
            var nb = parse.GetValue(notebook)!;
            if (!nb.Exists) throw new FileNotFoundException($"notebook not found: {nb.FullName}");
            var options = new NotebookRunOptions
            {
                OutputDirectory = OutputPath.CheckFolder(parse.GetValue(output)!, "--out", [nb.Name], parse.GetValue(overwrite)),
                Overwrite = parse.GetValue(overwrite),
                Runs = parse.GetValue(runs) ?? [],
                ResultsRoot = parse.GetValue(results),
                Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
            };
            bool runsFromEnvironment = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NotebookRunner.RunVariable))
                                       || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NotebookRunner.RunsVariable));
            if (options.Runs.Count == 0 && !runsFromEnvironment)          // fail before starting the kernel, not inside the notebook
            {
                var repo = NotebookRunner.FindRepo(nb.DirectoryName ?? ".") ?? Environment.CurrentDirectory;
                var fromEnvironment = Environment.GetEnvironmentVariable(NotebookRunner.ResultsVariable);
                var root = Path.GetFullPath(options.ResultsRoot ?? (string.IsNullOrEmpty(fromEnvironment) ? Path.Combine(repo, "results") : fromEnvironment));
                if (RunFolders.All(root).Count == 0)
                    throw new DirectoryNotFoundException($"no run under {root} (a run folder is <results>/<experiment>/<run-id>/ with a metrics.csv): " +
                                                         "run `./aptlab run configs/demo.yaml` first or pass --run DIR");
            }
            if (NotebookKernel.Missing() is string missing) throw new InvalidOperationException(missing);
            var result = NotebookRunner.Run(nb.FullName, options, Console.Out.WriteLine, Console.Error.WriteLine);
            foreach (var e in result.Errors) Console.Error.WriteLine($"error: {nb.Name}, {e}");
            if (result.ExecutedPath is not null) Console.WriteLine($"executed notebook: {result.ExecutedPath}");
            return result.Succeeded ? 0 : result.TimedOut ? NotebookRunner.TimeoutExitCode : 1;
        }));
        return cmd;
    }

    // User errors (a missing notebook or run folder, no kernel) print one line and exit with 2.
    private static int Guarded(Func<int> action)
    {
        try { return action(); }
        catch (Exception e) when (e is NotebookException or IOException or InvalidDataException or InvalidOperationException or ArgumentException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
