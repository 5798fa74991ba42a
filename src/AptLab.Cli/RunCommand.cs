using System.CommandLine;
using AptLab.Config;
using AptLab.Experiments;
using AptLab.Training;

namespace AptLab.Cli;

/// <summary>`aptlab run configs/NAME.yaml [--resume RUN_DIR]`: runs an experiment into results/&lt;name&gt;/&lt;run-id&gt;/.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "experiment config (YAML)" };
        var resume = new Option<string?>("--resume") { Description = "continue the run in this folder from its checkpoints" };
        var runId = new Option<string?>("--run-id") { Description = "name of the run folder (default: a UTC timestamp)" };
        var cmd = new Command("run", "Run an experiment config (teacher, distillation, APT, comparison)");
        cmd.Arguments.Add(config);
        cmd.Options.Add(resume);
        cmd.Options.Add(runId);
        cmd.SetAction(parse => Run(parse.GetValue(config)!, parse.GetValue(resume), parse.GetValue(runId), Console.Out));
        return cmd;
    }

    public static int Run(string configPath, string? resume, string? runId, TextWriter output)
    {
        ExperimentConfig cfg;
        try { cfg = ConfigLoader.Load<ExperimentConfig>(configPath); }
        catch (ConfigException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        if (cfg.Threads > 0) torch.set_num_threads(cfg.Threads);
        var run = resume is not null ? RunDirectory.Open(resume) : RunDirectory.Create(cfg.Results, cfg.Name, runId);
        if (resume is null) RunDirectory.WriteAtomic(run.ConfigFile, ConfigLoader.ToYaml(cfg));
        using var ctx = new StudyContext(cfg, run, output);
        ctx.Log.Events.AddText("config", "```yaml\n" + File.ReadAllText(run.ConfigFile) + "\n```", 0);
        switch (cfg.Experiment)
        {
            case "demo":
                DemoExperiment.Run(ctx);
                break;
            default:
                Console.Error.WriteLine($"error: experiment '{cfg.Experiment}' runs as part of 'demo' in this version; use experiment: demo");
                return 2;
        }
        output.WriteLine($"results: {run.Root}");
        return 0;
    }
}
