using AptLab.Apt;
using AptLab.Tests.Parallel;
using AptLab.Torch.IO;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Tests.Apt;

/// <summary>
/// The APT trainer fully sharded in one process (a Gloo group of one; docs/precision-and-parallelism.md), in float64:
/// its updates equal the replicated trainer's, its checkpoint is both a shards folder and a consolidated file under the
/// official names, and a new trainer resumed from either (sharded or replicated) continues with the losses of the
/// uninterrupted run. What the multi-rank launch tests check across processes, here where a mutation test sees it.
/// </summary>
public class AptFsdpTrainerTests
{
    private static readonly WanConfig Cfg = WanConfig.TinyT2V with { NumLayers = 2, TextLen = 8 };
    private static readonly AptPhaseSettings Settings = new()
    {
        Name = "image", MicroBatch = 2, Accumulation = 2, Lr = 1e-3, EmaDecay = 0.9, DiscriminatorShift = 3, R1Sigma = 0.05, CheckpointEvery = 1,
    };

    private static WanFlowModel Tiny(ulong seed)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Cfg, ScalarType.Float64));
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    private static RealBatch Data(long step, int micro, Generator g) => new(
        torch.randn([2, 16, 1, 4, 4], ScalarType.Float64, generator: g) * 0.5 + 0.3,
        new Conditioning(torch.randn([2, 5, Cfg.TextDim], ScalarType.Float64, generator: g)));

    private sealed class Run : IDisposable
    {
        public readonly WanFlowModel Gen = Tiny(1);
        public readonly Discriminator Disc;
        public readonly AptLab.Torch.Distributed.ProcessGroup? Group;
        public readonly AptTrainer Trainer;

        public Run(ParallelMode parallel)
        {
            Disc = new Discriminator(Tiny(2), [0, 1]);
            if (parallel == ParallelMode.Fsdp) Group = FsdpSingleProcessTests.GroupOfOne();
            Trainer = new AptTrainer(Gen, Disc, Settings, seed: 5, Data, Group, parallel: parallel);
        }

        public List<double> Updates(int until)
        {
            var v = new List<double>();
            while (Trainer.Step < until)
            {
                using var s = Trainer.Update();
                v.AddRange([s.LossD, s.LossG, s.R1, s.RealLogit, s.FakeLogit, s.GradNormD, s.GradNormG]);
            }
            return v;
        }

        public void Dispose() { Trainer.Dispose(); Disc.Dispose(); Gen.Dispose(); Group?.Dispose(); }
    }

    private static void Close(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double rel, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= rel * Math.Max(1, Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]:R} vs {expected[i]:R}");
    }

    [Fact]
    public void Fsdp_updates_equal_replicated_ones_and_both_checkpoint_forms_resume_the_run()
    {
        using var tmp = TestPaths.Temp();
        string dir = tmp.File("checkpoints");
        List<double> whole;
        Dictionary<string, double[]> replicatedState;
        using (var ddp = new Run(ParallelMode.Ddp))
        {
            Assert.Equal(ParallelMode.Ddp, ddp.Trainer.Parallel);
            Assert.Contains("not fully sharded", Assert.Throws<InvalidOperationException>(() => ddp.Trainer.ShardedStateDict()).Message);
            whole = ddp.Updates(3);
            replicatedState = ddp.Trainer.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64).reshape(-1).data<double>());
        }

        string consolidated;
        using (var fsdp = new Run(ParallelMode.Fsdp))
        {
            Assert.Equal((ParallelMode.Fsdp, 1), (fsdp.Trainer.Parallel, fsdp.Trainer.WorldSize));
            Assert.True(fsdp.Gen.GradientCheckpointing && fsdp.Disc.Backbone.GradientCheckpointing);   // FSDP regathers blocks in backward
            Close(whole.Take(14).ToList(), fsdp.Updates(2), 1e-9, "fsdp vs ddp");
            consolidated = fsdp.Trainer.SaveCheckpoint(dir, "apt_image", new Dictionary<string, string> { ["phase"] = "image" });
            Close(whole.Skip(14).ToList(), fsdp.Updates(3), 1e-9, "fsdp vs ddp, update 3");
            // the consolidated state after 3 updates is the replicated trainer's, key for key
            var state = fsdp.Trainer.StateDict();
            Assert.Equal(replicatedState.Keys.Order(), state.Keys.Order());
            foreach (var (k, v) in state) Close(replicatedState[k], v.to(ScalarType.Float64).reshape(-1).data<double>(), 1e-9, k);
            // the sharded state names every part of the state and its layouts
            var (tensors, meta) = fsdp.Trainer.ShardedStateDict();
            foreach (var prefix in new[] { "generator.", "discriminator.", "ema.", "opt_g.", "opt_d." })
                Assert.Contains(tensors.Keys, k => k.StartsWith(prefix));
            Assert.Equal("3", meta["step"]);
            Assert.Contains("layout_generator", meta.Keys);
            Assert.Contains("layout_discriminator", meta.Keys);
        }

        Assert.Equal(Checkpoints.PathFor(dir, "apt_image", 2), consolidated);
        string shards = ShardedCheckpoint.DirFor(dir, "apt_image", 2);
        Assert.Equal(1, ShardedCheckpoint.CompleteWorldSize(shards));
        using (var file = Checkpoint.Load(consolidated))
        {
            Assert.Equal(("2", "1", "fsdp", "image"), (file.Metadata["step"], file.Metadata["world_size"], file.Metadata["parallel"], file.Metadata["phase"]));
            Assert.Contains("generator.blocks.0.self_attn.q.weight", file.Keys);
            Assert.Contains("ema.head.head.weight", file.Keys);
        }

        // resumed from the shards (sharded trainer), from the consolidated file (replicated trainer), and the newest
        // checkpoint of the folder (sharded): each continues with update 3 of the uninterrupted run
        using (var fromShards = new Run(ParallelMode.Fsdp))
        {
            fromShards.Trainer.Resume(shards);
            Assert.Equal(2, fromShards.Trainer.Step);
            Close(whole.Skip(14).ToList(), fromShards.Updates(3), 1e-9, "resumed from shards");
        }
        using (var fromFile = new Run(ParallelMode.Ddp))
        {
            fromFile.Trainer.Resume(consolidated);
            Close(whole.Skip(14).ToList(), fromFile.Updates(3), 1e-9, "resumed from the consolidated file");
            Assert.Contains("resume it with parallel: fsdp", Assert.Throws<InvalidOperationException>(() => fromFile.Trainer.Resume(shards)).Message);
        }
        using (var latest = new Run(ParallelMode.Fsdp))
        {
            Assert.Null(latest.Trainer.ResumeLatest(dir, "apt_video"));
            Assert.Equal(0, latest.Trainer.Step);
            Assert.NotNull(latest.Trainer.ResumeLatest(dir, "apt_image"));
            Assert.Equal(2, latest.Trainer.Step);
            Close(whole.Skip(14).ToList(), latest.Updates(3), 1e-9, "resumed from the newest checkpoint");
        }
    }

    [Fact]
    public void Fsdp_without_a_process_group_is_refused()
    {
        using var gen = Tiny(1);
        using var disc = new Discriminator(Tiny(2), [0, 1]);
        var e = Assert.Throws<ArgumentException>(() => new AptTrainer(gen, disc, Settings, seed: 5, Data, group: null, parallel: ParallelMode.Fsdp));
        Assert.Contains("needs a process group", e.Message);
    }
}
