using AptLab.Apt;
using AptLab.Wan;
using AptLab.Tests.Distributed;
using AptLab.Torch.Distributed;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Tests.Parallel;

/// <summary>
/// FullyShardedDataParallel in one process (a Gloo group of one): the gathers, the checkpoint hooks, the flat
/// gradients and the optimizer over flat shards must reproduce plain training of the same model to the bit (float64),
/// the module must hold no weights between uses, and a block run with gradients but without activation checkpointing
/// must be refused with a message saying so.
/// </summary>
public class FsdpSingleProcessTests
{
    private static readonly WanConfig Cfg = WanConfig.TinyT2V with { NumLayers = 3, TextLen = 8 };

    private static WanFlowModel Tiny(ulong seed, ScalarType dtype = ScalarType.Float64)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Cfg, dtype) { GradientCheckpointing = true });
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    internal static ProcessGroup GroupOfOne() => ProcessGroup.Init(new DistributedOptions
    {
        MasterPort = RankProcess.FreePort(), Rank = 0, WorldSize = 1, Timeout = TimeSpan.FromSeconds(30),
    });

    [Fact]
    public void One_process_fsdp_reproduces_plain_training_bit_for_bit_and_holds_no_weights_between_uses()
    {
        using var group = GroupOfOne();
        using var plain = Tiny(1);
        using var sharded = Tiny(1);
        using var fsdp = new FullyShardedDataParallel(sharded.Module, group);
        Assert.Equal(Cfg.NumLayers + 1, fsdp.UnitCount);
        Assert.All(sharded.Module.parameters(), p => Assert.Equal(0, p.numel()));              // nothing held between uses
        using var optPlain = new RMSprop(plain.Module.parameters(), lr: 1e-3, alpha: 0.9);
        using var optSharded = new RMSprop(fsdp.parameters(), lr: 1e-3, alpha: 0.9);
        using var g = new Generator(2);
        for (int step = 0; step < 3; step++)
        {
            using var scope = torch.NewScope();
            var x = torch.randn([2, 16, 1, 4, 4], ScalarType.Float64, generator: g);
            var sigma = torch.rand([2], ScalarType.Float64, generator: g);
            var c = new Conditioning(torch.randn([2, 5, Cfg.TextDim], ScalarType.Float64, generator: g));
            var yPlain = plain.Velocity(x, sigma, c);
            var ySharded = fsdp.forward(() => sharded.Velocity(x, sigma, c));
            Assert.Equal(yPlain.data<double>(), ySharded.data<double>());
            yPlain.square().mean().backward();
            fsdp.backward(ySharded.square().mean());
            Assert.All(sharded.Module.parameters(), p => Assert.Equal(0, p.numel()));          // freed after backward too
            Assert.Equal(AptTrainer.GradNorm(plain.Module.parameters()), fsdp.grad_norm(), 12);
            optPlain.step(); optPlain.zero_grad();
            fsdp.step(optSharded); fsdp.zero_grad();
            // no-grad forward: blocks gathered one at a time as they are fetched
            using (torch.no_grad())
                Assert.Equal(plain.Velocity(x, sigma, c).data<double>(), fsdp.forward(() => sharded.Velocity(x, sigma, c)).data<double>());
        }
        var full = fsdp.state_dict();
        var reference = plain.Module.state_dict();
        Assert.Equal(reference.Keys, full.Keys);
        foreach (var (k, v) in reference) Assert.Equal(v.data<double>(), full[k].data<double>());
    }

    [Fact]
    public void No_sync_accumulates_locally_and_clipping_and_the_sharded_ema_match_the_whole_model()
    {
        using var group = GroupOfOne();
        using var plain = Tiny(4);
        using var sharded = Tiny(4);
        using var fsdp = new FullyShardedDataParallel(sharded.Module, group);
        using var emaPlain = new EMA(plain.Module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), 0.9);
        using var emaSharded = new EMA(fsdp.named_parameters(), 0.9);
        using var optPlain = new AdamW(plain.Module.parameters(), lr: 1e-3);
        using var optSharded = new AdamW(fsdp.parameters(), lr: 1e-3);
        using var g = new Generator(5);
        for (int step = 0; step < 2; step++)
        {
            for (int micro = 0; micro < 2; micro++)
            {
                using var scope = torch.NewScope();
                var x = torch.randn([2, 16, 1, 4, 4], ScalarType.Float64, generator: g);
                var sigma = torch.rand([2], ScalarType.Float64, generator: g);
                var c = new Conditioning(torch.randn([2, 5, Cfg.TextDim], ScalarType.Float64, generator: g));
                (plain.Velocity(x, sigma, c).square().mean() / 2).backward();
                if (micro == 0)
                    using (fsdp.no_sync()) fsdp.backward(fsdp.forward(() => sharded.Velocity(x, sigma, c)).square().mean() / 2);
                else fsdp.backward(fsdp.forward(() => sharded.Velocity(x, sigma, c)).square().mean() / 2);
            }
            fsdp.sync_gradients();
            double norm = ClipGrad.clip_grad_norm_(plain.Module.parameters(), 0.01).item<double>();
            Assert.Equal(norm, fsdp.clip_grad_norm_(0.01), 10);
            Assert.True(norm > 0.01);                                              // the clipping did scale
            Assert.Equal(AptTrainer.GradNorm(plain.Module.parameters()), fsdp.grad_norm(), 10);
            optPlain.step(); optPlain.zero_grad();
            fsdp.step(optSharded); fsdp.zero_grad();
            emaPlain.update(plain.Module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
            emaSharded.update(fsdp.named_parameters());
        }
        var full = fsdp.to_full(emaSharded.named_shadows());
        foreach (var (name, shadow) in emaPlain.named_shadows())
            Assert.True((full[name] - shadow).abs().max().item<double>() < 1e-12, $"EMA of '{name}' differs");
        var weights = fsdp.state_dict();
        foreach (var (name, p) in plain.Module.named_parameters())
            Assert.True((weights[name] - p).abs().max().item<double>() < 1e-12, $"'{name}' differs");
        // the optimizer state consolidates into the whole-model optimizer's layout and loads back
        var optFull = fsdp.optimizer_state_dict(optSharded);
        var optRef = optPlain.state_dict();
        Assert.Equal(optRef.Keys.OrderBy(k => k), optFull.Keys.OrderBy(k => k));
        foreach (var (k, v) in optRef) Assert.True((optFull[k].to(ScalarType.Float64) - v.to(ScalarType.Float64)).abs().max().item<double>() < 1e-12, k);
        fsdp.load_optimizer_state_dict(optSharded, optRef);
    }

    [Fact]
    public void A_model_built_on_the_meta_device_takes_its_shards_from_a_whole_state_dict()
    {
        using var group = GroupOfOne();
        using var plain = Tiny(6);
        var meta = new WanFlowModel(new WanModel(Cfg, ScalarType.Float64, Device.Meta) { GradientCheckpointing = true });
        using var fsdp = new FullyShardedDataParallel(meta.Module, group);
        using var state = new AptLab.Torch.IO.StateDict(plain.Module.state_dict());
        fsdp.load_state_dict(state, "plain");
        using var scope = torch.NewScope();
        using var g = new Generator(7);
        var x = torch.randn([1, 16, 1, 4, 4], ScalarType.Float64, generator: g);
        var sigma = torch.rand([1], ScalarType.Float64, generator: g);
        var c = new Conditioning(torch.randn([1, 5, Cfg.TextDim], ScalarType.Float64, generator: g));
        using (torch.no_grad())
            Assert.Equal(plain.Velocity(x, sigma, c).data<double>(), fsdp.forward(() => meta.Velocity(x, sigma, c)).data<double>());
        var bad = plain.Module.state_dict().Where(kv => kv.Key != "head.head.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
        var e = Assert.Throws<InvalidDataException>(() => fsdp.load_state_dict(bad, "truncated.safetensors"));
        Assert.Contains("head.head.bias", e.Message);
        Assert.Contains("truncated.safetensors", e.Message);
    }

    /// <summary>Old ranks' files: <paramref name="flat"/> (the whole vector) padded to a multiple of
    /// <paramref name="world"/> with junk (a reshard must never read the padding) and cut into equal shards.</summary>
    private static List<Tensor> ShardsOf(Tensor flat, int world)
    {
        long n = flat.numel(), s = (n + world - 1) / world;
        var padded = torch.cat([flat, torch.full([s * world - n], 7.0, flat.dtype)]);
        return Enumerable.Range(0, world).Select(r => padded.narrow(0, r * s, s).clone()).ToList();
    }

    [Fact]
    public void A_group_of_one_reshards_the_files_of_other_world_sizes_and_refuses_shards_that_do_not_hold_the_flat()
    {
        using var group = GroupOfOne();
        using var m = Tiny(8);
        using var fsdp = new FullyShardedDataParallel(m.Module, group);
        using var scope = torch.NewScope();
        var whole = fsdp.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var flats = fsdp.sharded_parameters().Select(p => (p.name, full: p.shard.detach().clone())).ToList();
        Assert.True(flats.Count >= 2);
        Assert.Contains(flats, f => f.full.numel() % 3 != 0);                               // the junk padding is read past
        foreach (var (name, full) in flats)
        {
            foreach (int world in new[] { 2, 3, 5 })
            {
                var old = ShardsOf(full, world).Select(t => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor> { ["model." + name] = t }).ToList();
                var mine = fsdp.reshard(name, old, "model." + name, $"{world} shards");
                Assert.Equal(full.numel(), mine.numel());                                   // a group of one holds the whole flat, unpadded
                Assert.Equal(full.data<double>(), mine.data<double>());
            }
            var uneven = new List<IReadOnlyDictionary<string, Tensor>>
            {
                new Dictionary<string, Tensor> { ["k"] = full.narrow(0, 0, 3) },
                new Dictionary<string, Tensor> { ["k"] = full.narrow(0, 3, full.numel() - 3) },
            };
            var e = Assert.Throws<InvalidDataException>(() => fsdp.reshard(name, uneven, "k", "uneven.safetensors"));
            Assert.Contains("uneven.safetensors", e.Message);
            Assert.Contains($"3, {full.numel() - 3} elements", e.Message);
            var shortOnes = ShardsOf(full.narrow(0, 0, full.numel() - 4), 2)
                .Select(t => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor> { ["k"] = t }).ToList();
            e = Assert.Throws<InvalidDataException>(() => fsdp.reshard(name, shortOnes, "k", "short.safetensors"));
            Assert.Contains($"do not hold its {full.numel()} elements", e.Message);
        }
        // load_sharded puts the 3-rank files' values into the shards: the model comes back after its shards are zeroed
        var files = Enumerable.Range(0, 3).Select(_ => new Dictionary<string, Tensor>()).ToList();
        foreach (var (name, full) in flats)
        {
            var shards = ShardsOf(full, 3);
            for (int r = 0; r < 3; r++) files[r]["model." + name] = shards[r];
        }
        using (torch.no_grad()) foreach (var (_, shard) in fsdp.sharded_parameters()) shard.zero_();
        fsdp.load_sharded(files.Cast<IReadOnlyDictionary<string, Tensor>>().ToList(), "model.", "3 ranks");
        foreach (var (k, v) in fsdp.state_dict()) Assert.Equal(whole[k].data<double>(), v.data<double>());
        var missing = files.Select((f, r) => r == 1 ? f.Where(kv => kv.Key != "model." + flats[0].name).ToDictionary() : f)
            .Cast<IReadOnlyDictionary<string, Tensor>>().ToList();
        var e2 = Assert.Throws<InvalidDataException>(() => fsdp.load_sharded(missing, "model.", "run/step-3"));
        Assert.Contains($"run/step-3: rank 1's shard file has no 'model.{flats[0].name}'", e2.Message);
    }

    [Fact]
    public void A_block_run_with_gradients_but_without_checkpointing_is_refused()
    {
        using var group = GroupOfOne();
        using var m = Tiny(3);
        m.Net.GradientCheckpointing = false;
        using var fsdp = new FullyShardedDataParallel(m.Module, group);
        using var scope = torch.NewScope();
        var x = torch.randn([1, 16, 1, 4, 4], ScalarType.Float64);
        var c = new Conditioning(torch.randn([1, 5, Cfg.TextDim], ScalarType.Float64));
        var e = Assert.Throws<InvalidOperationException>(() => fsdp.forward(() => m.Velocity(x, torch.rand([1], ScalarType.Float64), c)));
        Assert.Contains("block 'blocks.0' ran with gradients on but not under activation checkpointing", e.Message);
        Assert.Contains("GradientCheckpointing", e.Message);
    }
}
