using Microsoft.Data.Analysis;

namespace AptLab.Logging.Plots;

/// <summary>
/// The comparison table (comparison.csv: kind, method, ..., frechet_distance, sharpness) as horizontal bar charts:
/// one panel per metric and kind, so image and video scores (different features, different scales) never share an
/// axis; method names sit on the y axis, one per row, so they never overlap.
/// </summary>
public static class ComparisonBars
{
    public static Figure Figure(string title, DataFrame comparison)
    {
        var kinds = (StringDataFrameColumn)comparison["kind"];
        var methods = (StringDataFrameColumn)comparison["method"];
        var kindList = Enumerable.Range(0, (int)comparison.Rows.Count).Select(i => kinds[i]).Distinct().ToList();
        var figure = new Figure(title) { Columns = Math.Max(1, kindList.Count), PanelHeight = 60 + 44 * CountPerKind(kinds, kindList) };
        foreach (var (column, name, axis) in new[] { ("frechet_distance", "Fréchet distance", "Fréchet distance (lower is better)"), ("sharpness", "sharpness", "sharpness (higher is sharper)") })
        {
            var values = (DoubleDataFrameColumn)comparison[column];
            foreach (var kind in kindList)
            {
                var panel = new Panel { Title = kind.Length == 0 ? name : $"{kind}s: {name}", YLabel = axis };
                for (int i = 0; i < comparison.Rows.Count; i++)
                    if (kinds[i] == kind) panel.AddBar(methods[i], values[i] ?? double.NaN);
                figure.Add(panel);
            }
        }
        return figure;
    }

    private static int CountPerKind(StringDataFrameColumn kinds, List<string> kindList) =>
        kindList.Max(k => Enumerable.Range(0, (int)kinds.Length).Count(i => kinds[i] == k));
}
