using AptLab.Config;
using AptLab.Data;
using AptLab.Experiments;
using AptLab.Avatar;
using AptLab.Wan.Vae;
using AptLab.Training;
using AptLab.Avatar.Training;
using AptLab.Avatar.Data;
using AptLab.Experiments.Avatar;
using AptLab.Torch.nn;

namespace AptLab.Tests.Avatar.Training;

/// <summary>Four generated talking-shape clips (9 frames of 32x32) encoded once into a latent cache by the tiny random
/// encoders, shared by the tests of this collection.</summary>
public sealed class AvatarTrainingFixture : IDisposable
{
    public TempDir Temp { get; } = TestPaths.Temp();
    public string DataDir => Temp.File("data");
    public string CacheDir { get; }
    /// <summary>What the first preparation (generates and encodes) and a second one (finds everything) printed.</summary>
    public string FirstLog { get; }
    public string SecondLog { get; }

    public AvatarTrainingFixture()
    {
        Assert.True(AptLab.Data.Media.Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");
        var w1 = new StringWriter();
        CacheDir = AvatarFinetuneExperiment.PrepareData(Config().Avatar!, 0, null, w1);
        FirstLog = w1.ToString();
        var w2 = new StringWriter();
        AvatarFinetuneExperiment.PrepareData(Config().Avatar!, 0, null, w2);
        SecondLog = w2.ToString();
    }

    /// <summary>The tiny config (YAML as a user writes it) with the fixture's data folder.</summary>
    public string Yaml(string name, int steps, int microBatch, string extra = "") => $"""
        experiment: omniavatar-finetune
        name: {name}
        seed: 0
        threads: 1
        results: {Temp.File("results")}
        avatar:
          random_weights: true
          tokenizer_path: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}
          text_len: 16
          lora_rank: 4
          lora_alpha: 2
          data:
            synthetic_clips: 4
            dir: {DataDir}
            height: 32
            width: 32
            frames: 9
          steps: {steps}
          micro_batch: {microBatch}
          lr: 2.0e-3
          warmup_steps: 2
          weight_decay: 0.0
          max_grad_norm: 1.0
          gradient_checkpointing: true
          max_prefix_frames: 2
          audio_dropout: 0.25
          checkpoint_every: 100
        {extra}
        """;

    public ExperimentConfig Config(int steps = 40, int microBatch = 2) => ConfigLoader.Parse<ExperimentConfig>(Yaml("t", steps, microBatch));

    /// <summary>A fresh DiT (same seed: same base, init and LoRA), trainer and batch source for one process.</summary>
    public (OmniAvatarModel dit, Lora lora, OmniAvatarTrainer trainer, AvatarBatchSource source) Build(AvatarFinetuneConfig a, ulong seed = 0,
        AptLab.Training.Precision precision = AptLab.Training.Precision.Fp32)
    {
        var dataset = new AvatarCachedDataset(LatentCache.Open(CacheDir), LatentStats.Wan21);
        var source = new AvatarBatchSource(dataset, DistributedSampler.For(null, dataset.Count, seed: seed), a.MicroBatch, a.Accumulation);
        torch.manual_seed(seed);
        var (dit, lora) = AvatarFinetuneModels.BuildDit(a, seed, TextWriter.Null);
        return (dit, lora, new OmniAvatarTrainer(dit, a.Settings(), seed, precision: precision), source);
    }

    public void Dispose() => Temp.Dispose();
}

[CollectionDefinition("AvatarTraining")]
public sealed class AvatarTrainingCollection : ICollectionFixture<AvatarTrainingFixture>;
