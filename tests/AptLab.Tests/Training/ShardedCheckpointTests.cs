using AptLab.Torch.IO;
using AptLab.Training;

namespace AptLab.Tests.Training;

/// <summary>Which checkpoint a run resumes from (docs/precision-and-parallelism.md): the newest step with a consolidated
/// file or a complete shards folder, the consolidated file at equal step; a shards folder counts only when every rank's
/// file of one world size is there. The names and the rank files' metadata are the layout other tools read.</summary>
public class ShardedCheckpointTests
{
    private static void Rank(string shardDir, int rank, int world) =>
        ShardedCheckpoint.SaveRank(shardDir, rank, world, new Dictionary<string, Tensor> { ["x"] = torch.full([2], (double)rank) },
            new Dictionary<string, string> { ["step"] = "7" });

    private static void Consolidated(string dir, string prefix, int step) =>
        Safetensors.Save(Checkpoints.PathFor(dir, prefix, step), new Dictionary<string, Tensor> { ["x"] = torch.zeros(2) });

    [Fact]
    public void Names_and_rank_files_follow_the_layout()
    {
        using var tmp = new TempDir();
        var dir = ShardedCheckpoint.DirFor(tmp.Path, "apt", 123);
        Assert.Equal(Path.Combine(tmp.Path, "apt-step-000123.shards"), dir);
        Assert.Equal(Path.Combine(dir, "rank00001-of-00004.safetensors"), ShardedCheckpoint.RankFile(dir, 1, 4));
        Rank(dir, 1, 4);                                                  // the folder is created
        using var f = Safetensors.Load(ShardedCheckpoint.RankFile(dir, 1, 4));
        Assert.Equal(("1", "4", "7"), (f.Metadata["rank"], f.Metadata["world_size"], f.Metadata["step"]));
        Assert.Equal([1.0, 1.0], f["x"].to(ScalarType.Float64).data<double>());
    }

    [Fact]
    public void A_shards_folder_is_complete_only_with_every_rank_of_one_world_size()
    {
        using var tmp = new TempDir();
        string D(string name) => Path.Combine(tmp.Path, name);
        Assert.Null(ShardedCheckpoint.CompleteWorldSize(D("absent")));
        Directory.CreateDirectory(D("empty"));
        Assert.Null(ShardedCheckpoint.CompleteWorldSize(D("empty")));
        Rank(D("two"), 0, 2); Rank(D("two"), 1, 2);
        Assert.Equal(2, ShardedCheckpoint.CompleteWorldSize(D("two")));
        Rank(D("one"), 0, 1);
        Assert.Equal(1, ShardedCheckpoint.CompleteWorldSize(D("one")));
        Rank(D("missing"), 0, 3); Rank(D("missing"), 2, 3);
        Assert.Null(ShardedCheckpoint.CompleteWorldSize(D("missing")));
        Rank(D("mixed"), 0, 2); Rank(D("mixed"), 1, 3);
        Assert.Null(ShardedCheckpoint.CompleteWorldSize(D("mixed")));
        Rank(D("beyond"), 0, 2); Rank(D("beyond"), 2, 2);                  // two distinct ranks, but rank 2 of 2 does not exist
        Assert.Null(ShardedCheckpoint.CompleteWorldSize(D("beyond")));
        Rank(D("renamed"), 0, 1);
        File.Move(ShardedCheckpoint.RankFile(D("renamed"), 0, 1), Path.Combine(D("renamed"), "rank0-of-1.safetensors"));
        Assert.Null(ShardedCheckpoint.CompleteWorldSize(D("renamed")));   // not the five-digit name
        var files = ShardedCheckpoint.Open(D("two"));
        try { Assert.Equal([0.0, 1.0], files.Select(f => f["x"].to(ScalarType.Float64).data<double>()[0])); }
        finally { foreach (var f in files) f.Dispose(); }
        var e = Assert.Throws<InvalidDataException>(() => ShardedCheckpoint.Open(D("missing")));
        Assert.Contains(D("missing"), e.Message);
    }

    [Fact]
    public void Latest_takes_the_newest_resumable_step_and_the_consolidated_file_at_equal_step()
    {
        using var tmp = new TempDir();
        string dir = tmp.Path;
        Assert.Null(ShardedCheckpoint.Latest(Path.Combine(dir, "absent"), "apt"));
        Assert.Null(ShardedCheckpoint.Latest(dir, "apt"));
        Consolidated(dir, "apt", 10);
        Rank(ShardedCheckpoint.DirFor(dir, "apt", 20), 0, 2); Rank(ShardedCheckpoint.DirFor(dir, "apt", 20), 1, 2);
        Consolidated(dir, "apt", 20);
        Rank(ShardedCheckpoint.DirFor(dir, "apt", 30), 0, 2);            // rank 1 never wrote: not resumable
        Consolidated(dir, "other", 99);                                    // another prefix
        Consolidated(dir, "apt-ema", 50);                                  // a prefix that extends this one
        File.WriteAllText(Path.Combine(dir, "apt-step-000040.safetensors.tmp"), "partial");
        Assert.Equal((Checkpoints.PathFor(dir, "apt", 20), false, 20), ShardedCheckpoint.Latest(dir, "apt"));
        File.Delete(Checkpoints.PathFor(dir, "apt", 20));
        Assert.Equal((ShardedCheckpoint.DirFor(dir, "apt", 20), true, 20), ShardedCheckpoint.Latest(dir, "apt"));
        Rank(ShardedCheckpoint.DirFor(dir, "apt", 30), 1, 2);            // now complete
        Assert.Equal((ShardedCheckpoint.DirFor(dir, "apt", 30), true, 30), ShardedCheckpoint.Latest(dir, "apt"));
        Assert.Equal((Checkpoints.PathFor(dir, "other", 99), false, 99), ShardedCheckpoint.Latest(dir, "other"));
    }

    [Fact]
    public void Consolidated_checkpoints_carry_step_and_prefix_and_the_newest_step_is_latest()
    {
        using var tmp = new TempDir();
        Assert.Null(Checkpoints.Latest(Path.Combine(tmp.Path, "absent"), "dit"));
        var path = Checkpoints.Save(tmp.Path, "dit", 9, new Dictionary<string, Tensor> { ["x"] = torch.zeros(2) },
            new Dictionary<string, string> { ["run"] = "r1" });
        Assert.Equal(Path.Combine(tmp.Path, "dit-step-000009.safetensors"), path);
        using (var f = Safetensors.Load(path))
            Assert.Equal(("9", "dit", "r1"), (f.Metadata["step"], f.Metadata["prefix"], f.Metadata["run"]));
        Checkpoints.Save(tmp.Path, "dit", 100, new Dictionary<string, Tensor> { ["x"] = torch.zeros(2) });
        Checkpoints.Save(tmp.Path, "dit", 10, new Dictionary<string, Tensor> { ["x"] = torch.zeros(2) });
        Checkpoints.Save(tmp.Path, "ema", 500, new Dictionary<string, Tensor> { ["x"] = torch.zeros(2) });
        Assert.Equal(Checkpoints.PathFor(tmp.Path, "dit", 100), Checkpoints.Latest(tmp.Path, "dit"));
        Assert.Equal(100, Checkpoints.StepOf(Checkpoints.Latest(tmp.Path, "dit")!));
        Assert.Equal(123, Checkpoints.StepOf("/runs/a-step-b-step-000123.safetensors"));   // the last "-step-"
        var e = Assert.Throws<ArgumentException>(() => Checkpoints.StepOf("/runs/dit-final.safetensors"));
        Assert.Contains("dit-final.safetensors is not named like a step checkpoint", e.Message);
        Assert.Throws<ArgumentException>(() => Checkpoints.StepOf("/runs/dit-step-+12.safetensors"));
    }
}
