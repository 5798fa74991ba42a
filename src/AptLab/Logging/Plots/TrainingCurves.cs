namespace AptLab.Logging.Plots;

/// <summary>
/// The training curves of a run as figures: tags are grouped by stage (the part before '/': vae, teacher, cd,
/// apt_image, apt_video, avatar, ...) and, within a stage, by quantity, so every panel holds curves of one kind
/// and one time axis (a 4,000-step teacher never squeezes 150-step APT phases):
/// <list type="bullet">
/// <item>losses: <c>loss*</c>, <c>recon_mse</c>; <c>kl</c> on its own panel (another scale);</item>
/// <item>logits: <c>logit_real</c>, <c>logit_fake</c>; penalties: <c>r1</c>, <c>r2</c>; gradients: <c>grad_norm*</c>.</item>
/// </list>
/// Bookkeeping tags (lr, samples_per_s, cache counters, time/*, compare_*) are not drawn. Each curve is drawn raw
/// (faint) and EMA-smoothed (<see cref="Ema"/>, weight <c>smoothing</c>).
/// </summary>
public static class TrainingCurves
{
    public const double DefaultSmoothing = 0.6;

    /// <summary>The panel a tag's leaf belongs to, or null if it is bookkeeping.</summary>
    public static string? Quantity(string tag)
    {
        var leaf = tag.Split('/')[^1];
        if (leaf.StartsWith("loss", StringComparison.Ordinal) || leaf == "recon_mse") return "losses";
        if (leaf == "kl") return "KL";
        if (leaf is "logit_real" or "logit_fake") return "logits";
        if (leaf is "r1" or "r2") return "penalties";
        if (leaf.StartsWith("grad_norm", StringComparison.Ordinal)) return "gradient norms";
        return null;
    }

    /// <summary>The stage of a tag (before the first '/'), or null for tags that are not training curves.</summary>
    public static string? Stage(string tag)
    {
        int slash = tag.IndexOf('/');
        if (slash <= 0) return null;
        var stage = tag[..slash];
        return stage == "time" || stage.StartsWith("compare", StringComparison.Ordinal) || stage == "hparams" ? null : stage;
    }

    /// <summary>The stages of <paramref name="series"/> in the order they were logged.</summary>
    public static IReadOnlyList<string> Stages(IEnumerable<ScalarSeries> series) =>
        series.Where(s => Stage(s.Tag) is not null && Quantity(s.Tag) is not null).Select(s => Stage(s.Tag)!).Distinct().ToList();

    /// <summary>The panels of one stage, one per quantity (in a fixed order), each titled "stage: quantity".</summary>
    public static List<Panel> StagePanels(string stage, IEnumerable<ScalarSeries> series, double smoothing = DefaultSmoothing)
    {
        var mine = series.Where(s => Stage(s.Tag) == stage && Quantity(s.Tag) is not null).ToList();
        var panels = new List<Panel>();
        foreach (var quantity in new[] { "losses", "KL", "logits", "penalties", "gradient norms" })
        {
            var members = mine.Where(s => Quantity(s.Tag) == quantity).ToList();
            if (members.Count == 0) continue;
            var panel = new Panel { Title = $"{stage}: {quantity}", XLabel = $"{stage} step", YLabel = YLabel(quantity, members) };
            foreach (var s in members) panel.AddCurve(s.Tag, Steps(s), s.Values, smoothing);
            panels.Add(panel);
        }
        return panels;
    }

    /// <summary>The run at a glance: one panel per stage with its losses (and the VAE's KL), each on its own axes.</summary>
    public static Figure Overview(string title, IEnumerable<ScalarSeries> series, double smoothing = DefaultSmoothing)
    {
        var list = series.ToList();
        var figure = new Figure(title);
        foreach (var stage in Stages(list))
            foreach (var p in StagePanels(stage, list, smoothing).Where(p => p.Title.EndsWith(": losses") || p.Title.EndsWith(": KL")))
                figure.Add(p);
        return figure;
    }

    /// <summary>One figure per stage with all its panels, named after the stage (plots/&lt;stage&gt;.png).</summary>
    public static IReadOnlyList<(string Name, Figure Figure)> PerStage(string runName, IEnumerable<ScalarSeries> series, double smoothing = DefaultSmoothing)
    {
        var list = series.ToList();
        var result = new List<(string, Figure)>();
        foreach (var stage in Stages(list))
        {
            var figure = new Figure($"{runName}: {stage}") { Columns = 2 };
            foreach (var p in StagePanels(stage, list, smoothing)) figure.Add(p);
            result.Add((stage, figure));
        }
        return result;
    }

    /// <summary>Several runs overlaid: one panel per tag, one (smoothed) curve per run.</summary>
    public static Figure Compare(string title, IReadOnlyList<(string Run, IReadOnlyList<ScalarSeries> Series)> runs,
                                 IReadOnlyList<string> tags, double smoothing = DefaultSmoothing)
    {
        var figure = new Figure(title);
        foreach (var tag in tags)
        {
            var panel = new Panel { Title = tag, XLabel = (Stage(tag) ?? "") + " step", YLabel = tag.Split('/')[^1] };
            foreach (var (run, series) in runs)
                if (series.FirstOrDefault(s => s.Tag == tag) is { } s) panel.AddCurve(run, Steps(s), s.Values, smoothing);
                else panel.Notes.Add($"{run}: no '{tag}'");
            figure.Add(panel);
        }
        return figure;
    }

    private static double[] Steps(ScalarSeries s) => s.Steps.Select(x => (double)x).ToArray();

    private static string YLabel(string quantity, List<ScalarSeries> members) => quantity switch
    {
        "losses" when members.All(m => m.Tag.EndsWith("recon_mse") || m.Tag.EndsWith("/loss")) => "MSE",
        "losses" => "loss",
        "logits" => "mean logit",
        "penalties" => "penalty",
        _ => quantity,
    };
}
