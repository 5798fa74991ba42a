using AptLab.Diffusion;
using AptLab.Apt;
using AptLab.Data;
using AptLab.Experiments;
using AptLab.Wan;
using AptLab.Training;

namespace AptLab.Tests.Experiments;

/// <summary>Consistency distillation with the teacher-target cache (docs/consistency-distillation.md#one-training-step): a second run reads every teacher
/// step from disk, never calls the teacher, and trains the bit-identical student.</summary>
public class TeacherTargetCacheTests
{
    /// <summary>Counts the teacher's forwards.</summary>
    private sealed class Counting(WanFlowModel inner) : FlowModel
    {
        public int Calls;
        public override AptLab.Torch.nn.Module Module => inner.Module;
        public override int NumLayers => inner.NumLayers;
        public override int Dim => inner.Dim;
        public override int NumHeads => inner.NumHeads;
        public override bool GradientCheckpointing { get => inner.GradientCheckpointing; set => inner.GradientCheckpointing = value; }
        public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null)
        {
            Calls++;
            return inner.Forward(x, sigma, c, hiddenAfter);
        }
        public override FlowModel Copy() => inner.Copy();
    }

    private static ExperimentConfig Config(string cache)
    {
        var cfg = DemoSmokeRun.LoadSmoke();
        cfg.Distill.Steps = 6;
        cfg.Distill.Batch = 4;
        cfg.Distill.NoiseSeeds = 2;
        cfg.Distill.TargetCache = cache;
        return cfg;
    }

    // A context with the smoke config's (untrained, seeded) models and its encoded training set.
    private static StudyContext Context(ExperimentConfig cfg, string results, string id)
    {
        var ctx = new StudyContext(cfg, RunDirectory.Create(results, "cd", id), TextWriter.Null);
        VaeStage.EncodeTrainingSet(ctx);
        using (torch.no_grad()) ctx.Teacher.Net.head.head.weight.normal_(0, 0.05);   // the official init zeroes the head
        return ctx;
    }

    [Fact]
    public void A_second_distillation_reads_every_target_and_trains_the_same_student()
    {
        using var tmp = TestPaths.Temp();
        var cacheDir = Path.Combine(tmp.Path, "targets");
        var cfg = Config(cacheDir);
        Dictionary<string, Tensor> first;
        int computed;
        using (var ctx = Context(cfg, tmp.Path, "r1"))
        {
            var teacher = new Counting(ctx.Teacher);
            var cache = CdStage.OpenCache(ctx)!;
            using var student = CdStage.Distill(ctx, teacher, cache);
            first = student.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            computed = cache.Misses;
            int steps = cfg.Distill.Steps, batch = cfg.Distill.Batch;
            Assert.Equal(steps * batch, cache.Hits + cache.Misses);
            Assert.Equal(cache.Misses, cache.Count);                    // every computed target stored once
            // each batch with a missing target: one CFG forward (negative and positive batched), no call otherwise
            Assert.InRange(teacher.Calls, 1, steps);

            // A stored target is the teacher's guided Euler step of its (sample, noise seed, step) triple.
            var entry = LatentCache.Open(cacheDir).Entries[0];
            var parts = entry.Id.Split('-');                              // set-sample-sK-nN
            bool video = parts[0] == "video";
            long sample = long.Parse(parts[1]), k = long.Parse(parts[2][1..]), n = long.Parse(parts[3][1..]);
            using var scope = torch.NewScope();
            var x0 = (video ? ctx.VideoLatents! : ctx.ImageLatents!).narrow(0, sample, 1);
            using var g = new Generator(CdStage.NoiseSeed(cfg.Seed, video, sample, k));
            var eps = torch.randn(x0.shape[1..], generator: g).unsqueeze(0);
            var tk = ConsistencyDistillation.Discretisation(cfg.Distill.N, cfg.Distill.Shift).data<float>();
            var xn1 = x0 * (1.0 - tk[n + 1]) + eps * tk[n + 1];
            var caption = (video ? ctx.VideoCaptions : ctx.ImageCaptions)[sample];
            var expected = ConsistencyDistillation.TeacherStep(ctx.Teacher, xn1, torch.full([1], tk[n + 1]), torch.full([1], tk[n]),
                ctx.Condition([caption]), ctx.Negative(1), cfg.Distill.Guidance).squeeze(0);
            using var stored = LatentCache.Open(cacheDir).Load(0);
            double err = (stored["target"] - expected).abs().max().item<double>() / expected.abs().max().item<double>();
            Assert.True(err < 1e-5, $"cached target differs from a fresh teacher step by {err:G3} (relative)");
            Assert.True((expected - xn1.squeeze(0)).abs().max().item<double>() > 1e-3);     // and the step moved x
        }

        using (var ctx = Context(cfg, tmp.Path, "r2"))
        {
            var teacher = new Counting(ctx.Teacher);
            var cache = CdStage.OpenCache(ctx)!;
            Assert.Equal(computed, cache.Count);
            using var student = CdStage.Distill(ctx, teacher, cache);
            Assert.Equal(0, teacher.Calls);
            Assert.Equal(0, cache.Misses);
            Assert.Equal(cfg.Distill.Steps * cfg.Distill.Batch, cache.Hits);
            foreach (var (key, value) in student.Module.state_dict())
                Assert.True(value.eq(first[key]).all().item<bool>(), $"{key} differs from the first run's");
            Assert.Contains(first, kv => !kv.Value.eq(ctx.Teacher.Module.state_dict()[kv.Key]).all().item<bool>());   // it trained
        }

        // Another guidance makes other targets: the cache refuses instead of serving stale ones.
        var other = Config(cacheDir);
        other.Distill.Guidance = 2;
        using (var ctx = Context(other, tmp.Path, "r3"))
        {
            var e = Assert.Throws<InvalidDataException>(() => CdStage.OpenCache(ctx));
            Assert.Contains("fingerprint", e.Message);
            Assert.Contains(Path.GetFullPath(cacheDir), e.Message);
        }
    }
}
