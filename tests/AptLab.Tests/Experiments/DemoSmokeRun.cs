using AptLab.Config;
using AptLab.Experiments;
using AptLab.Training;

namespace AptLab.Tests.Experiments;

/// <summary>One real run of configs/demo-smoke.yaml (every stage of the demo at smoke size), shared by the tests of
/// the "demo-smoke" collection: the demo's own checks, the experiment-kind chain that must reproduce it, and the
/// notebooks run against it.</summary>
public sealed class DemoSmokeRun : IDisposable
{
    public TempDir Temp { get; } = TestPaths.Temp();
    public ExperimentConfig Config { get; }
    public RunDirectory Run { get; }
    public string Log { get; }

    public DemoSmokeRun()
    {
        Config = LoadSmoke();
        Config.Results = Temp.Path;
        Run = RunDirectory.Create(Config.Results, Config.Name, "smoke");
        File.WriteAllText(Run.ConfigFile, ConfigLoader.ToYaml(Config));
        var log = new StringWriter();
        ExperimentKinds.Run(Config, Run, log);
        Log = log.ToString();
        noR1 = new Lazy<RunDirectory>(RunNoR1);
        rerun = new Lazy<RunDirectory>(Rerun);
    }

    private readonly Lazy<RunDirectory> rerun;

    /// <summary>A second run of the same config (same seed, same thread count) in its own folder, run on first use.</summary>
    public RunDirectory Again => rerun.Value;

    private RunDirectory Rerun()
    {
        var cfg = LoadSmoke();
        cfg.Results = Path.Combine(Temp.Path, "again");
        var run = RunDirectory.Create(cfg.Results, cfg.Name, "smoke");
        File.WriteAllText(run.ConfigFile, ConfigLoader.ToYaml(cfg));
        ExperimentKinds.Run(cfg, run, TextWriter.Null);
        return run;
    }

    /// <summary>configs/demo-smoke.yaml with the tokenizer path made absolute.</summary>
    public static ExperimentConfig LoadSmoke() => Load("demo-smoke.yaml");

    /// <summary>A config of configs/ with the tokenizer path made absolute.</summary>
    public static ExperimentConfig Load(string name)
    {
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", name));
        cfg.Text.Tokenizer = Path.Combine(TestPaths.Repo, cfg.Text.Tokenizer);
        return cfg;
    }

    private readonly Lazy<RunDirectory> noR1;

    /// <summary>The same study with the approximated R1 off (r1_lambda 0 in both phases), run on first use.</summary>
    public RunDirectory NoR1 => noR1.Value;

    private RunDirectory RunNoR1()
    {
        var cfg = LoadSmoke();
        cfg.Results = Temp.Path;
        cfg.Name = "demo-smoke-no-r1";
        cfg.Apt.Image = cfg.Apt.Image with { R1Lambda = 0 };
        cfg.Apt.Video = cfg.Apt.Video with { R1Lambda = 0 };
        var run = RunDirectory.Create(cfg.Results, cfg.Name, "smoke");
        File.WriteAllText(run.ConfigFile, ConfigLoader.ToYaml(cfg));
        ExperimentKinds.Run(cfg, run, TextWriter.Null);
        return run;
    }

    public void Dispose() => Temp.Dispose();
}

[CollectionDefinition("demo-smoke")]
public class DemoSmokeCollection : ICollectionFixture<DemoSmokeRun>;
