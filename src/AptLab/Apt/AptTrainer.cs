using AptLab.Torch.Distributed;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Apt;

/// <summary>A micro-batch of real data: clean latents [B, C, F, H, W] and their conditioning.</summary>
public sealed record RealBatch(Tensor Latents, Conditioning Condition);

/// <summary>
/// One adversarial phase of APT (docs/apt.md#training-loop): per update a discriminator step then a generator step, each
/// accumulated over micro-batches; RMSprop for both, an EMA of the generator. Randomness of update k comes
/// from a generator seeded by (seed, k), so a resumed run draws exactly what an uninterrupted one would.
/// <para>D step: r = D(x, t_r), f = D(G(z), t_f) with G under no-grad, r~ = D(x + n, t_r) with the SAME t_r;
/// L_D = softplus(-r) + softplus(f) + lambda (r - r~)^2. G step: D frozen (requires_grad off) but differentiated
/// through, L_G = softplus(-D(G(z), t)).</para>
/// <para>Precision (<see cref="Training.Precision"/>): under bf16-mixed G and D compute in bf16 while their float32
/// masters, the RMSprop state and the EMA stay float32 (micro-batch gradients are added in float32).</para>
/// <para>Data-parallel (a process group of world_size ranks, e.g. under `aptlab launch`): every rank draws the whole
/// global micro-batch from the shared generator and trains on its <see cref="BatchShard"/>. With
/// <see cref="ParallelMode.Ddp"/> G and D are whole on every rank (rank 0's weights broadcast at construction, the
/// gradients averaged, bucketed); with <see cref="ParallelMode.Fsdp"/> each rank holds 1/N of G, D, their gradients,
/// RMSprop states and the EMA, gathering one DiT block at a time (the models must run their blocks under activation
/// checkpointing; the trainer switches it on for Wan and OmniAvatar). The effective batch is micro_batch x
/// accumulation x world_size, and the data callback must then return the GLOBAL micro-batch (micro_batch x
/// world_size samples). The reported scalars and logits are those of the global batch.</para>
/// </summary>
public sealed partial class AptTrainer : IDisposable
{
    public FlowModel Generator { get; }
    public Discriminator Discriminator { get; }
    /// <summary>G and D as trained (precision and parallelism); their parameters() are what the optimizers step.</summary>
    public IParallelModule G { get; }
    public IParallelModule D { get; }
    /// <summary>The generator's EMA: float32 shadows of G's masters (of this rank's shards under FSDP).</summary>
    public EMA Ema { get; }
    public RMSprop OptG { get; }
    public RMSprop OptD { get; }
    public AptPhaseSettings Settings { get; }
    /// <summary>Completed generator updates.</summary>
    public int Step { get; private set; }

    /// <summary>The parallel mode G and D are trained in.</summary>
    public ParallelMode Parallel { get; }

    /// <summary>The divergence check of the D and G steps (docs/reliability.md#7-diverged-runs): by default a non-finite
    /// loss or gradient norm stops the phase before the update is applied.</summary>
    public NonFiniteGuard NonFinite { get; set; }

    private readonly ulong seed;
    private readonly Func<long, int, Generator, RealBatch> data;
    private readonly ProcessGroup? group;
    private readonly BatchShard shard = BatchShard.Whole;

    /// <summary>Ranks sharing each update (1 without a process group).</summary>
    public int WorldSize => shard.WorldSize;

    /// <param name="data">(update, micro-batch index, rng) -> a real micro-batch (with a group: the global one,
    /// micro_batch x world_size samples)</param>
    /// <param name="group">data-parallel ranks; null trains in this process alone</param>
    /// <param name="precision">fp32 (default), bf16-mixed or bf16 for G, D and the EMA</param>
    /// <param name="parallel">whole replicas (ddp, default) or fully sharded (fsdp; one process is a group of one)</param>
    /// <param name="device">fsdp: where the shards live (default: the models' device; models kept whole on the host
    /// are sharded onto the accelerator)</param>
    public AptTrainer(FlowModel generator, Discriminator discriminator, AptPhaseSettings settings, ulong seed,
        Func<long, int, Generator, RealBatch> data, ProcessGroup? group = null, Precision precision = Precision.Fp32,
        ParallelMode parallel = ParallelMode.Ddp, Device? device = null)
    {
        settings.Validate();
        (Generator, Discriminator, Settings, this.seed, this.data, this.group, Parallel) = (generator, discriminator, settings, seed, data, group, parallel);
        if (group is not null) shard = new BatchShard(group.rank, group.world_size);
        NonFinite = new NonFiniteGuard("apt_" + settings.Name, group: group);
        discriminator.requires_grad_(true);                                   // all of D trains (apt.md 5.2)
        if (parallel == ParallelMode.Fsdp)
        {
            if (group is null) throw new ArgumentException("AptTrainer: parallel fsdp needs a process group (a group of one for a single process)");
            CheckpointBlocks(generator);
            CheckpointBlocks(discriminator.Backbone);
            G = ParallelModules.Wrap(generator.Module, precision, parallel, group, device: device);
            D = ParallelModules.Wrap(discriminator, precision, parallel, group, device: device);
        }
        else
        {
            // with a group: rank 0's weights on every rank before the EMA copies G
            G = new ReplicatedModule(generator.Module, precision, group);
            D = new ReplicatedModule(discriminator, precision, group);
        }
        OptG = new RMSprop(G.parameters(), lr: settings.LrGenerator, alpha: settings.RmsAlpha, eps: settings.RmsEps);
        OptD = new RMSprop(D.parameters(), lr: settings.LrDiscriminator, alpha: settings.RmsAlpha, eps: settings.RmsEps);
        Ema = new EMA(G.named_parameters(), settings.EmaDecay);
    }

    // FSDP gathers a block's weights around its forward and its recomputation in backward: the DiT must run its
    // blocks under activation checkpointing.
    private static void CheckpointBlocks(FlowModel m) => m.GradientCheckpointing = true;

    /// <summary>Scalars of one update.</summary>
    public sealed record UpdateStats(double LossD, double LossG, double R1, double R2, double RealLogit, double FakeLogit,
        double GradNormD, double GradNormG, Tensor RealLogits, Tensor FakeLogits) : IDisposable
    {
        /// <summary>D and G updates skipped so far for non-finite values (skip mode; <see cref="NonFinite"/>).</summary>
        public int Skipped { get; init; }

        public Dictionary<string, double> Scalars(string prefix)
        {
            var d = new Dictionary<string, double>
            {
                [$"{prefix}/loss_d"] = LossD, [$"{prefix}/loss_g"] = LossG, [$"{prefix}/r1"] = R1, [$"{prefix}/r2"] = R2,
                [$"{prefix}/logit_real"] = RealLogit, [$"{prefix}/logit_fake"] = FakeLogit,
                [$"{prefix}/grad_norm_d"] = GradNormD, [$"{prefix}/grad_norm_g"] = GradNormG,
            };
            if (Skipped > 0) d[$"{prefix}/skipped_steps"] = Skipped;
            return d;
        }
        public void Dispose() { RealLogits.Dispose(); FakeLogits.Dispose(); }
    }

    /// <summary>Runs one discriminator update and one generator update.</summary>
    public UpdateStats Update()
    {
        using var rng = new Generator(unchecked(seed * 0x9E3779B97F4A7C15UL + (ulong)Step));
        var s = Settings;
        double r1Std = AdversarialLoss.NoiseStd(s.R1Sigma, s.R1Reading), r2Std = AdversarialLoss.NoiseStd(s.R2Sigma, s.R1Reading);
        int acc = s.Accumulation;
        double lossD = 0, lossG = 0, r1Sum = 0, r2Sum = 0;
        var realLogits = new List<Tensor>();
        var fakeLogits = new List<Tensor>();

        // ---- discriminator step ----
        Discriminator.requires_grad_(true);
        D.zero_grad();
        for (int m = 0; m < acc; m++)
        {
            using var scope = torch.NewScope();
            var (x, c) = shard.Of(data(Step, m, rng));
            long b = x.size(0);
            var z = shard.Randn(x, rng);
            Tensor fake;
            using (torch.no_grad()) fake = G.forward(() => OneStepGenerator.Generate(Generator, z, c));
            var tr = shard.Timesteps(b, s.DiscriminatorShift, rng, x.device);
            var tf = shard.Timesteps(b, s.DiscriminatorShift, rng, x.device);
            var r = Disc(x, tr, c);
            var f = Disc(fake, tf, c);
            var loss = AdversarialLoss.Discriminator(r, f);
            if (s.R1Lambda > 0)
            {
                var rn = Disc(x + shard.Randn(x, rng) * r1Std, tr, c);                 // same t_r
                var r1 = AdversarialLoss.ApproximatedPenalty(r, rn);
                loss = loss + r1 * s.R1Lambda;
                r1Sum += r1.item<double>();
            }
            if (s.R2Lambda > 0)
            {
                var fn = Disc(fake + shard.Randn(fake, rng) * r2Std, tf, c);
                var r2 = AdversarialLoss.ApproximatedPenalty(f, fn);
                loss = loss + r2 * s.R2Lambda;
                r2Sum += r2.item<double>();
            }
            D.backward(loss / acc);
            lossD += loss.item<double>();
            realLogits.Add(r.detach().DetachFromScope());
            fakeLogits.Add(f.detach().DetachFromScope());
        }
        D.sync_gradients();
        double gradNormD = D.grad_norm();
        if (Allows(("loss_d", lossD / acc), ("grad_norm_d", gradNormD))) D.step(OptD);
        D.zero_grad();

        // ---- generator step: D frozen but differentiated through ----
        Discriminator.requires_grad_(false);
        G.zero_grad();
        for (int m = 0; m < acc; m++)
        {
            using var scope = torch.NewScope();
            var (x, c) = shard.Of(data(Step, m, rng));
            var z = shard.Randn(x, rng);
            var fake = G.forward(() => OneStepGenerator.Generate(Generator, z, c));
            var t = shard.Timesteps(x.size(0), s.DiscriminatorShift, rng, x.device);
            var loss = AdversarialLoss.Generator(Disc(fake, t, c));
            G.backward(loss / acc);
            D.post_backward();                                                       // D's gathered weights go (no gradients)
            lossG += loss.item<double>();
        }
        G.sync_gradients();
        double gradNormG = G.grad_norm();
        bool stepG = Allows(("loss_g", lossG / acc), ("grad_norm_g", gradNormG));
        if (stepG) G.step(OptG);
        G.zero_grad();
        Discriminator.requires_grad_(true);
        if (stepG) Ema.update(G.named_parameters());
        Step++;

        using var scope2 = torch.NewScope();
        var rl = scope2.Keep(Gather(torch.cat(realLogits)));
        var fl = scope2.Keep(Gather(torch.cat(fakeLogits)));
        foreach (var t in realLogits.Concat(fakeLogits)) t.Dispose();
        rl.DetachFromScope(); fl.DetachFromScope();
        if (group is not null) (lossD, lossG, r1Sum, r2Sum) = AverageOverRanks(lossD, lossG, r1Sum, r2Sum);
        return new UpdateStats(lossD / acc, lossG / acc, r1Sum / acc, r2Sum / acc, rl.mean().item<double>(), fl.mean().item<double>(),
            gradNormD, gradNormG, rl, fl) { Skipped = NonFinite.Skipped };

        // the divergence check of this update; a stop frees the logits kept so far
        bool Allows(params (string, double)[] values)
        {
            try { return NonFinite.Allows(Step + 1, values); }
            catch { foreach (var t in realLogits.Concat(fakeLogits)) t.Dispose(); throw; }
        }
    }

    // D(x, t, c) [B] through D's wrapper (FSDP gathers D's blocks as they run).
    private Tensor Disc(Tensor x, Tensor t, Conditioning c) => D.forward(() => Discriminator.forward(x, t, c));

    // The logits of every rank [B_global] (rank order), or this process's own.
    private Tensor Gather(Tensor local)
    {
        if (group is null) return local;
        using var scope = torch.NewScope();
        return scope.Keep(torch.cat(group.all_gather(local)));
    }

    // Sums of per-rank means -> the same sums of global means (equal shards: the mean of the rank means).
    private (double, double, double, double) AverageOverRanks(double a, double b, double c, double d)
    {
        using var scope = torch.NewScope();
        var t = torch.tensor(new[] { a, b, c, d }, 4);
        group!.all_reduce(t, ReduceOp.Avg);
        var v = t.data<double>();
        return (v[0], v[1], v[2], v[3]);
    }

    /// <summary>Global L2 norm of the gradients (0 when none): a zero generator norm means D was run without autograd
    /// (the first of docs/apt.md#known-pitfalls).</summary>
    public static double GradNorm(IEnumerable<Tensor> parameters)
    {
        using var scope = torch.NewScope();
        double sq = 0;
        foreach (var p in parameters)
            if (p.grad is { } g) sq += g.to(ScalarType.Float64).square().sum().item<double>();
        return Math.Sqrt(sq);
    }

    /// <summary>Everything needed to resume: G, D, EMA, both optimizers and the step, under prefixed names and the
    /// official key names, in the master dtype, whatever the precision, parallel mode and world size (so a run resumes
    /// under any of them). Under FSDP a collective (every rank calls it; the dict is built on rank 0, the others get an
    /// empty one).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, v) in G.state_dict()) d["generator." + k] = v;
        foreach (var (k, v) in D.state_dict()) d["discriminator." + k] = v;
        foreach (var (k, v) in G.to_full(Ema.named_shadows())) d["ema." + k] = v;
        foreach (var (k, v) in G.optimizer_state_dict(OptG)) d["opt_g." + k] = v;
        foreach (var (k, v) in D.optimizer_state_dict(OptD)) d["opt_d." + k] = v;
        return d;
    }

    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, int step, string? source = null)
    {
        Dictionary<string, Tensor> Part(string prefix) =>
            state.Where(kv => kv.Key.StartsWith(prefix)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        G.load_state_dict(Part("generator."), source);
        D.load_state_dict(Part("discriminator."), source);
        Ema.load_state_dict(G.from_full(Part("ema."), source), num_updates: step, source: source);
        G.load_optimizer_state_dict(OptG, Part("opt_g."), source);
        D.load_optimizer_state_dict(OptD, Part("opt_d."), source);
        Step = step;
    }

    /// <summary>Starts the generator (its masters and the EMA's shadows) from weights under the official names (any
    /// dtype; e.g. a float32 product of an earlier stage read from its file, of which each rank reads only its part under
    /// FSDP), before the first update.</summary>
    public void LoadGenerator(IReadOnlyDictionary<string, Tensor> state, string? source = null)
    {
        if (Step != 0) throw new InvalidOperationException($"AptTrainer.LoadGenerator: the phase has already made {Step} updates");
        G.load_state_dict(state, source);
        var shadows = G.from_full(state, source);
        Ema.load_state_dict(shadows, num_updates: 0, source: source);
        foreach (var t in shadows.Values) if (!state.Values.Contains(t)) t.Dispose();
    }

    /// <summary>The EMA generator's weights under the official names (master dtype; rank 0 only under FSDP, a
    /// collective).</summary>
    public Dictionary<string, Tensor> EmaStateDict() => G.to_full(Ema.named_shadows());

    public void Dispose()
    {
        OptG.Dispose();
        OptD.Dispose();
        Ema.Dispose();
        G.Dispose();
        D.Dispose();
    }
}
