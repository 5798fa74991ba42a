using System.Globalization;
using System.Text;
using System.Xml.Linq;

namespace AptLab.Logging;

/// <summary>Files written by <see cref="SvgPlot.Save"/>: the SVG (to re-style), the data as CSV, and a PNG if asked.</summary>
public sealed record PlotFiles(string Svg, string Csv, string? Png);

/// <summary>
/// A small SVG chart: line series (legend, optional log-y) and bar/histogram series, with nice ticks,
/// axis labels, a title and an explicit white background. Output is plain, deterministic SVG text;
/// <see cref="Save"/> also writes the plotted data as CSV and a PNG through rsvg-convert.
/// Non-finite points (and non-positive ones on a log axis) break a line into separate polylines.
/// </summary>
public sealed class SvgPlot
{
    private static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    private static readonly XNamespace Ns = "http://www.w3.org/2000/svg";
    private const string Font = "DejaVu Sans, Verdana, sans-serif";

    private sealed record Series(string Name, double[] X, double[] Y, string Color, double[]? BarRight);

    private readonly List<Series> series = [];

    public string Title { get; set; } = "";
    public string XLabel { get; set; } = "";
    public string YLabel { get; set; } = "";
    public bool LogY { get; set; }
    public int Width { get; set; } = 800;
    public int Height { get; set; } = 480;

    /// <summary>Labelled x ticks replacing the numeric ones (a bar chart's categories); the x range still follows the data.</summary>
    public IReadOnlyList<(double X, string Label)>? XTicks { get; set; }

    public SvgPlot AddLine(string name, IReadOnlyList<double> x, IReadOnlyList<double> y, string? color = null)
    {
        if (x.Count != y.Count) throw new ArgumentException($"plot series '{name}' has {x.Count} x values and {y.Count} y values");
        series.Add(new Series(name, x.ToArray(), y.ToArray(), color ?? Palette[series.Count % Palette.Length], null));
        return this;
    }

    /// <summary>Bars spanning edges[i]..edges[i+1] with heights[i] (edges has one more entry than heights).</summary>
    public SvgPlot AddBars(string name, IReadOnlyList<double> edges, IReadOnlyList<double> heights, string? color = null)
    {
        if (edges.Count != heights.Count + 1) throw new ArgumentException($"bar series '{name}' needs {heights.Count + 1} edges for {heights.Count} bars, got {edges.Count}");
        series.Add(new Series(name, edges.Take(heights.Count).ToArray(), heights.ToArray(), color ?? Palette[series.Count % Palette.Length], edges.Skip(1).ToArray()));
        return this;
    }

    /// <summary>A histogram of <paramref name="values"/> in <paramref name="bins"/> equal-width bins.</summary>
    public SvgPlot AddHistogram(string name, ReadOnlySpan<double> values, int bins = 30, string? color = null)
    {
        var edges = HistogramBuilder.LinearEdges(values, bins);
        return AddBars(name, edges, HistogramBuilder.Count(values, edges, name), color);
    }

    public string ToSvg()
    {
        const double left = 78, right = 24, top = 44, bottom = 58;
        double pw = Width - left - right, ph = Height - top - bottom;
        var (xt, yt) = Axes();
        if (XTicks is { } cat) xt = xt with { Values = cat.Select(c => c.X).ToArray(), Labels = cat.Select(c => c.Label).ToArray() };
        double Sx(double x) => left + (x - xt.Min) / (xt.Max - xt.Min) * pw;
        double Sy(double y) => LogY ? top + ph - (Math.Log10(y) - Math.Log10(yt.Min)) / (Math.Log10(yt.Max) - Math.Log10(yt.Min)) * ph
                                    : top + ph - (y - yt.Min) / (yt.Max - yt.Min) * ph;

        var svg = new XElement(Ns + "svg", new XAttribute("width", Width), new XAttribute("height", Height),
            new XAttribute("viewBox", $"0 0 {Width} {Height}"), new XAttribute("font-family", Font));
        svg.Add(new XElement(Ns + "rect", new XAttribute("width", "100%"), new XAttribute("height", "100%"), new XAttribute("fill", "white")));
        if (Title.Length > 0) svg.Add(Text(Width / 2.0, 26, Title, 16, "middle", "title", bold: true));

        var grid = new XElement(Ns + "g", new XAttribute("class", "grid"), new XAttribute("stroke", "#e0e0e0"), new XAttribute("stroke-width", 1));
        var ticks = new XElement(Ns + "g", new XAttribute("class", "ticks"), new XAttribute("font-size", 11), new XAttribute("fill", "#222"));
        for (int i = 0; i < xt.Values.Length; i++)
        {
            double x = Sx(xt.Values[i]);
            grid.Add(Line(x, top, x, top + ph));
            ticks.Add(Text(x, top + ph + 16, xt.Labels[i], 11, "middle", "xtick"));
        }
        for (int i = 0; i < yt.Values.Length; i++)
        {
            double y = Sy(yt.Values[i]);
            grid.Add(Line(left, y, left + pw, y));
            ticks.Add(Text(left - 6, y + 4, yt.Labels[i], 11, "end", "ytick"));
        }
        svg.Add(grid);

        var data = new XElement(Ns + "g", new XAttribute("class", "data"));
        foreach (var s in series)
        {
            var g = new XElement(Ns + "g", new XAttribute("class", "series"), new XAttribute("data-name", s.Name));
            if (s.BarRight is not null)
            {
                double y0 = LogY ? yt.Min : Math.Clamp(0, yt.Min, yt.Max);
                for (int i = 0; i < s.Y.Length; i++)
                {
                    if (!double.IsFinite(s.Y[i]) || (LogY && s.Y[i] <= 0)) continue;
                    double xa = Sx(s.X[i]), xb = Sx(s.BarRight[i]), ya = Sy(s.Y[i]), yb = Sy(y0);
                    g.Add(new XElement(Ns + "rect", new XAttribute("x", N(xa)), new XAttribute("y", N(Math.Min(ya, yb))),
                        new XAttribute("width", N(Math.Max(0.5, xb - xa - 0.5))), new XAttribute("height", N(Math.Abs(yb - ya))),
                        new XAttribute("fill", s.Color), new XAttribute("fill-opacity", 0.75)));
                }
            }
            else
                foreach (var segment in Segments(s))
                    g.Add(new XElement(Ns + "polyline", new XAttribute("fill", "none"), new XAttribute("stroke", s.Color),
                        new XAttribute("stroke-width", 1.8), new XAttribute("stroke-linejoin", "round"),
                        new XAttribute("points", string.Join(" ", segment.Select(i => N(Sx(s.X[i])) + "," + N(Sy(s.Y[i])))))));
            data.Add(g);
        }
        svg.Add(new XElement(Ns + "clipPath", new XAttribute("id", "plot-area"),
            new XElement(Ns + "rect", new XAttribute("x", left), new XAttribute("y", top), new XAttribute("width", N(pw)), new XAttribute("height", N(ph)))));
        data.Add(new XAttribute("clip-path", "url(#plot-area)"));
        svg.Add(data);

        svg.Add(new XElement(Ns + "rect", new XAttribute("class", "frame"), new XAttribute("x", left), new XAttribute("y", top),
            new XAttribute("width", N(pw)), new XAttribute("height", N(ph)), new XAttribute("fill", "none"), new XAttribute("stroke", "#333")));
        svg.Add(ticks);
        if (XLabel.Length > 0) svg.Add(Text(left + pw / 2, Height - 16, XLabel, 13, "middle", "xlabel"));
        if (YLabel.Length > 0)
        {
            var t = Text(0, 0, YLabel, 13, "middle", "ylabel");
            t.Add(new XAttribute("transform", $"translate(20,{N(top + ph / 2)}) rotate(-90)"));
            svg.Add(t);
        }
        if (series.Count > 1 || (series.Count == 1 && series[0].Name.Length > 0)) svg.Add(Legend(left + pw, top));
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg.ToString() + "\n";
    }

    /// <summary>The plotted data, long format: <c>series,x,y,x_right</c> (x_right only for bars: x..x_right is the bar).</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("series,x,y,x_right\n");
        foreach (var s in series)
            for (int i = 0; i < s.X.Length; i++)
                sb.Append('"').Append(s.Name.Replace("\"", "\"\"")).Append("\",").Append(R(s.X[i])).Append(',').Append(R(s.Y[i])).Append(',')
                  .Append(s.BarRight is null ? "" : R(s.BarRight[i])).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// Writes <c>&lt;basePath&gt;.svg</c>, <c>.csv</c> and (if <paramref name="png"/>) <c>.png</c> rendered by
    /// <c>rsvg-convert -b white</c>. <paramref name="basePath"/> may end in .svg.
    /// </summary>
    public PlotFiles Save(string basePath, bool png = true)
    {
        if (basePath.EndsWith(".svg", StringComparison.OrdinalIgnoreCase)) basePath = basePath[..^4];
        var dir = Path.GetDirectoryName(Path.GetFullPath(basePath));
        if (dir is not null) Directory.CreateDirectory(dir);
        var files = new PlotFiles(basePath + ".svg", basePath + ".csv", png ? basePath + ".png" : null);
        File.WriteAllText(files.Svg, ToSvg());
        File.WriteAllText(files.Csv, ToCsv());
        if (files.Png is not null) SvgRaster.ToPng(files.Svg, files.Png);
        return files;
    }

    // ---- layout helpers ----
    private (AxisTicks X, AxisTicks Y) Axes()
    {
        var xs = series.SelectMany(s => s.BarRight is null ? s.X : s.X.Concat(s.BarRight)).Where(double.IsFinite).ToList();
        var ys = series.SelectMany(s => s.Y).Where(v => double.IsFinite(v) && (!LogY || v > 0)).ToList();
        if (!LogY && series.Any(s => s.BarRight is not null)) ys.Add(0);
        bool bars = series.Any(s => s.BarRight is not null);
        const double pad = 0.03;                                   // breathing room so lines do not run on the frame
        var xt = xs.Count == 0 ? PlotTicks.Linear(0, 1) : PlotTicks.Linear(xs.Min(), xs.Max(), padLo: bars ? 0 : pad, padHi: bars ? 0 : pad);
        var yt = LogY ? (ys.Count == 0 ? PlotTicks.Log10(1, 10) : PlotTicks.Log10(ys.Min(), ys.Max()))
                      : ys.Count == 0 ? PlotTicks.Linear(0, 1)
                      : PlotTicks.Linear(ys.Min(), ys.Max(), padLo: bars && ys.Min() == 0 ? 0 : pad, padHi: pad);
        return (xt, yt);
    }

    private IEnumerable<List<int>> Segments(Series s)
    {
        var cur = new List<int>();
        for (int i = 0; i < s.X.Length; i++)
        {
            bool ok = double.IsFinite(s.X[i]) && double.IsFinite(s.Y[i]) && (!LogY || s.Y[i] > 0);
            if (ok) { cur.Add(i); continue; }
            if (cur.Count > 0) yield return cur;
            cur = [];
        }
        if (cur.Count > 0) yield return cur;
    }

    private XElement Legend(double rightEdge, double top)
    {
        int w = 36 + (int)(7.2 * series.Max(s => s.Name.Length)), h = 8 + 18 * series.Count;
        double x = rightEdge - w - 8, y = top + 8;
        var g = new XElement(Ns + "g", new XAttribute("class", "legend"), new XAttribute("font-size", 12));
        g.Add(new XElement(Ns + "rect", new XAttribute("x", N(x)), new XAttribute("y", N(y)), new XAttribute("width", w), new XAttribute("height", h),
            new XAttribute("fill", "white"), new XAttribute("fill-opacity", 0.9), new XAttribute("stroke", "#999")));
        for (int i = 0; i < series.Count; i++)
        {
            double cy = y + 13 + 18 * i;
            g.Add(series[i].BarRight is null
                ? new XElement(Ns + "line", new XAttribute("x1", N(x + 6)), new XAttribute("y1", N(cy)), new XAttribute("x2", N(x + 28)), new XAttribute("y2", N(cy)),
                               new XAttribute("stroke", series[i].Color), new XAttribute("stroke-width", 2.5))
                : new XElement(Ns + "rect", new XAttribute("x", N(x + 8)), new XAttribute("y", N(cy - 5)), new XAttribute("width", 18), new XAttribute("height", 10),
                               new XAttribute("fill", series[i].Color), new XAttribute("fill-opacity", 0.75)));
            g.Add(Text(x + 32, cy + 4, series[i].Name, 12, "start", "legend-label"));
        }
        return g;
    }

    private static XElement Text(double x, double y, string text, int size, string anchor, string cls, bool bold = false)
    {
        var t = new XElement(Ns + "text", new XAttribute("class", cls), new XAttribute("x", N(x)), new XAttribute("y", N(y)),
            new XAttribute("font-size", size), new XAttribute("text-anchor", anchor), text);
        if (bold) t.Add(new XAttribute("font-weight", "bold"));
        return t;
    }

    private static XElement Line(double x1, double y1, double x2, double y2) =>
        new(Ns + "line", new XAttribute("x1", N(x1)), new XAttribute("y1", N(y1)), new XAttribute("x2", N(x2)), new XAttribute("y2", N(y2)));

    private static string N(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
    private static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
