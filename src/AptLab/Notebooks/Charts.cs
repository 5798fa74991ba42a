using AptLab.Logging;

namespace AptLab.Notebooks;

/// <summary>Ready-made <see cref="SvgPlot"/>s for notebooks.</summary>
public static class Charts
{
    /// <summary>One bar per label (bar i centred on x = i, 0.8 wide), the labels as x ticks.</summary>
    public static SvgPlot Bars(string title, string yLabel, IReadOnlyList<string> labels, IReadOnlyList<double> values, string? seriesName = null)
    {
        if (labels.Count != values.Count) throw new ArgumentException($"bar chart '{title}' has {labels.Count} labels and {values.Count} values");
        if (labels.Count == 0) throw new ArgumentException($"bar chart '{title}' has no bars");
        // Contiguous edges with zero-height gap bars between the real ones: [v0, 0, v1, 0, v2, ...].
        var edges = new List<double>();
        var heights = new List<double>();
        for (int i = 0; i < values.Count; i++)
        {
            if (i > 0) heights.Add(0);
            edges.Add(i - 0.4);
            edges.Add(i + 0.4);
            heights.Add(values[i]);
        }
        return new SvgPlot { Title = title, YLabel = yLabel, XTicks = labels.Select((l, i) => ((double)i, l)).ToList() }
            .AddBars(seriesName ?? yLabel, edges, heights);
    }
}
