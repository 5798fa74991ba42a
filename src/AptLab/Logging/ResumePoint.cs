namespace AptLab.Logging;

/// <summary>
/// What a resumed run keeps of the logs its earlier attempt wrote. Each stage of a run counts its own steps and logs
/// its own tags (e.g. <c>teacher/loss</c>, <c>apt_image/loss_g</c>), so truncating by step alone would be wrong: a
/// stage resumed from its step-100 checkpoint must drop ITS rows after step 100 and nothing of the other stages. A rule
/// names a tag prefix (the stage) and the last step its checkpoint covers; a row (tag, step) is dropped when the
/// longest prefix rule matching its tag says so, and kept when no rule matches. <c>metrics.csv</c>
/// (<see cref="MetricsCsv"/>) and the TensorBoard events (<see cref="EventFileRewriter"/>) are truncated by the same
/// rules, so both hold what an uninterrupted run would have written (docs/reliability.md).
/// </summary>
public sealed class ResumePoint
{
    private readonly List<(string prefix, long lastStep)> rules = [];

    /// <summary>Rows of every tag after <paramref name="lastStep"/> are dropped (one stage, one step counter).</summary>
    public static ResumePoint All(long lastStep) => new ResumePoint().After("", lastStep);

    /// <summary>Tags starting with <paramref name="tagPrefix"/> keep their rows up to <paramref name="lastStep"/>
    /// (inclusive); a later rule for the same prefix replaces an earlier one.</summary>
    public ResumePoint After(string tagPrefix, long lastStep)
    {
        ArgumentNullException.ThrowIfNull(tagPrefix);
        rules.RemoveAll(r => r.prefix == tagPrefix);
        rules.Add((tagPrefix, lastStep));
        return this;
    }

    /// <summary>Every row of tags starting with <paramref name="tagPrefix"/> is dropped: the stage starts over (it had
    /// no checkpoint yet, or its first step is re-run).</summary>
    public ResumePoint Restart(string tagPrefix) => After(tagPrefix, long.MinValue);

    /// <summary>Keep everything under <paramref name="tagPrefix"/> (a finished stage), overriding a shorter rule.</summary>
    public ResumePoint Keep(string tagPrefix) => After(tagPrefix, long.MaxValue);

    /// <summary>True when the row (<paramref name="tag"/>, <paramref name="step"/>) survives the resume.</summary>
    public bool Keeps(string tag, long step)
    {
        int best = -1;
        long last = long.MaxValue;
        foreach (var (prefix, lastStep) in rules)
            if (prefix.Length > best && tag.StartsWith(prefix, StringComparison.Ordinal)) { best = prefix.Length; last = lastStep; }
        return step <= last;
    }

    public override string ToString() =>
        string.Join(", ", rules.Select(r => $"{(r.prefix.Length == 0 ? "*" : r.prefix + "*")} " +
            (r.lastStep == long.MinValue ? "restart" : r.lastStep == long.MaxValue ? "keep" : $"<= {r.lastStep}")));
}
