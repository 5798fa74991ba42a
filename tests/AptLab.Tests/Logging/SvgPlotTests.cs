using System.Globalization;
using System.Xml.Linq;
using AptLab.Data.Media;
using AptLab.Logging;

namespace AptLab.Tests.Logging;

public class SvgPlotTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static double[] Labels(XDocument doc, string cls) =>
        doc.Descendants(Svg + "text").Where(t => (string?)t.Attribute("class") == cls)
           .Select(t => double.Parse(t.Value, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();

    // A step is nice if it is 1, 2 or 5 times a power of ten.
    private static void AssertNiceLinear(double[] ticks)
    {
        Assert.True(ticks.Length >= 3, $"only {ticks.Length} ticks");
        double step = ticks[1] - ticks[0];
        double mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
        Assert.Contains(Math.Round(mantissa, 6), new[] { 1.0, 2.0, 5.0 });
        foreach (var t in ticks) Assert.Equal(Math.Round(t / step), t / step, 6);       // every tick a multiple of the step
        for (int i = 1; i < ticks.Length; i++) Assert.Equal(step, ticks[i] - ticks[i - 1], 9);
    }

    [Fact]
    public void LinePlotStructureAndNiceTicks()
    {
        var x = Enumerable.Range(0, 37).Select(i => i * 25.0).ToArray();
        var plot = new SvgPlot { Title = "loss & <stuff>", XLabel = "step", YLabel = "loss" }
            .AddLine("generator", x, x.Select(v => 0.37 + 2.9 * Math.Exp(-v / 300)).ToList())
            .AddLine("discriminator", x, x.Select(v => 0.69 + 0.1 * Math.Sin(v / 50)).ToList());
        var doc = XDocument.Parse(plot.ToSvg());

        var bg = doc.Root!.Elements(Svg + "rect").First();
        Assert.Equal("white", (string?)bg.Attribute("fill"));
        var lines = doc.Descendants(Svg + "polyline").ToList();
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Equal(37, ((string)l.Attribute("points")!).Split(' ').Length));
        Assert.Equal("loss & <stuff>", doc.Descendants(Svg + "text").Single(t => (string?)t.Attribute("class") == "title").Value);
        Assert.Equal(["generator", "discriminator"],
            doc.Descendants(Svg + "text").Where(t => (string?)t.Attribute("class") == "legend-label").Select(t => t.Value));

        var xt = Labels(doc, "xtick");
        var yt = Labels(doc, "ytick");
        AssertNiceLinear(xt);
        AssertNiceLinear(yt);
        Assert.True(xt[0] <= 0 && xt[^1] >= 800, string.Join(",", xt));
        Assert.True(yt[0] <= 0.6 && yt[^1] >= 3.0, string.Join(",", yt));

        // The first point of the first line sits left of the second (x increases) and points lie inside the frame.
        var pts = ((string)lines[0].Attribute("points")!).Split(' ').Select(p => p.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.True(pts.Zip(pts.Skip(1)).All(p => p.Second[0] > p.First[0]));
        Assert.True(pts.All(p => p[0] > 78 && p[0] < 800 - 24 && p[1] > 44 && p[1] < 480 - 58));
    }

    [Fact]
    public void LogAxisUsesDecadesAndBreaksLinesAtInvalidPoints()
    {
        double[] x = [1, 2, 3, 4, 5, 6];
        double[] y = [3e-3, 0.2, double.NaN, 0.5, -1, 40];            // NaN and (on log) -1 break the line
        var doc = XDocument.Parse(new SvgPlot { LogY = true }.AddLine("l", x, y).ToSvg());
        var segs = doc.Descendants(Svg + "polyline").Select(l => ((string)l.Attribute("points")!).Split(' ').Length).ToArray();
        Assert.Equal([2, 1, 1], segs);
        var yt = Labels(doc, "ytick");
        Assert.Equal([1e-3, 1e-2, 1e-1, 1, 10, 100], yt);
    }

    [Theory]
    [InlineData(0.37, 3.27)]
    [InlineData(-12.5, 7.25)]
    [InlineData(1e-5, 9.4e-4)]
    [InlineData(1000, 1000)]
    [InlineData(123456, 9876543)]
    public void NiceTicksForAnyRange(double lo, double hi)
    {
        var t = PlotTicks.Linear(lo, hi);
        AssertNiceLinear(t.Values);
        Assert.True(t.Values[0] <= lo && t.Values[^1] >= hi);
        Assert.InRange(t.Values.Length, 4, 12);
        // Labels parse back to the tick values.
        for (int i = 0; i < t.Values.Length; i++)
            Assert.Equal(t.Values[i], double.Parse(t.Labels[i], CultureInfo.InvariantCulture), t.Values[i] == 0 ? 1e-12 : Math.Abs(t.Values[i]) * 1e-9);
    }

    [Fact]
    public void HistogramBarsCountEveryValue()
    {
        var values = Enumerable.Range(0, 1000).Select(i => Math.Sin(i * 0.37) * 3).ToArray();
        var plot = new SvgPlot { Title = "w" }.AddHistogram("w", values, bins: 20);
        var doc = XDocument.Parse(plot.ToSvg());
        var bars = doc.Descendants(Svg + "g").Single(g => (string?)g.Attribute("class") == "series").Elements(Svg + "rect").ToList();
        Assert.Equal(20, bars.Count);
        var csv = plot.ToCsv().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("series,x,y,x_right", csv[0]);
        Assert.Equal(21, csv.Length);
        Assert.Equal(1000, csv.Skip(1).Sum(l => double.Parse(l.Split(',')[2], CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void SaveWritesSvgCsvAndAWhiteBackgroundPng()
    {
        Assert.True(SvgRaster.IsAvailable, "rsvg-convert not found: install librsvg2-bin and fonts-dejavu-core (make deps)");
        using var tmp = TestPaths.Temp();
        var x = Enumerable.Range(0, 50).Select(i => (double)i).ToArray();
        var files = new SvgPlot { Title = "t", Width = 400, Height = 300 }.AddLine("a", x, x.Select(v => v * v).ToList()).Save(tmp.File("plots/loss"));
        Assert.True(File.Exists(files.Svg) && File.Exists(files.Csv));
        var png = Png.Read(files.Png!);
        Assert.Equal((400, 300), (png.Width, png.Height));
        Assert.Equal(new byte[] { 255, 255, 255 }, png.Pixels[..3]);                  // background corner
        Assert.Contains(Enumerable.Range(0, png.Width * png.Height),                  // some dark (axis/text) pixels
            i => png.Pixels[3 * i] < 80 && png.Pixels[3 * i + 1] < 80 && png.Pixels[3 * i + 2] < 80);
        Assert.Equal(51, File.ReadAllLines(files.Csv).Length);
    }
}
