using System.CommandLine;
using AptLab.Config;
using AptLab.Experiments;
using AptLab.Torch.Distributed;
using AptLab.Training;

namespace AptLab.Cli;

/// <summary>`aptlab run configs/NAME.yaml [--resume RUN_DIR]`: runs an experiment into results/&lt;name&gt;/&lt;run-id&gt;/.
/// Started by `aptlab launch --nproc N` (WORLD_SIZE > 1) the ranks join one process group, rank 0 creates (or opens)
/// the run folder and tells the others its path, and the APT phases train data-parallel; only rank 0 writes.
/// Relative paths in the config are resolved from the repository root and the inputs checked before the run folder is
/// created; the console (live bars on a terminal) is saved as run.log in the run folder.
/// `aptlab run --check CONFIG` loads, inherits, validates and resolves the config (input checkpoints, `latest`), prints
/// the resolved config and creates nothing.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "experiment config (YAML)" };
        var resume = new Option<string?>("--resume") { Description = "continue the run in this folder from its checkpoints" };
        var runId = new Option<string?>("--run-id") { Description = "name of the run folder (default: a UTC timestamp)" };
        var allowChange = new Option<bool>("--allow-config-change") { Description = "with --resume: continue with a config that differs from the run's config.yaml (recorded there and in config-changes.txt)" };
        var check = new Option<bool>("--check") { Description = "validate the config and resolve its inputs, print the resolved config, create nothing" };
        var cmd = new Command("run", $"Run an experiment config (experiment: {string.Join(", ", AptLab.Experiments.ExperimentKinds.Names)})");
        cmd.Arguments.Add(config);
        cmd.Options.Add(resume);
        cmd.Options.Add(runId);
        cmd.Options.Add(check);
        cmd.Options.Add(allowChange);
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(check)) return Check(parse.GetValue(config)!, Console.Out);
            using var console = new ConsoleSession();          // live bars on a terminal; run.log in the run folder
            return console.Run(() => Run(parse.GetValue(config)!, parse.GetValue(resume), parse.GetValue(runId), console,
                                          parse.GetValue(allowChange)));
        });
        return cmd;
    }

    public static int Run(string configPath, string? resume, string? runId, TextWriter output, bool allowConfigChange = false)
    {
        ExperimentConfig cfg;
        try
        {
            cfg = ConfigLoader.Load<ExperimentConfig>(configPath);
            ExperimentPaths.Resolve(cfg, ExperimentPaths.BaseOf(configPath));     // relative paths: from the repository root
            ExperimentPaths.CheckInputs(cfg, configPath);                         // before any run folder exists
        }
        catch (ConfigException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        cfg.Threads = OpenMpPolicy.UseConfigThreads(cfg.Threads);    // the run's config.yaml records the count it ran with
        DistributedOptions dist;
        try { dist = DistributedOptions.FromEnvironment(); }
        catch (ArgumentException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        try
        {
            using var group = dist.IsDistributed ? ProcessGroup.Init(dist) : null;
            return Run(cfg, resume, runId, output, group, allowConfigChange);
        }
        catch (DistributedException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>`--check`: everything `run` does before it creates the run folder, then the resolved config on stdout.</summary>
    public static int Check(string configPath, TextWriter output)
    {
        try
        {
            var cfg = ConfigLoader.Load<ExperimentConfig>(configPath);
            cfg.Threads = OpenMpPolicy.UseConfigThreads(cfg.Threads);
            ExperimentKinds.Prepare(cfg);
            output.Write(ConfigLoader.ToYaml(cfg));
            Console.Error.WriteLine($"{configPath}: valid ({cfg.Experiment} experiment; {torch.parallel_info()}); nothing was created");
            return 0;
        }
        catch (Exception e) when (CliErrors.IsUserError(e)) { return CliErrors.Report(e, userExitCode: 2); }
    }

    private static int Run(ExperimentConfig cfg, string? resume, string? runId, TextWriter output, ProcessGroup? group, bool allowConfigChange)
    {
        RunDirectory run;
        try { run = ExperimentKinds.Launch(cfg, resume, runId, output, group, allowConfigChange); }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or IOException
                                  or ConfigException or NonFiniteException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        if (DistributedRun.IsMainProcess(group)) output.WriteLine($"results: {run.Root}");
        return 0;
    }
}
