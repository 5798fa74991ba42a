using AptLab.Data;
using AptLab.Avatar;
using AptLab.Torch.IO;
using AptLab.Avatar.Training;
using AptLab.Experiments.Avatar;

namespace AptLab.Tests.Avatar.Training;

/// <summary>Fine-tuning the tiny random OmniAvatar on the fixture's generated clips, in this process.</summary>
[Collection("AvatarTraining")]
public class AvatarTrainingRunTests(AvatarTrainingFixture fx)
{
    // tensors of earlier tests that only the finalizer frees must not move the count in between
    private static long LiveTensors()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return torch.live_tensors();
    }

    [Fact]
    public void LossFallsOnlyTrainableParametersChangeAndTheAudioBranchGetsGradients()
    {
        var a = fx.Config(steps: 40, microBatch: 2).Avatar!;
        var (dit, lora, trainer, source) = fx.Build(a);
        using var _d = dit;
        using var _t = trainer;
        var before = dit.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().DetachFromScope());
        var mse = new List<double>();
        long live = 0;
        for (int s = 0; s < 40; s++)
        {
            mse.Add(trainer.TrainStep(source.Get).Mse);
            if (s == 9) live = LiveTensors();
        }
        Assert.Equal(live, LiveTensors());                                     // no per-step growth of native tensors
        double first = mse.Take(10).Average(), last = mse.TakeLast(10).Average();
        Assert.True(last < 0.85 * first, $"MSE did not fall: first 10 steps {first:F4}, last 10 {last:F4}");

        int frozen = 0, trainable = 0;
        foreach (var (name, p) in dit.named_parameters())
        {
            using var scope = torch.NewScope();
            double diff = (p.detach() - before[name]).abs().max().item<double>();
            if (AvatarTrainableParameters.IsTrainable(name)) { trainable++; Assert.True(diff > 0, $"trainable {name} did not change"); }
            else { frozen++; Assert.True(diff == 0, $"frozen {name} changed by {diff}"); Assert.False(p.requires_grad, name); }
        }
        Assert.Equal(trainer.Trainable.Count, trainable);
        Assert.Equal(2 * lora.Adapters.Count + 2 + 4 + 2 * dit.config.NumAudioProjections, trainable);   // LoRA A/B, patch emb., AudioPack, projections
        Assert.True(frozen > 20);
        foreach (var t in before.Values) t.Dispose();

        // one more backward: every audio tensor receives a non-zero gradient (the LayerNorm weight left 0 at init)
        using (var scope = torch.NewScope())
        {
            var batch = source.Get(trainer.Step, 0);
            var output = trainer.Objective.Compute(dit, batch, trainer.Draw(batch));
            output.Loss.backward();
            foreach (var (name, p) in trainer.Trainable.Where(t => t.name.StartsWith("audio_")))
                Assert.True(p.grad is { } g && g.abs().sum().item<double>() > 0, $"{name} has no gradient");
            dit.zero_grad();
        }
        // the cache was read every epoch (20 epochs of 2 micro-batches) and never extended
        Assert.Equal(4, LatentCache.Open(fx.CacheDir).Count);
    }

    [Fact]
    public void ExportLoadsBackIntoAFreshModelWithUpstreamKeysAndIdenticalOutputs()
    {
        var a = fx.Config(steps: 3, microBatch: 2).Avatar!;
        var (dit, lora, trainer, source) = fx.Build(a);
        using var _d = dit;
        using var _t = trainer;
        for (int s = 0; s < 3; s++) trainer.TrainStep(source.Get);
        using var tmp = TestPaths.Temp();
        var path = OmniAvatarExport.Save(dit, lora, tmp.Path);
        Assert.Equal("pytorch_model.pt", Path.GetFileName(path));
        Assert.True(File.Exists(tmp.File("config.json")));

        using var file = Checkpoint.Load(path);
        var expectedKeys = dit.state_dict().Keys.Where(OmniAvatarWeights.IsTrainedKey).OrderBy(k => k, StringComparer.Ordinal);
        Assert.Equal(expectedKeys, file.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var k in new[] { "blocks.0.self_attn.q.lora_A.default.weight", "blocks.3.ffn.2.lora_B.default.weight",
                                  "blocks.1.cross_attn.o.lora_A.default.weight", "patch_embedding.weight", "patch_embedding.bias",
                                  "audio_proj.proj.weight", "audio_proj.norm_out.bias", "audio_cond_projs.0.weight" })
            Assert.True(file.ContainsKey(k), $"missing upstream key {k}");

        // a fresh model: same base (seeded), different adapters and audio weights until the file is loaded
        var (fresh, freshLora) = AvatarFinetuneModels.BuildDit(a, 99, TextWriter.Null);
        using var _f = fresh;
        var (freshBase, _) = AvatarFinetuneModels.BuildDit(a, 0, TextWriter.Null);
        using (torch.no_grad())
            foreach (var (k, p) in fresh.state_dict().Where(kv => !OmniAvatarWeights.IsTrainedKey(kv.Key)))
                p.copy_(freshBase.state_dict()[k]);                            // the Wan base of the trained model
        freshBase.Dispose();
        var report = OmniAvatarWeights.LoadOmniAvatar(fresh, path, freshLora);
        Assert.Equal(file.Count, report.Consumed.Count);
        Assert.Empty(report.Unexpected);

        using var scope = torch.NewScope();
        dit.eval(); fresh.eval();
        var batch = source.Get(0, 0);
        var draw = trainer.Draw(batch);
        using var _g = torch.no_grad();
        var y = AvatarFlowMatchingLoss.BuildY(batch.RefLatents, batch.Latents.size(2), draw.PrefixFrames);
        var t = torch.tensor(new[] { 300f, 700f }, 2);
        var o1 = dit.forward(draw.Noise, t, batch.Context, y, batch.Audio);
        var o2 = fresh.forward(draw.Noise, t, batch.Context, y, batch.Audio);
        Assert.Equal(0.0, (o1 - o2).abs().max().item<double>());
        Assert.True(o1.abs().max().item<double>() > 0.1);
    }

    [Fact]
    public void AResumedRunReproducesTheUninterruptedLosses()
    {
        var a = fx.Config(steps: 6, microBatch: 2).Avatar!;
        double[] Run(int steps, Func<OmniAvatarTrainer, int>? before = null, Action<OmniAvatarTrainer>? after = null)
        {
            var (dit, _, trainer, source) = fx.Build(a);
            using var _d = dit;
            using var _t = trainer;
            before?.Invoke(trainer);
            var losses = new List<double>();
            while (trainer.Step < steps) losses.Add(trainer.TrainStep(source.Get).Loss);
            after?.Invoke(trainer);
            return losses.ToArray();
        }
        using var tmp = TestPaths.Temp();
        var straight = Run(6);
        var head = Run(3, after: t => t.SaveCheckpoint(tmp.Path));
        Assert.Single(Directory.GetFiles(tmp.Path, "avatar-step-000003.safetensors"));
        var tail = Run(6, before: t => t.ResumeLatest(tmp.Path) ?? -1);
        Assert.Equal(3, tail.Length);
        var resumed = head.Concat(tail).ToArray();
        for (int i = 0; i < 6; i++) Assert.Equal(straight[i], resumed[i], Math.Abs(straight[i]) * 1e-6);
        // the draws differ from step to step (so equal losses are not a coincidence of a constant stream)
        Assert.True(straight.Distinct().Count() == 6);
    }
}
