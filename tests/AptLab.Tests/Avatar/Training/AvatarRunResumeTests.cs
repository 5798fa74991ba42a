using System.Globalization;
using AptLab.Tests.Distributed;

namespace AptLab.Tests.Avatar.Training;

/// <summary>`aptlab run` end to end: a run stopped after 2 steps and continued with --resume to 4 steps writes the same
/// train/loss rows to metrics.csv as an uninterrupted 4-step run.</summary>
[Collection("AvatarTraining")]
public class AvatarRunResumeTests(AvatarTrainingFixture fx)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    private static void Run(params string[] args)
    {
        using var p = RankProcess.Start(args, new Dictionary<string, string?>());
        Assert.True(p.WaitForExit(Limit), p.Describe("aptlab run"));
        Assert.True(p.ExitCode == 0, p.Describe("aptlab run"));
    }

    private static double[] Losses(string csv) => File.ReadAllLines(csv).Skip(1).Select(l => l.Split(','))
        .Where(f => f[1] == "train/loss").OrderBy(f => int.Parse(f[0], CultureInfo.InvariantCulture))
        .Select(f => double.Parse(f[2], CultureInfo.InvariantCulture)).ToArray();

    [Fact]
    public void ResumedCliRunLogsTheUninterruptedLosses()
    {
        File.WriteAllText(fx.Temp.File("r4.yaml"), fx.Yaml("resume", steps: 4, microBatch: 2).Replace("checkpoint_every: 100", "checkpoint_every: 2"));
        File.WriteAllText(fx.Temp.File("r2.yaml"), fx.Yaml("resume", steps: 2, microBatch: 2).Replace("checkpoint_every: 100", "checkpoint_every: 2"));
        Run("run", fx.Temp.File("r4.yaml"), "--run-id", "straight");
        Run("run", fx.Temp.File("r2.yaml"), "--run-id", "split");
        var split = Path.Combine(fx.Temp.File("results"), "resume", "split");
        Run("run", fx.Temp.File("r4.yaml"), "--resume", split, "--allow-config-change");   // extended: steps 2 -> 4
        Assert.Contains("avatar.steps: 2 -> 4", File.ReadAllText(Path.Combine(split, "config-changes.txt")));
        var straight = Losses(Path.Combine(fx.Temp.File("results"), "resume", "straight", "metrics.csv"));
        var resumed = Losses(Path.Combine(split, "metrics.csv"));
        Assert.Equal(4, straight.Length);
        Assert.Equal(straight, resumed);
        Assert.True(File.Exists(Path.Combine(split, "checkpoints", "avatar-step-000004.safetensors")));
    }
}
