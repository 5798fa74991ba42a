using System.CommandLine;
using AptLab.Data.Media;
using AptLab.Notebooks;
using AptLab.Torch.IO;

namespace AptLab.Cli;

/// <summary>
/// `aptlab notebook run NOTEBOOK [--run DIR]...`: runs a .NET Interactive notebook without the (deprecated) kernel,
/// as a .NET 10 file-based app (see AptLab.Notebooks.NotebookConverter); `aptlab notebook convert` prints that app.
/// </summary>
public static class NotebookCommand
{
    public static Command Create()
    {
        var cmd = new Command("notebook", "Run C# notebooks (.ipynb) headless as .NET 10 file-based apps");
        cmd.Subcommands.Add(RunCommand());
        cmd.Subcommands.Add(ConvertCommand());
        return cmd;
    }

    private static Command RunCommand()
    {
        var notebook = new Argument<FileInfo>("notebook") { Description = "the .ipynb file" };
        var runs = new Option<string[]>("--run") { Description = "a run folder results/<experiment>/<run-id> (repeat to compare runs); default: the newest run" };
        var results = new Option<string?>("--results") { Description = "the results root searched when no --run is given (default: <repo>/results)" };
        var timeout = new Option<int>("--timeout") { Description = "seconds allowed for build and run", DefaultValueFactory = _ => 600 };
        var repo = new Option<string?>("--repo") { Description = "the AptLab repository (default: found above the notebook)" };
        var cmd = new Command("run", "Convert a notebook's C# cells into a file-based app and run it with dotnet run");
        cmd.Arguments.Add(notebook);
        cmd.Options.Add(runs);
        cmd.Options.Add(results);
        cmd.Options.Add(timeout);
        cmd.Options.Add(repo);
        cmd.SetAction(parse => Guarded(() =>
        {
            var nb = parse.GetValue(notebook)!;
            var options = new NotebookRunOptions
            {
                RepoRoot = Repo(parse.GetValue(repo), nb),
                Runs = parse.GetValue(runs) ?? [],
                ResultsRoot = parse.GetValue(results),
                Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
            };
            bool runsFromEnvironment = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NotebookRunner.RunVariable))
                                       || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NotebookRunner.RunsVariable));
            if (options.Runs.Count == 0 && !runsFromEnvironment)   // fail before the build, not inside the notebook
            {
                var fromEnvironment = Environment.GetEnvironmentVariable(NotebookRunner.ResultsVariable);
                var root = Path.GetFullPath(options.ResultsRoot
                    ?? (string.IsNullOrEmpty(fromEnvironment) ? Path.Combine(options.RepoRoot, "results") : fromEnvironment));
                if (RunFolders.All(root).Count == 0)
                    throw new DirectoryNotFoundException($"no run under {root} (a run folder is <results>/<experiment>/<run-id>/ with a metrics.csv): " +
                                                         "run './aptlab demo' first or pass --run DIR");
            }
            var result = NotebookRunner.Run(nb.FullName, options, Console.Out.WriteLine, Console.Error.WriteLine);
            if (!result.Succeeded) Console.Error.WriteLine($"notebook {nb.Name} failed with exit code {result.ExitCode} (app: {result.AppPath})");
            return result.ExitCode;
        }));
        return cmd;
    }

    private static Command ConvertCommand()
    {
        var notebook = new Argument<FileInfo>("notebook") { Description = "the .ipynb file" };
        var output = new Option<string?>("--output", "-o") { Description = "write the app (a .cs file) here instead of printing it" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace an existing --output file" };
        var repo = new Option<string?>("--repo") { Description = "the AptLab repository (default: found above the notebook)" };
        var cmd = new Command("convert", "Print the file-based app a notebook converts to");
        cmd.Arguments.Add(notebook);
        cmd.Options.Add(output);
        cmd.Options.Add(overwrite);
        cmd.Options.Add(repo);
        cmd.SetAction(parse => Guarded(() =>
        {
            var nb = parse.GetValue(notebook)!;
            var path = parse.GetValue(output) is string o
                ? OutputPath.CheckFile(o, OutputKind.Text, "--output", parse.GetValue(overwrite), [".cs"])
                : null;
            var app = NotebookConverter.Convert(NotebookDocument.Load(nb.FullName), Repo(parse.GetValue(repo), nb));
            if (path is not null) AtomicFile.Write(path, s => s.Write(new System.Text.UTF8Encoding(false).GetBytes(app.Source)));
            else Console.Write(app.Source);
            return 0;
        }));
        return cmd;
    }

    private static string Repo(string? given, FileInfo notebook) =>
        given is not null ? Path.GetFullPath(given)
        : NotebookRunner.FindRepo(notebook.DirectoryName ?? ".") ?? NotebookRunner.FindRepo(AppContext.BaseDirectory)
          ?? NotebookRunner.FindRepo(Environment.CurrentDirectory)
          ?? throw new DirectoryNotFoundException($"no AptLab repository (AptLab.sln) above {notebook.FullName}: pass --repo");

    // User errors (a missing or malformed notebook, a missing run folder) print one line and exit with 2.
    private static int Guarded(Func<int> action)
    {
        try { return action(); }
        catch (Exception e) when (e is NotebookException or IOException or InvalidDataException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
