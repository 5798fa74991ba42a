using System.Xml.Linq;
using AptLab.Data.Media;
using AptLab.Logging;
using AptLab.Logging.Plots;

namespace AptLab.Tests.Logging;

/// <summary>The ScottPlot figures: EMA smoothing, one tick format per axis, the log-axis and panel decisions, and the
/// files a figure writes.</summary>
public class PlotTests
{
    [Fact]
    public void EmaIsDebiasedSoAConstantStaysConstant()
    {
        double w = 0.6;
        Assert.Equal([2.0, 2.0, 2.0], Ema.Smooth([2.0, 2.0, 2.0], w));                  // an undebiased EMA starts at 0.8
        var s = Ema.Smooth([1.0, 3.0], w);
        Assert.Equal(1.0, s[0], 12);
        Assert.Equal((w * (1 - w) * 1 + (1 - w) * 3) / (1 - w * w), s[1], 12);
        Assert.Equal([5.0, 1.0, 4.0], Ema.Smooth([5.0, 1.0, 4.0], 0));
        var gap = Ema.Smooth([1.0, double.NaN, 1.0], w);                                 // NaN skipped, kept in place
        Assert.True(double.IsNaN(gap[1]));
        Assert.Equal(1.0, gap[2], 12);
        Assert.Throws<ArgumentException>(() => Ema.Smooth([1.0], 1.0));
    }

    [Fact]
    public void AnAxisUsesOneLabelFormat()
    {
        Assert.True(TickLabels.Scientific(1e-5, 1e-2));
        Assert.False(TickLabels.Scientific(0.01, 100));
        Assert.False(TickLabels.Scientific(-0.5, 0.5));                                  // crossing zero is not "tiny"
        Assert.Equal(["1e-4", "1e-3", "1e-2"], new[] { 1e-4, 1e-3, 1e-2 }.Select(v => TickLabels.Format(v, true)));
        Assert.Equal(["0.01", "0.1", "1", "10"], new[] { 0.01, 0.1, 1, 10 }.Select(v => TickLabels.Format(v, false)));
        var linear = TickLabels.Linear(0, 1);
        Assert.Equal(["0", "0.3", "0.7", "1"], new[] { 1e-17, 0.1 + 0.2, 0.7000000000000001, 1.0 }.Select(linear));
        Assert.Equal("2.5e-4", TickLabels.Linear(1e-4, 5e-4)(2.5e-4));
    }

    [Fact]
    public void AConstantCurveIsNotedNotDrawnSoItCannotDisableTheLogAxis()
    {
        var x = Enumerable.Range(1, 50).Select(i => (double)i).ToList();
        var r1 = x.Select(i => Math.Pow(10, -1 - i / 10)).ToList();                        // 1e-1 .. 1e-6: decades
        var panel = new Panel { Title = "penalties" }
            .AddCurve("apt_image/r1", x, r1, smoothing: 0.5)
            .AddCurve("apt_image/r2", x, x.Select(_ => 0.0).ToList());
        Assert.True(panel.UsesLogY);
        Assert.Equal(["apt_image/r1 (raw)", "apt_image/r1"], panel.Lines.Select(l => l.Name));
        Assert.Equal(r1, panel.Lines[0].Y);
        Assert.Equal(Ema.Smooth(r1, 0.5), panel.Lines[1].Y);
        Assert.Equal(panel.Lines[0].ColorIndex, panel.Lines[1].ColorIndex);
        Assert.Equal(["apt_image/r2 = 0 throughout (not drawn)"], panel.Notes);

        var flat = new Panel().AddCurve("loss", x, x.Select(i => 1 + i / 100).ToList());    // 1.01 .. 1.5: no decade
        Assert.False(flat.UsesLogY);
        var crossing = new Panel().AddCurve("logit", x, x.Select(i => i - 25).ToList());
        Assert.False(crossing.UsesLogY);
    }

    private static ScalarSeries Series(string tag, int steps, Func<int, double> f) =>
        new(tag, Enumerable.Range(1, steps).Select(i => (long)i).ToArray(), Enumerable.Range(1, steps).Select(f).ToArray(),
            Enumerable.Range(1, steps).Select(i => (double)i).ToArray());

    [Fact]
    public void EveryStageGetsItsOwnPanelsAndAxes()
    {
        var series = new[]
        {
            Series("vae/recon_mse", 40, i => 0.5 / i), Series("vae/kl", 40, i => 30 + i % 3),
            Series("teacher/loss", 4000, i => 1.0 / Math.Sqrt(i)), Series("teacher/lr", 4000, _ => 1e-3),
            Series("apt_image/loss_d", 150, i => 1.3 + 0.01 * (i % 5)), Series("apt_image/loss_g", 150, i => 0.7),
            Series("apt_image/logit_real", 150, i => 0.1 * i), Series("apt_image/logit_fake", 150, i => -0.1 * i),
            Series("apt_image/r1", 150, i => 1e-3 / i), Series("apt_image/r2", 150, _ => 0),
            Series("time/vae_seconds", 1, _ => 3), Series("compare_image/fd/CD 1 step", 1, _ => 14),
        };
        Assert.Equal(["vae", "teacher", "apt_image"], TrainingCurves.Stages(series));
        var overview = TrainingCurves.Overview("run", series);
        Assert.Equal(["vae: losses", "vae: KL", "teacher: losses", "apt_image: losses"], overview.Panels.Select(p => p.Title));
        var teacher = overview.Panels[2];
        Assert.Equal(4000, teacher.Lines.Max(l => l.X.Max()));                            // the teacher's axis ends at its own last step
        Assert.True(teacher.UsesLogY);                                                   // 1 .. 0.016 spans a decade
        Assert.Equal(150, overview.Panels[3].Lines.Max(l => l.X.Max()));
        Assert.DoesNotContain(overview.Panels.SelectMany(p => p.Lines), l => l.Name.Contains("lr"));
        Assert.Contains("apt_image/loss_g = 0.7 throughout (not drawn)", overview.Panels[3].Notes);

        var apt = TrainingCurves.PerStage("run", series).Single(f => f.Name == "apt_image").Figure;
        Assert.Equal(["apt_image: losses", "apt_image: logits", "apt_image: penalties"], apt.Panels.Select(p => p.Title));
        Assert.True(apt.Panels[2].UsesLogY);
        Assert.Equal((2 * apt.PanelWidth, 40 + 2 * apt.PanelHeight), (apt.Width, apt.Height));  // 3 panels in rows of 2
    }

    [Fact]
    public void AFigureWritesItsPngSvgAndTheDataItPlotted()
    {
        using var tmp = TestPaths.Temp();
        var x = Enumerable.Range(1, 30).Select(i => (double)i).ToList();
        var figure = new Figure("two panels") { PanelWidth = 400, PanelHeight = 300 }
            .Add(new Panel { Title = "left" }.AddCurve("a", x, x.Select(v => v * v).ToList(), smoothing: 0))
            .Add(new Panel { Title = "right", YLabel = "FD" }.AddBar("CD 1 step", 14.3).AddBar("APT 1 step", 12.9));
        var files = figure.Save(tmp.File("plots/fig"));
        var png = Png.Read(files.Png);
        Assert.Equal((800, 340), (png.Width, png.Height));
        foreach (int cell in new[] { 0, 1 })                                             // both panels drawn (one must not erase the other)
        {
            int coloured = 0;
            for (int y = 40; y < 340; y++)
                for (int xx = cell * 400; xx < cell * 400 + 400; xx++)
                {
                    int i = png.Index(xx, y);
                    if (Math.Abs(png.Pixels[i] - png.Pixels[i + 2]) > 60) coloured++;
                }
            Assert.True(coloured > 100, $"panel {cell}: {coloured} coloured pixels");
        }
        var svg = XDocument.Load(files.Svg);
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        var svgText = File.ReadAllText(files.Svg);
        Assert.Contains("APT 1 step", svgText);
        var csv = File.ReadAllLines(files.Csv);
        Assert.Equal("panel,series,x,y", csv[0]);
        Assert.Equal(30 + 2, csv.Length - 1);
        Assert.Equal("left,a,3,9", csv[3]);
        Assert.Equal("right,bar,APT 1 step,12.9", csv[^1]);
    }
}
