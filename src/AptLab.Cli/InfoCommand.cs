using System.CommandLine;

namespace AptLab.Cli;

/// <summary>`aptlab info`: what the engine was built with and what it can use on this machine.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "Show the libtorch build, threads and devices");
        cmd.SetAction(_ =>
        {
            Console.WriteLine($"libtorch   {torch.version}");
            Console.WriteLine($"threads    {torch.get_num_threads()} (from {OpenMpPolicy.ThreadsSource}; cores: {Environment.ProcessorCount}; " +
                              $"{OpenMpPolicy.Variable} {(OpenMpPolicy.WaitPolicy.Length > 0 ? OpenMpPolicy.WaitPolicy : "default")})");
            Console.WriteLine($"cuda       {(torch.cuda.is_available() ? "available" : "not available")}");
            Console.WriteLine($".NET       {Environment.Version}");
            return 0;
        });
        return cmd;
    }
}
