using AptLab.Config;
using AptLab.Data.Media;
using AptLab.Notebooks;
using AptLab.Torch.Distributed;

namespace AptLab.Cli;

/// <summary>
/// How the `aptlab` command reports a failure (docs/reliability.md, "Errors"): a mistake a user can make (a bad config,
/// a missing or malformed file, an output path that cannot be written) is ONE line, <c>error: ...</c>, naming the file
/// and key, with no stack trace, and exit code 1 (2 for command-line usage, decided by each command). Any other
/// exception is a defect of AptLab: it is reported with its type and stack trace so it can be fixed.
/// </summary>
public static class CliErrors
{
    /// <summary>True for the exceptions that describe a user's mistake or a damaged input, not a defect.</summary>
    public static bool IsUserError(Exception e) => e is ConfigException or MediaException or OutputPathException
        or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or IOException or UnauthorizedAccessException
        or ArgumentException or NotSupportedException or TorchException or DistributedException or NotebookException
        or NonFiniteException;

    /// <summary>Writes the error and returns the exit code.</summary>
    public static int Report(Exception e, TextWriter? stderr = null, int userExitCode = 1)
    {
        stderr ??= Console.Error;
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        while (e is System.Reflection.TargetInvocationException { InnerException: { } inner }) e = inner;
        if (IsUserError(e))
        {
            stderr.WriteLine($"error: {OneLine(e.Message)}");
            return userExitCode;
        }
        stderr.WriteLine($"error: internal error ({e.GetType().Name}): {OneLine(e.Message)}; please report it with the trace below");
        stderr.WriteLine(e.ToString());
        return 1;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
