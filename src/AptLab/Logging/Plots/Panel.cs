using ScottPlot;

namespace AptLab.Logging.Plots;

/// <summary>One drawn series of a panel: points (x, y) as a line, faint when it is the raw curve behind its EMA.</summary>
public sealed record PlotSeries(string Name, double[] X, double[] Y, int ColorIndex, bool Faint = false);

/// <summary>
/// One chart of a <see cref="Figure"/>: curves (each raw + EMA-smoothed) or horizontal category bars. It decides
/// its y scale (logarithmic when every value is positive and they span at least a decade), keeps curves that
/// are constant (an all-zero R2 term) off the axes so they never flatten or un-log it (they are listed in
/// <see cref="Notes"/> instead), and becomes a ScottPlot <see cref="Plot"/> with one tick format per axis.
/// </summary>
public sealed class Panel
{
    private static readonly IPalette Colors = new ScottPlot.Palettes.Category10();

    public string Title { get; set; } = "";
    public string XLabel { get; set; } = "step";
    public string YLabel { get; set; } = "";
    /// <summary>null: logarithmic when the values span a decade or more and are all positive.</summary>
    public bool? LogY { get; set; }
    public List<PlotSeries> Lines { get; } = [];
    /// <summary>Horizontal bars, one per category (labels on the y axis, top to bottom in this order).</summary>
    public List<(string Label, double Value)> Bars { get; } = [];
    /// <summary>What is not drawn (constant curves) and why; shown in the panel's corner.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>The font of every label (Debian's fonts-dejavu-core).</summary>
    public const string FontName = "DejaVu Sans";

    private int curves;

    /// <summary>
    /// Adds a curve: the raw values as a faint line and their EMA (<paramref name="smoothing"/>, 0 = none) on top,
    /// in one colour. A curve whose finite values are all equal (over two or more points) is not drawn but noted.
    /// </summary>
    public Panel AddCurve(string name, IReadOnlyList<double> x, IReadOnlyList<double> y, double smoothing = 0.6)
    {
        if (x.Count != y.Count) throw new ArgumentException($"curve '{name}' has {x.Count} x values and {y.Count} y values");
        var finite = y.Where(double.IsFinite).ToList();
        if (finite.Count >= 2 && finite.All(v => v == finite[0]))
        {
            Notes.Add($"{name} = {TickLabels.Format(finite[0], TickLabels.Scientific(finite[0], finite[0]))} throughout (not drawn)");
            return this;
        }
        int color = curves++;
        if (smoothing > 0 && y.Count > 2)
        {
            Lines.Add(new PlotSeries(name + " (raw)", x.ToArray(), y.ToArray(), color, Faint: true));
            Lines.Add(new PlotSeries(name, x.ToArray(), Ema.Smooth(y, smoothing), color));
        }
        else Lines.Add(new PlotSeries(name, x.ToArray(), y.ToArray(), color));
        return this;
    }

    public Panel AddBar(string label, double value)
    {
        Bars.Add((label, value));
        return this;
    }

    /// <summary>The y values drawn (finite ones).</summary>
    public IEnumerable<double> YValues() =>
        Lines.SelectMany(s => s.Y).Concat(Bars.Select(b => b.Value)).Where(double.IsFinite);

    /// <summary>Whether the y axis is logarithmic: <see cref="LogY"/>, else every drawn value &gt; 0 spanning &gt;= 10x.</summary>
    public bool UsesLogY
    {
        get
        {
            if (Bars.Count > 0) return false;
            var ys = YValues().ToList();
            if (LogY is bool forced) return forced && ys.Count > 0 && ys.All(v => v > 0);
            return ys.Count > 0 && ys.All(v => v > 0) && ys.Max() / ys.Min() >= 10;
        }
    }

    /// <summary>This panel as a ScottPlot plot.</summary>
    public Plot ToPlot()
    {
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.Title(Title, size: 14);
        plot.XLabel(Bars.Count > 0 ? YLabel : XLabel, size: 12);
        plot.YLabel(Bars.Count > 0 ? "" : YLabel, size: 12);
        if (Bars.Count > 0) DrawBars(plot);
        else DrawLines(plot);
        if (Notes.Count > 0)
        {
            var note = plot.Add.Annotation(string.Join("\n", Notes), Alignment.LowerLeft);
            note.LabelFontSize = 10;
            note.LabelBackgroundColor = ScottPlot.Colors.White.WithAlpha(0.8);
        }
        return plot;
    }

    private void DrawLines(Plot plot)
    {
        bool log = UsesLogY;
        foreach (var s in Lines)
        {
            var (xs, ys) = Drawable(s, log);
            if (xs.Length == 0) continue;
            var color = Colors.GetColor(s.ColorIndex);
            var line = xs.Length == 1 ? plot.Add.ScatterPoints(xs, ys) : plot.Add.ScatterLine(xs, ys);
            line.Color = s.Faint ? color.WithAlpha(0.25) : color;
            line.LineWidth = s.Faint ? 1 : 2;
            if (xs.Length == 1) line.MarkerSize = 8;
            if (!s.Faint) line.LegendText = s.Name;
        }
        var allX = Lines.SelectMany(s => s.X).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = TickLabels.Linear(allX.Min(), allX.Max()),
            IntegerTicksOnly = XLabel.EndsWith("step", StringComparison.Ordinal),       // steps are counts: no 1.2, 1.4
        };
        var ys2 = YValues().DefaultIfEmpty(0).ToList();
        plot.Axes.Left.TickGenerator = log ? LogTicks(ys2.Min(), ys2.Max())
            : new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = TickLabels.Linear(ys2.Min(), ys2.Max()) };
        if (Lines.Count(s => !s.Faint) > 1)
        {
            plot.ShowLegend(Edge.Bottom);
            plot.Legend.FontSize = 11;
        }
    }

    private void DrawBars(Plot plot)
    {
        int n = Bars.Count;
        var bars = new List<Bar>();
        bool sci = TickLabels.Scientific(Bars.Min(b => b.Value), Bars.Max(b => b.Value));
        for (int i = 0; i < n; i++)
        {
            var (label, value) = Bars[i];
            bars.Add(new Bar
            {
                Position = n - 1 - i, Value = double.IsFinite(value) ? value : 0, Size = 0.7,
                FillColor = Colors.GetColor(i), Label = TickLabels.Format(value, sci), CenterLabel = false,
                Orientation = Orientation.Horizontal,
            });
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.Horizontal = true;
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < n; i++) ticks.AddMajor(n - 1 - i, Bars[i].Label);
        plot.Axes.Left.TickGenerator = ticks;
        plot.Axes.Left.MajorTickStyle.Length = 0;
        var values = Bars.Select(b => b.Value).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        double lo = Math.Min(0, values.Min()), hi = Math.Max(0, values.Max());
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = TickLabels.Linear(lo, hi) };
        plot.Axes.SetLimitsX(lo, hi + (hi - lo) * 0.18);                 // room for the value labels
        plot.Axes.SetLimitsY(-0.6, n - 0.4);
        plot.Grid.YAxisStyle.MajorLineStyle.Width = 0;
    }

    // A series' points as drawn: finite ones, y as log10(y) on a log axis (non-positive points dropped).
    private static (double[] X, double[] Y) Drawable(PlotSeries s, bool log)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        for (int i = 0; i < s.X.Length; i++)
        {
            double x = s.X[i], y = s.Y[i];
            if (!double.IsFinite(x) || !double.IsFinite(y) || (log && y <= 0)) continue;
            xs.Add(x);
            ys.Add(log ? Math.Log10(y) : y);
        }
        return (xs.ToArray(), ys.ToArray());
    }

    // Decade ticks (in log10 units) labelled in one format, with 2..9 minor ticks; 2x and 5x labelled when the
    // values span less than two decades.
    private static ScottPlot.TickGenerators.NumericManual LogTicks(double min, double max)
    {
        int d0 = (int)Math.Floor(Math.Log10(min) + 1e-9), d1 = (int)Math.Ceiling(Math.Log10(max) - 1e-9);
        if (d1 == d0) d1++;
        bool sci = TickLabels.Scientific(Math.Pow(10, d0), Math.Pow(10, d1));
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int every = Math.Max(1, (int)Math.Ceiling((d1 - d0) / 8.0));
        for (int d = d0; d <= d1; d++)
        {
            if ((d - d0) % every == 0) ticks.AddMajor(d, TickLabels.Format(Math.Pow(10, d), sci));
            if (d == d1) break;
            for (int m = 2; m <= 9; m++)
            {
                double at = d + Math.Log10(m);
                if (d1 - d0 <= 2 && m is 2 or 5) ticks.AddMajor(at, TickLabels.Format(m * Math.Pow(10, d), sci));
                else ticks.AddMinor(at);
            }
        }
        return ticks;
    }
}
