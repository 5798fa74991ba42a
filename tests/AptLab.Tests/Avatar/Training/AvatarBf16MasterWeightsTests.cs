using AptLab.Data;
using AptLab.Avatar;
using AptLab.Wan.Vae;
using AptLab.Torch.IO;
using AptLab.Torch.optim;
using AptLab.Torch.nn;
using AptLab.Training;
using AptLab.Avatar.Training;
using Xunit.Abstractions;
using AptLab.Avatar.Data;
using AptLab.Experiments.Avatar;

namespace AptLab.Tests.Avatar.Training;

/// <summary>bf16-mixed fine-tuning (docs/precision-and-parallelism.md) of the tiny random OmniAvatar rounded to bf16: the
/// model computes in bf16 throughout (frozen base and trainable compute copies), the trainable tensors have float32
/// masters, float32 accumulated gradients and float32 AdamW state, and the export is bf16(master). This replaced
/// DiffSynth's in-place upcast (trainable layers computing in float32): what still holds is that sub-bf16-ulp updates
/// move the weights that train and that the frozen base never changes; what changed is that the trainable layers now
/// compute in bf16, so the forward equals the all-bf16 model's bit for bit.</summary>
[Collection("AvatarTraining")]
public class AvatarBf16MasterWeightsTests(AvatarTrainingFixture fx, ITestOutputHelper output)
{
    private AvatarFinetuneConfig Bf16Config(int microBatch = 1)
    {
        var a = fx.Config(steps: 3, microBatch: microBatch).Avatar!;
        a.Dtype = "bf16";
        return a;
    }

    private static Dictionary<string, Tensor> Snapshot(IEnumerable<(string name, Tensor t)> tensors) =>
        tensors.ToDictionary(p => p.name, p => p.t.detach().clone().DetachFromScope());

    private static IEnumerable<(string, Tensor)> Named(Module m) => m.named_parameters().Select(p => (p.name, (Tensor)p.parameter));

    [Fact]
    public void Float32MastersForExactlyTheTrainableSetWhileTheModelStaysBf16AndComputesAsBefore()
    {
        var a = Bf16Config();
        torch.manual_seed(0);
        var (dit, lora) = AvatarFinetuneModels.BuildDit(a, 0, TextWriter.Null);
        using var _d = dit;
        Assert.All(dit.named_parameters(), p => Assert.Equal(ScalarType.BFloat16, p.parameter.dtype));
        var before = Snapshot(Named(dit));
        var registered = dit.named_parameters().ToDictionary(p => p.name, p => p.parameter);

        // the forward of the all-bf16 model, to compare with the trainer's
        var dataset = new AvatarCachedDataset(LatentCache.Open(fx.CacheDir), LatentStats.Wan21);
        using var scope = torch.NewScope();
        var batch = dataset.Batch([0]);
        var y = AvatarFlowMatchingLoss.BuildY(batch.RefLatents, batch.Latents.size(2), [1]);
        using var g = new Generator(5);
        var noise = torch.randn(batch.Latents.shape, ScalarType.Float32, generator: g);
        var t = torch.tensor(new[] { 600f }, 1);
        Tensor pure;
        using (torch.no_grad()) pure = dit.forward(noise, t, batch.Context, y, batch.Audio);

        using var trainer = new OmniAvatarTrainer(dit, a.Settings(), 0, precision: AptLab.Training.Precision.Bf16Mixed);
        var wrapped = Assert.IsType<ReplicatedModule>(trainer.Wrapped);
        var masters = wrapped.Weights.named_masters().ToDictionary(m => m.name, m => m.master);
        int trainable = 0, frozen = 0;
        foreach (var (name, p) in dit.named_parameters())
        {
            Assert.Same(registered[name], p);                                  // the same registered parameter, still bf16
            Assert.Equal(ScalarType.BFloat16, p.dtype);
            Assert.Equal(0.0, (p.detach().to(ScalarType.Float64) - before[name].to(ScalarType.Float64)).abs().max().item<double>());
            bool on = AvatarTrainableParameters.IsTrainable(name);
            Assert.Equal(on, p.requires_grad);
            Assert.Equal(on, masters.ContainsKey(name));
            if (on)
            {
                Assert.Equal(ScalarType.Float32, masters[name].dtype);        // the master: an exact float32 copy
                Assert.Equal(0.0, (masters[name].to(ScalarType.Float64) - before[name].to(ScalarType.Float64)).abs().max().item<double>());
                trainable++;
            }
            else frozen++;
        }
        Assert.Equal(trainer.Trainable.Count, trainable);
        Assert.Equal(trainable, trainer.Wrapped.parameters().Count);
        Assert.All(trainer.Wrapped.parameters(), m => Assert.Equal(ScalarType.Float32, m.dtype));   // AdamW steps the masters
        Assert.True(frozen > 20);
        Assert.Equal(ScalarType.BFloat16, lora.Adapters.Values.First().lora_A.weight.dtype);
        Assert.Equal(ScalarType.BFloat16, dit.Dtype);
        foreach (var v in before.Values) v.Dispose();

        // the same computation as the all-bf16 model: bit for bit
        using (torch.no_grad())
        {
            var mixed = trainer.Wrapped.forward(() => dit.forward(noise, t, batch.Context, y, batch.Audio));
            Assert.Equal(pure.dtype, mixed.dtype);
            Assert.True(pure.abs().max().item<double>() > 0.1);
            Assert.Equal(0.0, (mixed.to(ScalarType.Float64) - pure.to(ScalarType.Float64)).abs().max().item<double>());
            Assert.Equal(ScalarType.BFloat16, dit.AudioConditioning(batch.Audio).dtype);
        }
    }

    private const double TinyLr = 2e-7;

    [Fact]
    public void UpdatesBelowBf16ResolutionMoveTheFloat32MastersAndTheComputeCopiesFollowThem()
    {
        var a = Bf16Config(microBatch: 2);
        a.WarmupSteps = 0;
        a.AudioDropout = 0;
        var (dit, lora, trainer, source) = fx.Build(a, precision: AptLab.Training.Precision.Bf16Mixed);
        using var _d = dit;
        using var _t = trainer;
        var wrapped = (ReplicatedModule)trainer.Wrapped;
        // 3 steps at the fixture's lr (2e-3) move LoRA B and the audio LayerNorm off 0, so every tensor has gradients;
        // then 2 steps at lr 2e-7: Adam moves each weight by about lr per step, far below bf16's resolution
        Dictionary<string, Tensor>? before = null, frozenBefore = null;
        for (int s = 0; s < 5; s++)
        {
            if (s == 3)
            {
                trainer.Scheduler.load_state_dict(new LRSchedulerState(trainer.Step, [TinyLr]));
                before = Snapshot(wrapped.Weights.named_masters());
                frozenBefore = Snapshot(Named(dit).Where(p => !AvatarTrainableParameters.IsTrainable(p.Item1)));
            }
            var stats = trainer.TrainStep(source.Get);
            Assert.True(double.IsFinite(stats.Loss) && stats.Loss > 0, $"step {s + 1}: loss {stats.Loss}");
            Assert.True(double.IsFinite(stats.GradNorm) && stats.GradNorm > 0, $"step {s + 1}: grad norm {stats.GradNorm}");
            if (s >= 3) Assert.Equal(TinyLr, stats.Lr, 15);
        }
        Assert.All(trainer.Wrapped.parameters(), m => Assert.Equal(ScalarType.Float32, trainer.Optimizer.StateOf(m)!["exp_avg_sq"].dtype));

        using var scope = torch.NewScope();
        var compute = dit.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, w0) in frozenBefore!)                                   // the frozen base: bf16, untouched
        {
            Assert.Equal(ScalarType.BFloat16, compute[name].dtype);
            Assert.Equal(0.0, (compute[name].detach().to(ScalarType.Float64) - w0.to(ScalarType.Float64)).abs().max().item<double>());
        }
        long sumN = 0, sumTiny = 0, sumMoved = 0;
        double maxUpdate = 0;
        foreach (var (name, master) in wrapped.Weights.named_masters())
        {
            Assert.Equal(ScalarType.Float32, master.dtype);
            // the compute copy is the master rounded to bf16, exactly
            Assert.Equal(master.detach().to(ScalarType.BFloat16).data<ushort>(), compute[name].detach().data<ushort>());
            var w0 = before![name].to(ScalarType.Float64);
            var w1 = master.detach().to(ScalarType.Float64);
            var w0b = w0.to(ScalarType.BFloat16).to(ScalarType.Float64);          // the weight a bf16 parameter would hold
            var nonzero = w0b.ne(0.0);
            long n = nonzero.sum().item<long>();
            if (n == 0) continue;
            var step = w1 - w0;                                                   // the two float32 updates
            var delta = step.abs();
            // elements whose update is below 2^-9 of their magnitude (below half an ulp of bf16's 8-bit significand)
            var tiny = nonzero.logical_and(delta.lt(w0b.abs() * Math.Pow(2, -9)));
            long nTiny = tiny.sum().item<long>();
            Assert.True(nTiny >= 0.8 * n, $"{name}: only {nTiny} of {n} updates are below bf16 resolution (lr not small enough)");
            long moved = tiny.logical_and(delta.gt(0.0)).sum().item<long>();
            (sumN, sumTiny, sumMoved, maxUpdate) = (sumN + n, sumTiny + nTiny, sumMoved + moved, Math.Max(maxUpdate, delta.max().item<double>()));
            Assert.True(moved >= 0.5 * nTiny, $"{name}: {moved} of {nTiny} sub-resolution updates reached the float32 master");
            // a bf16 master given the same update would not have moved: bf16(w0b + Δ) = w0b on those elements
            var inBf16 = (w0b + step).to(ScalarType.BFloat16).to(ScalarType.Float64);
            Assert.Equal(0.0, ((inBf16 - w0b).abs() * tiny.to(ScalarType.Float64)).max().item<double>());
            Assert.True(delta.max().item<double>() < 10 * 2 * TinyLr, $"{name}: update {delta.max().item<double>():G3} is not of the order of lr");
        }
        output.WriteLine($"lr {TinyLr:G3}, 2 steps: {sumTiny} of {sumN} nonzero trainable weights got updates below 2^-9 of their bf16 value " +
                         $"(largest update {maxUpdate:G3}); {sumMoved} of those moved in the float32 masters, none would have in bf16");
        Assert.True(sumMoved > 1000);
        foreach (var v in before!.Values.Concat(frozenBefore.Values)) v.Dispose();
    }

    [Fact]
    public void ExportIsBf16OfTheMastersAndLoadsBackIntoABf16Model()
    {
        var a = Bf16Config(microBatch: 2);
        var (dit, lora, trainer, source) = fx.Build(a, precision: AptLab.Training.Precision.Bf16Mixed);
        using var _d = dit;
        using var _t = trainer;
        for (int s = 0; s < 2; s++) trainer.TrainStep(source.Get);
        using var tmp = TestPaths.Temp();
        var masters = trainer.TrainedWeights();
        Assert.All(masters.Values, m => Assert.Equal(ScalarType.Float32, m.dtype));
        var path = OmniAvatarExport.Save(dit, lora, tmp.Path, masters, a.ModelDtype());
        using var file = Checkpoint.Load(path);
        Assert.Equal(masters.Keys.OrderBy(k => k, StringComparer.Ordinal), file.Keys.OrderBy(k => k, StringComparer.Ordinal));

        // a fresh bf16 model with the same base (seed 0) and other adapters, then the file
        var (fresh, freshLora) = AvatarFinetuneModels.BuildDit(a, 99, TextWriter.Null);
        using var _f = fresh;
        var (freshBase, _) = AvatarFinetuneModels.BuildDit(a, 0, TextWriter.Null);
        using (torch.no_grad())
            foreach (var (k, p) in fresh.state_dict().Where(kv => !OmniAvatarWeights.IsTrainedKey(kv.Key)))
                p.copy_(freshBase.state_dict()[k]);
        freshBase.Dispose();
        var report = OmniAvatarWeights.LoadOmniAvatar(fresh, path, freshLora);
        Assert.Equal(file.Count, report.Consumed.Count);

        using var scope = torch.NewScope();
        var freshState = fresh.state_dict();
        double maxRel = 0;
        foreach (var (k, m) in masters)
        {
            Assert.Equal(ScalarType.BFloat16, file[k].dtype);                   // written in the release dtype
            var expected = m.to(ScalarType.BFloat16).to(ScalarType.Float64);
            Assert.Equal(0.0, (file[k].to(ScalarType.Float64) - expected).abs().max().item<double>());   // bf16(master), exactly
            Assert.Equal(0.0, (freshState[k].to(ScalarType.Float64) - expected).abs().max().item<double>());
            var d = (file[k].to(ScalarType.Float64) - m.to(ScalarType.Float64)).abs() / m.to(ScalarType.Float64).abs().clamp(1e-30, double.MaxValue);
            maxRel = Math.Max(maxRel, d.max().item<double>());
        }
        output.WriteLine($"export: largest relative bf16 rounding of a trained tensor {maxRel:G3}");
        Assert.True(maxRel <= Math.Pow(2, -8), $"bf16 rounding of the export is {maxRel:G3} relative");   // half an ulp of an 8-bit significand
        Assert.True(maxRel > 0);                                                  // the masters were not bf16 values
    }

    [Fact]
    public void UnderFp32TheMastersAreTheParametersThemselves()
    {
        var a = fx.Config(steps: 1, microBatch: 1).Avatar!;
        torch.manual_seed(0);
        var (dit, _) = AvatarFinetuneModels.BuildDit(a, 0, TextWriter.Null);
        using var _d = dit;
        using var trainer = new OmniAvatarTrainer(dit, a.Settings(), 0);
        Assert.Equal(trainer.Trainable.Count, trainer.Wrapped.parameters().Count);
        Assert.All(trainer.Trainable.Zip(trainer.Wrapped.parameters()), x => Assert.Same(x.First.parameter, x.Second));   // nothing copied
        Assert.All(dit.named_parameters(), p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
    }
}
