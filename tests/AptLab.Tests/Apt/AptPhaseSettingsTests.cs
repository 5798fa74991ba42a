using AptLab.Apt;

namespace AptLab.Tests.Apt;

/// <summary>
/// The limits of every APT phase setting (docs/apt.md#phases), each at its edge: the last value accepted and the first
/// refused, with the message naming the phase and the key. A limit moved by one (&lt; for &lt;=), a rule dropped or a
/// message that no longer names the key fails here.
/// </summary>
public class AptPhaseSettingsTests
{
    private static readonly AptPhaseSettings Video = new() { Name = "video" };

    public static TheoryData<string, Func<AptPhaseSettings, AptPhaseSettings>> Accepted => new()
    {
        { "updates 1", s => s with { Updates = 1 } },
        { "micro_batch 1", s => s with { MicroBatch = 1 } },
        { "accumulation 1", s => s with { Accumulation = 1 } },
        { "discriminator_shift tiny", s => s with { DiscriminatorShift = 1e-9 } },
        { "r1_lambda 0", s => s with { R1Lambda = 0 } },
        { "r1_sigma 0", s => s with { R1Sigma = 0 } },
        { "r2 0", s => s with { R2Lambda = 0, R2Sigma = 0 } },
        { "ema_decay 0", s => s with { EmaDecay = 0 } },
        { "ema_decay below 1", s => s with { EmaDecay = 1 - 1e-12 } },
        { "lr tiny", s => s with { LrGenerator = 1e-12, LrDiscriminator = 1e-12 } },
        { "rms_alpha near 0", s => s with { RmsAlpha = 1e-9 } },
        { "rms_alpha near 1", s => s with { RmsAlpha = 1 - 1e-12 } },
        { "rms_eps tiny", s => s with { RmsEps = 1e-30 } },
        { "checkpoint_every 1", s => s with { CheckpointEvery = 1 } },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public void Values_on_the_edge_are_accepted(string what, Func<AptPhaseSettings, AptPhaseSettings> set)
    {
        var s = set(Video);
        var e = Record.Exception(s.Validate);
        Assert.True(e is null, $"{what}: {e?.Message}");
    }

    public static TheoryData<Func<AptPhaseSettings, AptPhaseSettings>, string> Refused => new()
    {
        { s => s with { Updates = 0 }, "apt.video.updates must be >= 1 (got 0)" },
        { s => s with { MicroBatch = 0 }, "apt.video: micro_batch and accumulation must be >= 1" },
        { s => s with { Accumulation = 0 }, "apt.video: micro_batch and accumulation must be >= 1" },
        { s => s with { DiscriminatorShift = 0 }, "apt.video.discriminator_shift must be > 0" },
        { s => s with { R1Lambda = -1e-12 }, "apt.video: r1_lambda and r1_sigma must be >= 0" },
        { s => s with { R1Sigma = -1e-12 }, "apt.video: r1_lambda and r1_sigma must be >= 0" },
        { s => s with { R2Lambda = -1e-12 }, "apt.video: r2_lambda and r2_sigma must be >= 0" },
        { s => s with { R2Sigma = -1e-12 }, "apt.video: r2_lambda and r2_sigma must be >= 0" },
        { s => s with { EmaDecay = -1e-12 }, "apt.video.ema_decay must be in [0, 1)" },
        { s => s with { EmaDecay = 1 }, "apt.video.ema_decay must be in [0, 1)" },
        { s => s with { LrGenerator = 0 }, "apt.video: lr_generator and lr_discriminator must be > 0" },
        { s => s with { LrDiscriminator = 0 }, "apt.video: lr_generator and lr_discriminator must be > 0" },
        { s => s with { RmsAlpha = 0 }, "apt.video.rms_alpha must be in (0, 1)" },
        { s => s with { RmsAlpha = 1 }, "apt.video.rms_alpha must be in (0, 1)" },
        { s => s with { RmsEps = 0 }, "apt.video.rms_eps must be > 0" },
        { s => s with { CheckpointEvery = 0 }, "apt.video.checkpoint_every must be >= 1" },
        { s => s with { LrGenerator = double.NaN }, "apt.video.lr_generator must be a finite number, got NaN" },
        { s => s with { LrDiscriminator = double.PositiveInfinity }, "apt.video.lr_discriminator must be a finite number" },
        { s => s with { RmsAlpha = double.NaN }, "apt.video.rms_alpha must be a finite number" },
        { s => s with { RmsEps = double.PositiveInfinity }, "apt.video.rms_eps must be a finite number" },
        { s => s with { EmaDecay = double.NaN }, "apt.video.ema_decay must be a finite number" },
        { s => s with { DiscriminatorShift = double.PositiveInfinity }, "apt.video.discriminator_shift must be a finite number" },
        { s => s with { R1Lambda = double.PositiveInfinity }, "apt.video.r1_lambda must be a finite number" },
        { s => s with { R1Sigma = double.NaN }, "apt.video.r1_sigma must be a finite number" },
        { s => s with { R2Lambda = double.PositiveInfinity }, "apt.video.r2_lambda must be a finite number" },
        { s => s with { R2Sigma = double.NaN }, "apt.video.r2_sigma must be a finite number" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Values_past_the_edge_are_refused_naming_the_key(Func<AptPhaseSettings, AptPhaseSettings> set, string message)
    {
        var e = Assert.Throws<ArgumentException>(set(Video).Validate);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Lr_sets_both_players_and_the_defaults_are_the_papers()
    {
        var s = new AptPhaseSettings { Lr = 3e-6 };
        Assert.Equal((3e-6, 3e-6), (s.LrGenerator, s.LrDiscriminator));
        Assert.Equal(3e-6, s.Lr);
        var apart = new AptPhaseSettings { Lr = 3e-6, LrDiscriminator = 1e-5 };
        Assert.Equal((3e-6, 1e-5), (apart.LrGenerator, apart.LrDiscriminator));
        // docs/apt.md: lr 5e-6, RMSprop alpha 0.9 / eps 1e-8, EMA 0.995, R1 lambda 100 and sigma 0.01 (images), R2 off
        var d = new AptPhaseSettings();
        Assert.Equal(("image", 350, 4, 1), (d.Name, d.Updates, d.MicroBatch, d.Accumulation));
        Assert.Equal((5e-6, 5e-6, 0.9, 1e-8, 0.995), (d.LrGenerator, d.LrDiscriminator, d.RmsAlpha, d.RmsEps, d.EmaDecay));
        Assert.Equal((1.0, 100.0, 0.01, R1NoiseReading.Variance, 0.0, 0.1), (d.DiscriminatorShift, d.R1Lambda, d.R1Sigma, d.R1Reading, d.R2Lambda, d.R2Sigma));
        Assert.Equal((50, 1), (d.CheckpointEvery, d.LogEvery));
        d.Validate();
    }
}
