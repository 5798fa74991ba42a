namespace AptLab.Human.Training;

/// <summary>
/// The omni-conditions of one training stage (docs/omnihuman.md#training): the probability that each condition is
/// active for a sample, ordered weak to strong (text &lt; reference &lt; audio &lt; pose), and the guidance dropout that
/// trains the unconditional branches classifier-free guidance evaluates.
/// <para>Activation is nested, from one uniform draw u per sample: a condition is active when u &lt; its ratio. Ratios
/// must not increase from weak to strong (stronger conditions train at lower ratios), so whenever a condition is active
/// every weaker one is too, and the marginal rate of each condition is exactly its ratio.</para>
/// <para>Guidance dropout (applied after the activation, to samples whose text is active): with probability
/// <see cref="DropTextAudio"/> text and audio are switched off and reference and pose kept (the branch v(∅a, ∅t) of
/// joint CFG, and v(∅t) of pose-driven CFG); with probability <see cref="DropText"/> text alone is switched off (v(a, ∅t)
/// of separate audio/text CFG). These samples break the weak-before-strong rule on purpose: CFG's branches do.</para>
/// Defaults: the stage-3 row of the recipe's table (text 0.9, reference 0.8, audio 0.5, pose 0.25).
/// </summary>
public sealed record ConditionRatios
{
    public double Text { get; init; } = 0.9;
    public double Reference { get; init; } = 0.8;
    public double Audio { get; init; } = 0.5;
    public double Pose { get; init; } = 0.25;
    /// <summary>Probability that the previous segment's motion frames are given (independent of the others).</summary>
    public double Motion { get; init; } = 0.5;
    public double DropTextAudio { get; init; } = 0.1;
    public double DropText { get; init; } = 0.05;

    /// <summary>The recipe's defaults per stage (1: text + reference; 2: + audio; 3: + pose).</summary>
    public static ConditionRatios Stage(int stage) => stage switch
    {
        1 => new() { Text = 0.9, Reference = 0.9, Audio = 0, Pose = 0 },
        2 => new() { Text = 0.9, Reference = 0.8, Audio = 0.5, Pose = 0 },
        3 => new() { Text = 0.9, Reference = 0.8, Audio = 0.5, Pose = 0.25 },
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "OmniHuman has stages 1, 2 and 3"),
    };

    /// <summary>Checks every rule; the message names the key (<paramref name="key"/> is the config path of this block).</summary>
    public ConditionRatios Validate(string key = "ratios", int? stage = null)
    {
        void Fail(string k, string why) => throw new ArgumentException($"{key}.{k}: {why}");
        foreach (var (k, v) in new[] { ("text", Text), ("reference", Reference), ("audio", Audio), ("pose", Pose), ("motion", Motion),
                     ("drop_text_audio", DropTextAudio), ("drop_text", DropText) })
            if (!(v >= 0 && v <= 1)) Fail(k, $"must lie in [0, 1], got {v}");
        if (Reference > Text) Fail("reference", $"({Reference}) must not exceed text ({Text}): a stronger condition trains at a lower ratio and never without the weaker");
        if (Audio > Reference) Fail("audio", $"({Audio}) must not exceed reference ({Reference})");
        if (Pose > Audio) Fail("pose", $"({Pose}) must not exceed audio ({Audio})");
        if (DropTextAudio + DropText > 1) Fail("drop_text", $"drop_text_audio + drop_text = {DropTextAudio + DropText} exceeds 1");
        if (stage == 1 && (Audio > 0 || Pose > 0)) Fail("audio", "stage 1 trains text and reference only: audio and pose must be 0");
        if (stage == 2 && Pose > 0) Fail("pose", "stage 2 trains text, reference and audio: pose must be 0");
        return this;
    }
}
