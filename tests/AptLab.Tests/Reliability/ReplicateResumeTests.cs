using AptLab.Experiments;
using AptLab.Training;

namespace AptLab.Tests.Reliability;

/// <summary>A resumed run with several training replicates keeps each replicate's rows by ITS checkpoints: replicate
/// k's tags and timings (cd/seed&lt;s&gt;/, time/distill_seed_&lt;s&gt;_) start with replicate 0's, so rules by replicate 0's
/// checkpoints alone would keep the rows of an unfinished replicate (logged twice after the resume) or cut a continued
/// one at replicate 0's step.</summary>
public class ReplicateResumeTests
{
    [Fact]
    public void Each_replicate_keeps_its_rows_by_its_own_checkpoints()
    {
        using var tmp = TestPaths.Temp();
        var run = RunDirectory.Create(tmp.Path, "demo", "r");
        Directory.CreateDirectory(run.Checkpoints);
        var replicates = new[] { Replicate.Of(7, 0), Replicate.Of(7, 1) };
        var (r0, r1) = (replicates[0], replicates[1]);
        // replicate 0: CD finished, image phase at update 2; replicate 1: CD finished, image phase at update 1, no cd product of replicate 2
        foreach (var f in new[] { r0.Checkpoint("cd"), r0.Checkpoint("apt_image") + "-step-000002", r1.Checkpoint("cd"), r1.Checkpoint("apt_image") + "-step-000001" })
            File.WriteAllText(Path.Combine(run.Checkpoints, f + ".safetensors"), "x");
        var point = RunResume.For(run, replicates);

        Assert.True(point.Keeps("cd/loss", 4) && point.Keeps($"{r1.Tag("cd")}/loss", 4));
        Assert.True(point.Keeps("time/distill_seconds", 0) && point.Keeps($"time/{r1.Label("distill").Replace(' ', '_')}_seconds", 0));
        Assert.True(point.Keeps("apt_image/loss_g", 2) && !point.Keeps("apt_image/loss_g", 3));
        Assert.True(point.Keeps($"{r1.Tag("apt_image")}/loss_g", 1) && !point.Keeps($"{r1.Tag("apt_image")}/loss_g", 2));
        Assert.True(point.Keeps("time/apt_image_samples_per_s", 2) && !point.Keeps("time/apt_image_samples_per_s", 3));
        Assert.True(point.Keeps($"time/{r1.Checkpoint("apt_image")}_samples_per_s", 1) && !point.Keeps($"time/{r1.Checkpoint("apt_image")}_samples_per_s", 2));

        // replicate 1's CD unfinished (no product, CD has no step checkpoints): its rows go, replicate 0's stay
        File.Delete(Path.Combine(run.Checkpoints, r1.Checkpoint("cd") + ".safetensors"));
        point = RunResume.For(run, replicates);
        Assert.True(point.Keeps("cd/loss", 4));
        Assert.False(point.Keeps($"{r1.Tag("cd")}/loss", 1));
        Assert.False(point.Keeps($"time/{r1.Label("distill").Replace(' ', '_')}_seconds", 0));
        Assert.True(RunResume.For(run).Keeps($"{r1.Tag("cd")}/loss", 1));          // what replicate 0's rules alone would keep
    }
}
