using AptLab.Apt;
using AptLab.Diffusion;
using AptLab.Tests.Parallel;
using AptLab.Torch.IO;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Tests.Apt;

/// <summary>
/// The APT parts at their edges: the argument checks a bad config or a wrong call meets (discriminator head layers
/// outside the backbone, a head width not divisible by the heads, a readout fed the wrong number of hidden states,
/// conditionings with different extras, loading a generator into a phase that has already updated, invalid phase
/// settings, a sharded checkpoint without its layouts), each at the value just inside and just outside its range;
/// the proportional head layers on backbones of 1 to 4 blocks; the cat of two conditionings value by value; what one
/// update's statistics log; and the metadata of a sharded checkpoint.
/// </summary>
public class AptArgumentTests
{
    private static WanFlowModel Tiny(ulong seed, int layers = 2)
    {
        torch.manual_seed(seed);
        return new WanFlowModel(new WanModel(WanConfig.TinyT2V with { NumLayers = layers, TextLen = 8 }, ScalarType.Float64));
    }

    [Fact]
    public void Discriminator_head_layers_must_lie_in_the_backbones_blocks()
    {
        using var _ = torch.NewScope();
        using var backbone = Tiny(1, layers: 3);
        foreach (var bad in new[] { Array.Empty<int>(), [-1], [3], [0, 3], [-1, 2] })
        {
            var e = Assert.Throws<ArgumentException>(() => new Discriminator(backbone, bad));
            Assert.Equal($"discriminator head layers [{string.Join(", ", bad)}] must lie in 0..2", e.Message);
        }
        foreach (var good in new[] { new[] { 0 }, [2], [0, 1, 2] })
        {
            using var d = new Discriminator(backbone.Copy(), good);
            Assert.Equal(good, d.Layers);
            Assert.Equal(good.Length, d.readout.heads.Count);
            Assert.Equal(new long[] { 1, good.Length * backbone.Dim }, d.readout.proj.weight.shape);
            Assert.Equal(ScalarType.Float64, d.readout.proj.weight.dtype);                   // the backbone's dtype
        }
        using var byDefault = new Discriminator(backbone.Copy());
        Assert.Equal(DiscriminatorReadout.DefaultLayers(3), byDefault.Layers);
    }

    [Fact]
    public void Default_head_layers_on_small_backbones_stay_inside_and_distinct()
    {
        // round(L m / 36) - 1 for m = 16, 26, 36, clamped to 0..L-1, duplicates removed (docs/apt.md#heads)
        Assert.Equal(new[] { 0 }, DiscriminatorReadout.DefaultLayers(1));
        Assert.Equal(new[] { 0, 1 }, DiscriminatorReadout.DefaultLayers(2));
        Assert.Equal(new[] { 0, 1, 2 }, DiscriminatorReadout.DefaultLayers(3));
        Assert.Equal(new[] { 1, 2, 3 }, DiscriminatorReadout.DefaultLayers(4));
        Assert.Equal(new[] { 3, 5, 7 }, DiscriminatorReadout.DefaultLayers(8));
    }

    [Fact]
    public void A_head_needs_a_width_divisible_by_its_heads_and_a_readout_one_hidden_state_per_head()
    {
        using var _ = torch.NewScope();
        Assert.Equal("head dim: 10 is not divisible by 3 heads", Assert.Throws<ArgumentException>(() => new DiscriminatorHead(10, 3)).Message);
        using (var head = new DiscriminatorHead(12, 3))
            Assert.Equal(new long[] { 4 }, head.norm_q_head.weight!.shape);                 // per-head width 12 / 3
        using var readout = new DiscriminatorReadout(dim: 8, numHeads: 2, count: 3);
        foreach (var n in new[] { 2, 4 })
        {
            var hidden = Enumerable.Range(0, n).Select(_ => torch.randn(2, 5, 8)).ToArray();
            Assert.Equal($"3 heads but {n} hidden states", Assert.Throws<ArgumentException>(() => readout.forward(hidden, null)).Message);
        }
        Assert.Equal(new long[] { 2 }, readout.forward(Enumerable.Range(0, 3).Select(_ => torch.randn(2, 5, 8)).ToArray(), null).shape);
    }

    [Fact]
    public void Conditionings_cat_along_the_batch_with_contexts_zero_padded_and_the_same_extras()
    {
        using var _ = torch.NewScope();
        var g = new Generator(4);
        Tensor R(params long[] shape) => torch.randn(shape, ScalarType.Float64, generator: g);
        var a = new Conditioning(R(2, 3, 4), ClipFeatures: R(2, 5, 6), Y: R(2, 7, 1, 2, 2), Audio: R(2, 9, 3),
            Extras: new Dictionary<string, Tensor> { ["ref"] = R(2, 2), ["pose"] = R(2, 1) });
        var b = new Conditioning(R(1, 5, 4), ClipFeatures: R(1, 5, 6), Y: R(1, 7, 1, 2, 2), Audio: R(1, 9, 3),
            Extras: new Dictionary<string, Tensor> { ["pose"] = R(1, 1), ["ref"] = R(1, 2) });
        var c = Conditioning.Cat(a, b);
        Assert.Equal(new long[] { 3, 5, 4 }, c.Context.shape);                              // the longer context
        TensorAssert.Close(a.Context, c.Context.narrow(0, 0, 2).narrow(1, 0, 3), atol: 0);
        Assert.Equal(0, c.Context.narrow(0, 0, 2).narrow(1, 3, 2).abs().max().item<double>()); // a's rows padded with zeros
        TensorAssert.Close(b.Context, c.Context.narrow(0, 2, 1), atol: 0);
        foreach (var (x, y, z) in new[] { (a.ClipFeatures!, b.ClipFeatures!, c.ClipFeatures!), (a.Y!, b.Y!, c.Y!), (a.Audio!, b.Audio!, c.Audio!),
                     (a.Extras!["ref"], b.Extras!["ref"], c.Extras!["ref"]), (a.Extras["pose"], b.Extras["pose"], c.Extras["pose"]) })
            TensorAssert.Close(torch.cat(new[] { x, y }), z, atol: 0);
        Assert.Equal(new long[] { 3, 5, 4 }, Conditioning.Cat(b, a).Context.shape);          // either order
        TensorAssert.Close(b.Context, Conditioning.Cat(b, a).Context.narrow(0, 0, 1), atol: 0);

        var plain = Conditioning.Cat(new Conditioning(R(1, 3, 4)), new Conditioning(R(2, 3, 4)));
        Assert.Equal(new long[] { 3, 3, 4 }, plain.Context.shape);
        Assert.Null(plain.ClipFeatures);
        Assert.Null(plain.Y);
        Assert.Null(plain.Audio);
        Assert.Null(plain.Extras);

        var only = new Dictionary<string, Tensor> { ["ref"] = R(1, 2) };
        var other = new Dictionary<string, Tensor> { ["pose"] = R(1, 2) };
        Assert.Equal("Conditioning.Cat: the extras differ (ref vs )",
            Assert.Throws<ArgumentException>(() => Conditioning.Cat(new Conditioning(R(1, 3, 4), Extras: only), new Conditioning(R(1, 3, 4)))).Message);
        Assert.Equal("Conditioning.Cat: the extras differ ( vs ref)",
            Assert.Throws<ArgumentException>(() => Conditioning.Cat(new Conditioning(R(1, 3, 4)), new Conditioning(R(1, 3, 4), Extras: only))).Message);
        Assert.Equal("Conditioning.Cat: the extras differ (ref vs pose)",
            Assert.Throws<ArgumentException>(() => Conditioning.Cat(new Conditioning(R(1, 3, 4), Extras: only), new Conditioning(R(1, 3, 4), Extras: other))).Message);
    }

    [Fact]
    public void A_parallel_flow_model_runs_through_its_wrapper_and_cannot_be_copied()
    {
        using var _ = torch.NewScope();
        using var inner = Tiny(1);
        using var wrapper = new ReplicatedModule(inner.Module, AptLab.Training.Precision.Fp32);
        var m = new ParallelFlowModel(inner, wrapper);
        Assert.Equal((inner.NumLayers, inner.Dim, inner.NumHeads), (m.NumLayers, m.Dim, m.NumHeads));
        var x = torch.randn([1, 16, 1, 4, 4], ScalarType.Float64);
        var c = new Conditioning(torch.randn([1, 5, WanConfig.TinyT2V.TextDim], ScalarType.Float64));
        var sigma = torch.tensor(new[] { 0.4 });
        TensorAssert.Close(inner.Velocity(x, sigma, c), m.Velocity(x, sigma, c), atol: 0);
        Assert.Equal("ParallelFlowModel cannot be copied: take the weights from its wrapper's state_dict()",
            Assert.Throws<NotSupportedException>(() => m.Copy()).Message);
        m.Dispose();                                                                          // the caller's model stays usable
        TensorAssert.Close(inner.Velocity(x, sigma, c), m.Velocity(x, sigma, c), atol: 0);
    }

    private static RealBatch Data(long step, int micro, Generator g) => new(
        torch.randn([2, 16, 1, 4, 4], ScalarType.Float64, generator: g) * 0.5 + 0.3,
        new Conditioning(torch.randn([2, 5, WanConfig.TinyT2V.TextDim], ScalarType.Float64, generator: g)));

    [Fact]
    public void The_trainer_validates_its_settings_and_loads_a_generator_only_before_its_first_update()
    {
        using var _ = torch.NewScope();
        using var gen = Tiny(1);
        using var disc = new Discriminator(Tiny(2), [1]);
        var e = Assert.Throws<ArgumentException>(() => new AptTrainer(gen, disc, new AptPhaseSettings { Name = "video", MicroBatch = 0 }, 5, Data));
        Assert.Equal("apt.video: micro_batch and accumulation must be >= 1", e.Message);
        var fsdp = Assert.Throws<ArgumentException>(() => new AptTrainer(gen, disc, new AptPhaseSettings { MicroBatch = 2 }, 5, Data, parallel: ParallelMode.Fsdp));
        Assert.Equal("AptTrainer: parallel fsdp needs a process group (a group of one for a single process)", fsdp.Message);
        using var trainer = new AptTrainer(gen, disc, new AptPhaseSettings { MicroBatch = 2, Lr = 1e-3 }, 5, Data);
        using var start = Tiny(3);
        var state = start.Module.state_dict();
        const string key = "blocks.0.self_attn.q.weight";                                   // random at init (Wan zero-inits the head)
        Assert.False(torch.allclose(state[key], gen.Module.state_dict()[key]));
        trainer.LoadGenerator(state);                                                         // before the first update: allowed
        var loaded = gen.Module.state_dict();
        var ema = trainer.EmaStateDict();
        foreach (var (k, v) in state)
        {
            TensorAssert.Close(v, loaded[k], atol: 0);                                         // the generator's masters
            TensorAssert.Close(v, ema[k], atol: 0);                                            // and the EMA's shadows
        }
        trainer.Update().Dispose();
        var after = Assert.Throws<InvalidOperationException>(() => trainer.LoadGenerator(state));
        Assert.Equal("AptTrainer.LoadGenerator: the phase has already made 1 updates", after.Message);
    }

    [Fact]
    public void An_updates_scalars_name_every_statistic_and_skipped_steps_only_once_some_were_skipped()
    {
        using var _ = torch.NewScope();
        using var none = new AptTrainer.UpdateStats(1, 2, 3, 4, 5, 6, 7, 8, torch.zeros(1), torch.zeros(1));
        var s = none.Scalars("apt_video");
        Assert.Equal(new Dictionary<string, double>
        {
            ["apt_video/loss_d"] = 1, ["apt_video/loss_g"] = 2, ["apt_video/r1"] = 3, ["apt_video/r2"] = 4, ["apt_video/logit_real"] = 5,
            ["apt_video/logit_fake"] = 6, ["apt_video/grad_norm_d"] = 7, ["apt_video/grad_norm_g"] = 8,
        }, s);
        using var some = none with { RealLogits = torch.zeros(1), FakeLogits = torch.zeros(1), Skipped = 1 };
        Assert.Equal(1, some.Scalars("apt_video")["apt_video/skipped_steps"]);
        Assert.Equal(9, some.Scalars("apt_video").Count);
    }

    [Fact]
    public void A_sharded_checkpoint_records_precision_and_gradient_members_and_one_without_layouts_is_refused()
    {
        using var _ = torch.NewScope();
        using var gen = Tiny(1);
        using var disc = new Discriminator(Tiny(2), [1]);
        using var group = FsdpSingleProcessTests.GroupOfOne();
        using var trainer = new AptTrainer(gen, disc, new AptPhaseSettings { MicroBatch = 2, Lr = 1e-3 }, 5, Data, group, parallel: ParallelMode.Fsdp);
        trainer.Update().Dispose();
        var (tensors, meta) = trainer.ShardedStateDict();
        Assert.Equal("1", meta["step"]);
        Assert.Equal("fp32", meta["precision"]);
        var fsdpG = (FullyShardedDataParallel)trainer.G;
        var fsdpD = (FullyShardedDataParallel)trainer.D;
        Assert.Equal(fsdpG.gradient_members(), meta["grad_members_generator"]);
        Assert.Equal(fsdpD.gradient_members(), meta["grad_members_discriminator"]);
        Assert.NotEqual(meta["grad_members_generator"], meta["grad_members_discriminator"]);
        Assert.Equal(fsdpG.layout_json(), meta["layout_generator"]);
        Assert.Equal(fsdpD.layout_json(), meta["layout_discriminator"]);
        foreach (var missing in new[] { "step", "layout_generator", "layout_discriminator" })
        {
            var partial = meta.Where(kv => kv.Key != missing).ToDictionary();
            using var rank0 = new StateDict { Metadata = partial };
            var e = Assert.Throws<InvalidDataException>(() => trainer.LoadShardedStateDict([rank0], "ckpt/apt_image-1.shards"));
            Assert.Equal("ckpt/apt_image-1.shards: not an APT sharded checkpoint (no flat layouts or step in its metadata)", e.Message);
        }
        Assert.Equal(1, trainer.Step);
    }

    [Fact]
    public void A_cached_teacher_target_is_cut_to_the_ranks_rows_like_the_batch()
    {
        using var _ = torch.NewScope();
        using var teacher = Tiny(1);
        using var student = Tiny(2);
        var s = new CdSettings { Steps = 4, Shift = 3, Guidance = 2 };
        var x0 = torch.randn([4, 16, 1, 4, 4], ScalarType.Float64, generator: new Generator(5));
        var c = new Conditioning(torch.randn([4, 5, WanConfig.TinyT2V.TextDim], ScalarType.Float64, generator: new Generator(6)));
        var neg = new Conditioning(torch.zeros([4, 5, WanConfig.TinyT2V.TextDim], ScalarType.Float64));
        // the global target x^_n from the draws Loss makes (n, then eps) on the same stream
        var g = new Generator(7);
        var n = torch.randint(0, s.Steps, [4], generator: g);
        var eps = torch.randn(x0.shape, x0.dtype, x0.device, g);
        var tk = ConsistencyDistillation.Discretisation(s.Steps, s.Shift);
        var (tn, tn1) = (tk.index_select(0, n), tk.index_select(0, n + 1L));
        var target = ConsistencyDistillation.TeacherStep(teacher, FlowMatch.AddNoise(x0, eps, tn1), tn1, tn, c, neg, s.Guidance);
        foreach (var rank in new[] { 0, 1 })
        {
            var shard = new BatchShard(rank, 2);
            var (computed, steps) = ConsistencyDistillation.Loss(student, teacher, x0, c, neg, s, new Generator(7), shard: shard);
            var (cached, steps2) = ConsistencyDistillation.Loss(student, teacher, x0, c, neg, s, new Generator(7), target, shard);
            Assert.Equal(n.narrow(0, 2 * rank, 2).data<long>(), steps.data<long>());
            Assert.Equal(steps.data<long>(), steps2.data<long>());
            Assert.Equal(computed.item<double>(), cached.item<double>(), 12);
            var (moved, _) = ConsistencyDistillation.Loss(student, teacher, x0, c, neg, s, new Generator(7), target + 0.5, shard);
            Assert.True(Math.Abs(moved.item<double>() - computed.item<double>()) > 1e-6, "the cached target is not used");
        }
    }
}
