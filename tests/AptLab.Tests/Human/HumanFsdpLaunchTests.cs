using AptLab.Logging;
using AptLab.Tests.Distributed;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Human;

/// <summary>
/// configs/omnihuman-train-tiny-bf16.yaml in float32 with <c>parallel: fsdp</c> through the CLI: `aptlab launch --nproc 2`
/// (Gloo, micro_batch 1 per rank) against one process (a group of one, micro_batch 2), the same effective batch of 2 over
/// three stages of 2 steps. Every step's loss and gradient norm, and the step-6 checkpoint (float32 masters, both AdamW
/// moments, the generator) agree to float32 rounding, and every checkpoint lists the same optimizer entries: with one
/// sample per rank a condition is often present on one rank only, so its module gets a gradient on one rank and none on
/// the other, and the consolidated optimizer state must count it (at seed 3 rank 1 alone had audio in stage 2: when
/// only rank 0's members were counted, the step-4 checkpoint of 2 ranks had 209 entries against 284). A rank training
/// on the whole batch, a wrong shard of the draws or a missing reduce-scatter would differ at O(lr).
/// <para>The single process runs fsdp too: an AdamW over FSDP's flat shards steps (and decays) a member that got no
/// gradient in a step, where a whole-parameter optimizer skips it, so fsdp and ddp differ whenever a zero-initialised
/// or unused part gets no gradient (docs/precision-and-parallelism.md#the-omnihuman-fine-tune).</para>
/// </summary>
public class HumanFsdpLaunchTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(150);

    private static string Config(TempDir tmp, string name, int microBatch)
    {
        var file = tmp.File(name + ".yaml");
        File.WriteAllText(file, $"""
            base: {Path.Combine(TestPaths.Repo, "configs", "omnihuman-train-tiny-bf16.yaml")}
            name: {name}
            seed: 3
            precision: fp32
            parallel: fsdp
            threads: 1
            results: {tmp.File("results")}
            human:
              model: {"{"}dtype: fp32, tokenizer_path: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}{"}"}
              train: {"{"}micro_batch: {microBatch}, checkpoint_every: 6{"}"}
            """);
        return file;
    }

    [Fact]
    public void Two_fsdp_ranks_equal_one_process_at_the_same_effective_batch()
    {
        using var tmp = TestPaths.Temp();
        using var two = RankProcess.Start(["launch", "--nproc", "2", "--master-port", RankProcess.FreePort().ToString(), "--timeout", "120",
            "run", Config(tmp, "two", 1), "--run-id", "r"], new Dictionary<string, string?>());
        using var one = RankProcess.Start(["run", Config(tmp, "one", 2), "--run-id", "r"], new Dictionary<string, string?>());
        foreach (var (p, name) in new[] { (two, "2 ranks"), (one, "1 process") })
        {
            Assert.True(p.WaitForExit(Limit), p.Describe(name));
            Assert.True(p.ExitCode == 0, p.Describe(name));
        }
        Assert.Contains("effective batch 1 x 1 x 2 rank(s)", two.Stdout);
        Assert.Contains("precision fp32, parallel fsdp", two.Stdout);
        Assert.Contains("effective batch 2 x 1 x 1 rank(s)", one.Stdout);
        Assert.Matches(@"\[train\] 75 trainable tensors, [1-9][\d,]* of [1-9][\d,]* parameters", two.Stdout);   // counted before sharding

        string Run(string id) => Path.Combine(tmp.File("results"), id, "r");
        var (m2, m1) = (MetricsCsv.Read(Path.Combine(Run("two"), "metrics.csv")), MetricsCsv.Read(Path.Combine(Run("one"), "metrics.csv")));
        double worstScalar = 0;
        foreach (var tag in new[] { "train/loss", "train/grad_norm", "train/sigma", "train/on_audio", "train/on_pose" })
        {
            var (a, b) = (m2.Series(tag), m1.Series(tag));
            Assert.Equal(6, b.Values.Length);
            Assert.Equal(b.Steps, a.Steps);
            for (int i = 0; i < b.Values.Length; i++)
                worstScalar = Math.Max(worstScalar, Math.Abs(a.Values[i] - b.Values[i]) / Math.Max(Math.Abs(b.Values[i]), 1e-3));
        }
        Assert.True(m1.Series("train/on_pose").Values.Skip(4).Sum() > 0, "no pose in stage 3: the test would not exercise a rank without it");

        foreach (int step in new[] { 2, 4 })                                                 // the stage ends' checkpoints list the same entries
        {
            using var a = Checkpoint.Load(Path.Combine(Run("two"), "checkpoints", $"omnihuman-step-{step:D6}.safetensors"));
            using var b = Checkpoint.Load(Path.Combine(Run("one"), "checkpoints", $"omnihuman-step-{step:D6}.safetensors"));
            Assert.Equal(b.Keys.Order(), a.Keys.Order());
        }
        using var c2 = Checkpoint.Load(Path.Combine(Run("two"), "checkpoints", "omnihuman-step-000006.safetensors"));
        using var c1 = Checkpoint.Load(Path.Combine(Run("one"), "checkpoints", "omnihuman-step-000006.safetensors"));
        Assert.Equal(c1.Keys.Order(), c2.Keys.Order());
        Assert.Equal(c1["rng_state"].data<byte>(), c2["rng_state"].data<byte>());
        double num = 0, den = 0, worstMoment = 0;
        foreach (var k in c1.Keys.Where(k => k.StartsWith("model.") || k.EndsWith(".exp_avg") || k.EndsWith(".exp_avg_sq")))
        {
            using var scope = torch.NewScope();
            var (x, y) = (c2[k].to(ScalarType.Float64), c1[k].to(ScalarType.Float64));
            Assert.Equal(ScalarType.Float32, c1[k].dtype);
            if (k.StartsWith("model.")) { num += (x - y).square().sum().item<double>(); den += y.square().sum().item<double>(); }
            else worstMoment = Math.Max(worstMoment, (x - y).norm().item<double>() / Math.Max(y.norm().item<double>(), 1e-30));
        }
        double rel = Math.Sqrt(num / den);
        // the product, gathered from the shards by rank 0 (LoRA folded in, float32 here)
        double product = 0, productNorm = 0;
        using (var p2 = Checkpoint.Load(Path.Combine(Run("two"), "checkpoints", "omnihuman.safetensors")))
        using (var p1 = Checkpoint.Load(Path.Combine(Run("one"), "checkpoints", "omnihuman.safetensors")))
        {
            Assert.Equal(p1.Keys.Order(), p2.Keys.Order());
            Assert.DoesNotContain(p1.Keys, AptLab.Torch.nn.Lora.IsLoraKey);
            int trained = 0;
            foreach (var k in c2.Keys.Where(k => k.StartsWith("model.") && !AptLab.Torch.nn.Lora.IsLoraKey(k)))   // the added parts, the patch embedding
            {
                using var scope = torch.NewScope();
                Assert.Equal(0.0, (p2[k["model.".Length..]] - c2[k]).abs().max().item<double>());          // the masters themselves
                trained++;
            }
            Assert.True(trained > 20, $"{trained} trained non-LoRA tensors");
            foreach (var (k, y) in p1)
            {
                using var scope = torch.NewScope();
                Assert.Equal(ScalarType.Float32, y.dtype);
                product += (p2[k].to(ScalarType.Float64) - y.to(ScalarType.Float64)).square().sum().item<double>();
                productNorm += y.to(ScalarType.Float64).square().sum().item<double>();
            }
        }
        double productRel = Math.Sqrt(product / productNorm);
        output.WriteLine($"2 fsdp ranks vs 1 process: scalars {worstScalar:E2} (largest relative), masters {rel:E2} (relative L2), " +
                         $"AdamW moments {worstMoment:E2} (largest relative L2), product {productRel:E2} (relative L2)");
        Assert.True(productRel < 1e-6, $"products differ by {productRel:E2}");
        Assert.True(worstScalar < 1e-4, $"scalars differ by {worstScalar:E2}");
        Assert.True(rel < 1e-6, $"masters differ by {rel:E2}");
        Assert.True(worstMoment < 1e-3, $"AdamW moments differ by {worstMoment:E2}");
    }
}
