using AptLab.Torch.optim;
using AptLab.Training;
using AptLab.Wan.Vae;

namespace AptLab.Experiments;

/// <summary>
/// Stage 1 of the demo: train the tiny Wan VAE on the synthetic images and clips (reconstruction MSE of the decoded
/// posterior mean plus a small KL term, through the whole-sequence formulation, which equals the streaming one), then encode the training set
/// once (the latent cache) and fit the per-channel latent mean/std the diffusion models see.
/// </summary>
public static class VaeStage
{
    public static void Run(StudyContext ctx)
    {
        var d = ctx.Config.Data;
        Train(ctx, ctx.Vae, ctx.Config.Vae, d.TrainVideos > 0, (video, batch, rng) =>
        {
            var src = video ? ctx.Videos : ctx.Images;
            int n = video ? d.TrainVideos : d.TrainImages;
            return src.Batch(torch.randint(0, n - batch + 1, [1], generator: rng).item<long>(), batch).pixels;
        });
        EncodeTrainingSet(ctx);
    }

    /// <summary>A batch of pixels [B, 3, T, H, W] in [-1, 1]: clips when <c>video</c>, else images (T = 1), drawn with the generator.</summary>
    public delegate Tensor PixelSource(bool video, int batch, Generator rng);

    /// <summary>cfg.steps AdamW steps of <paramref name="vae"/> (cfg.lr, constant or cosine-decayed to 0) on reconstruction MSE + kl_weight · KL
    /// (+ temporal_weight · <see cref="MotionLoss"/> on clips); every
    /// <paramref name="videoEvery"/>-th step a clip batch (half the batch size) when <paramref name="videos"/>. Leaves the
    /// VAE in eval mode.</summary>
    public static void Train(RunContext ctx, WanVAE vae, VaeStageConfig cfg, bool videos, PixelSource batches, int videoEvery = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(videoEvery, 1);
        using var opt = new AdamW(vae.parameters(), lr: cfg.Lr, weight_decay: 0);
        var schedule = cfg.LrSchedule == "cosine" ? new LRScheduler(opt, new LRSchedule.Cosine(0, Math.Max(1, cfg.Steps))) : null;
        var progress = new ProgressReporter("vae", cfg.Steps, ctx.Out, every: 25);
        using var rng = new Generator(ctx.Config.Seed + Seeds.Vae);
        var guard = ctx.NonFinite("vae");
        vae.train();
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            bool video = videos && step % videoEvery == 0;                                  // clips are several times the work of images
            int batch = video ? Math.Max(1, cfg.Batch / 2) : cfg.Batch;
            var x = batches(video, batch, rng).to(ctx.Device);
            // The diffusion models see the posterior mean (encode_moments' mu), so the decoder is trained on mu:
            // sampling z with the initial unit variance would bury the signal in noise for a short schedule. A small
            // KL term still keeps the latents near the unit Gaussian scale.
            var (rec, mu, logVar) = Reconstruct(vae, x);
            var recon = F.mse_loss(rec, x);
            var kl = ((mu.square() + logVar.exp() - logVar - 1.0) * 0.5).mean();
            var loss = recon + kl * cfg.KlWeight;
            if (cfg.TemporalWeight > 0 && x.size(2) > 1) loss = loss + MotionLoss(rec, x) * cfg.TemporalWeight;
            loss.backward();
            double l = recon.item<double>();
            if (guard.Allows(step, ("loss", loss.item<double>()), ("grad_norm", NonFiniteGuard.GradNorm(vae.parameters()))))
            {
                opt.step();
                ctx.Log.Scalars(step, new Dictionary<string, double> { ["vae/recon_mse"] = l, ["vae/kl"] = kl.item<double>(), ["vae/lr"] = opt.param_groups[0].lr });
            }
            else ctx.Log.Scalar(step, "vae/skipped_steps", guard.Skipped);
            opt.zero_grad();
            schedule?.step();
            progress.Report(step, new Dictionary<string, double> { ["mse"] = l }, batch);
        }
        vae.eval();
    }

    /// <summary>The motion term: MSE between the consecutive-frame differences of the reconstruction and of the input,
    /// mean over [B, 3, T - 1, H, W] (x̂[:, :, 1:] - x̂[:, :, :-1] against the same of x).</summary>
    public static Tensor MotionLoss(Tensor rec, Tensor x)
    {
        long t = x.size(2);
        Tensor Diff(Tensor v) => v.narrow(2, 1, t - 1) - v.narrow(2, 0, t - 1);
        return F.mse_loss(Diff(rec), Diff(x));
    }

    /// <summary>The training reconstruction of <paramref name="x"/> [B, 3, T, H, W]: the decoded posterior mean, through
    /// the whole-sequence passes. decode takes the NORMALISED latent (official semantics) and denormalises it, so the
    /// mean goes through normalize: the decoder then sees mu whatever the latent statistics are now or are refitted to
    /// later, and equals <c>vae.decode(vae.encode(x))</c> (without the clamp) at any time.</summary>
    public static (Tensor rec, Tensor mu, Tensor logVar) Reconstruct(WanVAE vae, Tensor x)
    {
        var (mu, logVar) = vae.encode_whole_sequence(x);
        return (vae.decode_whole_sequence(vae.normalize(mu)), mu, logVar);
    }

    /// <summary>Encodes every training sample (no grad), sets the VAE's latent mean/std from the image latents and
    /// stores the normalised latents in the context.</summary>
    public static void EncodeTrainingSet(StudyContext ctx, bool refitStats = true)
    {
        using var _ = torch.no_grad();
        var vae = ctx.Vae;
        Tensor EncodeAll(Data.Synthetic.MovingShapes src, int count)
        {
            var parts = new List<Tensor>();
            for (int i = 0; i < count; i += 64)
            {
                using var scope = torch.NewScope();
                var (x, _) = src.Batch(i, Math.Min(64, count - i));
                parts.Add(scope.Keep(vae.encode_moments(x.to(ctx.Device)).mu));
            }
            var all = torch.cat(parts);
            foreach (var p in parts) p.Dispose();
            return all;
        }
        var images = EncodeAll(ctx.Images, ctx.Config.Data.TrainImages);             // [N, z, 1, h, w]
        var videos = ctx.Config.Data.TrainVideos > 0 ? EncodeAll(ctx.Videos, ctx.Config.Data.TrainVideos) : null;
        if (refitStats)
        using (var scope = torch.NewScope())
        {
            var mean = images.mean([0, 2, 3, 4], keepdim: true);                          // [1, z, 1, 1, 1]
            var std = images.std([0, 2, 3, 4], keepdim: true);
            vae.latent_mean.copy_(mean);
            vae.latent_inv_std.copy_(std.reciprocal());
        }
        ctx.ImageLatents = Normalize(vae, images);
        ctx.VideoLatents = videos is null ? null : Normalize(vae, videos);
        images.Dispose();
        videos?.Dispose();
    }

    private static Tensor Normalize(WanVAE vae, Tensor mu)
    {
        using var scope = torch.NewScope();
        return scope.Keep(vae.normalize(mu)).DetachFromScope();
    }
}
