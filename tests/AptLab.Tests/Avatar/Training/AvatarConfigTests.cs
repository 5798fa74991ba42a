using AptLab.Config;
using AptLab.Experiments;

namespace AptLab.Tests.Avatar.Training;

/// <summary>The omniavatar-finetune configs: both shipped files validate with the intended values; mistakes name the key.</summary>
public class AvatarConfigTests
{
    [Fact]
    public void ShippedConfigsLoad()
    {
        var tiny = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "omniavatar-train-tiny.yaml"));
        Assert.Equal("omniavatar-finetune", tiny.Experiment);
        Assert.True(tiny.Avatar!.RandomWeights);
        Assert.Equal(3, tiny.Avatar.Data.LatentFrames());
        var real = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "omniavatar-1.3b-train.yaml"));
        var a = real.Avatar!;
        Assert.False(a.RandomWeights);
        Assert.Equal((128, 64.0, "q,k,v,o,ffn.0,ffn.2"), (a.LoraRank, a.LoraAlpha, a.LoraTargetModules));
        Assert.Equal((480, 832, 81, 21), (a.Data.Height, a.Data.Width, a.Data.Frames, a.Data.LatentFrames()));
        Assert.Equal(1e-4, a.Settings().Lr);
        Assert.Equal((1000, 5.0), (a.Settings().NumTrainTimesteps, a.Settings().Shift));
        Assert.Contains("Wan2.1-T2V-1.3B", a.DitPath);
    }

    [Theory]
    [InlineData("experiment: omniavatar-finetune\n", "'avatar': experiment omniavatar-finetune needs an avatar: section")]
    [InlineData("experiment: omniavatar-finetune\navatar:\n  data:\n    synthetic_clips: 2\n    height: 32\n    width: 32\n    frames: 10\n", "'avatar.data': clip frames 10 must be 1 + 4k")]
    [InlineData("experiment: omniavatar-finetune\navatar:\n  max_prefix_frames: 3\n  data:\n    synthetic_clips: 2\n    height: 32\n    width: 32\n    frames: 9\n", "'avatar.max_prefix_frames': 3 leaves no frame to generate")]
    [InlineData("experiment: omniavatar-finetune\navatar:\n  random_weights: false\n  data:\n    manifest: m.csv\n", "'avatar.dit_path': is required unless random_weights is true")]
    [InlineData("experiment: omniavatar-finetune\navatar:\n  data:\n    height: 32\n", "'avatar.data.manifest': name a manifest, or set synthetic_clips")]
    [InlineData("experiment: omniavatar-finetune\navatar:\n  lr_warmup: 3\n", "unknown key 'lr_warmup'")]
    public void MistakesNameTheKey(string yaml, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>(yaml, "x.yaml"));
        Assert.Contains(expected, e.Message);
    }
}
