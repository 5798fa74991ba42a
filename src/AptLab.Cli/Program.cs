using System.CommandLine;

namespace AptLab.Cli;

/// <summary>The `aptlab` command: one subcommand per research procedure.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("AptLab: Wan 2.1 video diffusion, OmniAvatar and Adversarial Post-Training on libtorch");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(LaunchCommand.Create());
        root.Subcommands.Add(DistSelftestCommand.Create());
        root.Subcommands.Add(NotebookCommand.Create());
        root.Subcommands.Add(AvatarCommand.Create());
        root.Subcommands.Add(HumanCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(CompareRunsCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(PlanCommand.Create());
        // Errors are reported by CliErrors (one line for a user's mistake), not by System.CommandLine's stack trace.
        try { return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }); }
        catch (Exception e) { return CliErrors.Report(e); }
    }
}
