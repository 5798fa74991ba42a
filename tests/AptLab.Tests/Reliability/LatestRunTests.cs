using AptLab.Experiments;

namespace AptLab.Tests.Reliability;

/// <summary>`latest` in an input path stands for the newest run whose product exists, never for a newer run that failed
/// or is still running (it has a config.yaml but not the product yet); with no such run the error says so.</summary>
public class LatestRunTests
{
    private static string Run(string root, string id, int minutesAgo, params string[] checkpoints)
    {
        var dir = Path.Combine(root, "demo-teacher", id);
        Directory.CreateDirectory(Path.Combine(dir, "checkpoints"));
        File.WriteAllText(Path.Combine(dir, "config.yaml"), "experiment: teacher\n");
        File.SetLastWriteTimeUtc(Path.Combine(dir, "config.yaml"), DateTime.UtcNow.AddMinutes(-minutesAgo));
        foreach (var c in checkpoints) File.WriteAllText(Path.Combine(dir, "checkpoints", c + ".safetensors"), "x");
        return dir;
    }

    [Fact]
    public void Latest_skips_failed_and_running_runs()
    {
        using var tmp = TestPaths.Temp();
        var finished = Run(tmp.Path, "r1", 30, "vae", "foundation");
        Run(tmp.Path, "r2", 20);                                  // failed before its first checkpoint
        Run(tmp.Path, "r3", 10, "vae");                           // still running: the foundation is not written yet
        var latest = Path.Combine(tmp.Path, "demo-teacher", "latest");

        Assert.Equal(Path.Combine(finished, "checkpoints", "foundation.safetensors"),
                     ExperimentKinds.ResolveLatest(Path.Combine(latest, "checkpoints", "foundation.safetensors"), "distill.from"));
        Assert.Equal(Path.Combine(finished, "checkpoints", "foundation.safetensors"),
                     ExperimentKinds.ResolveCheckpoint(latest, "distill.from", "foundation"));

        var newest = Run(tmp.Path, "r4", 5, "vae", "foundation");  // a newer finished run takes over
        Assert.Equal(Path.Combine(newest, "checkpoints", "foundation.safetensors"),
                     ExperimentKinds.ResolveCheckpoint(latest, "distill.from", "foundation"));

        var none = Assert.Throws<FileNotFoundException>(() => ExperimentKinds.ResolveCheckpoint(latest, "apt.student", "cd"));
        Assert.Contains("apt.student", none.Message);
        Assert.Contains(Path.Combine(newest, "checkpoints", "cd.safetensors") + " does not exist (that run failed or is still running)", none.Message);
    }
}
