using System.Globalization;
using System.Text;
using ScottPlot;
using SkiaSharp;

namespace AptLab.Logging.Plots;

/// <summary>Files written by <see cref="Figure.Save"/>: the PNG, the SVG (to re-style) and the plotted data as CSV.</summary>
public sealed record FigureFiles(string Png, string Svg, string Csv);

/// <summary>
/// A titled grid of <see cref="Panel"/>s, each drawn by ScottPlot into its cell, rendered to PNG or SVG with
/// the figure's title on top. <see cref="Save"/> writes the PNG, the SVG and a CSV of exactly what was plotted
/// (<c>panel,series,x,y</c>) side by side. In a .NET Interactive notebook a Figure displays as image/png once
/// a formatter is registered (notebooks/README.md).
/// </summary>
public sealed class Figure
{
    private const int HeaderHeight = 40;

    public string Title { get; set; } = "";
    public List<Panel> Panels { get; } = [];
    /// <summary>Panels per row (0: all in one row up to 3, then rows of 3).</summary>
    public int Columns { get; set; }
    public int PanelWidth { get; set; } = 560;
    public int PanelHeight { get; set; } = 400;

    public Figure(string title = "") => Title = title;

    public Figure Add(Panel panel)
    {
        Panels.Add(panel);
        return this;
    }

    public int ColumnCount => Columns > 0 ? Columns : Math.Clamp(Panels.Count, 1, 3);
    public int RowCount => Math.Max(1, (Panels.Count + ColumnCount - 1) / ColumnCount);
    public int Width => ColumnCount * PanelWidth;
    public int Height => HeaderHeight + RowCount * PanelHeight;

    /// <summary>The figure as PNG bytes.</summary>
    public byte[] ToPng()
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height)) ?? throw new InvalidOperationException($"figure '{Title}': cannot allocate a {Width}x{Height} surface");
        Render(surface.Canvas);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>The PNG as base64 (what a notebook's image/png output holds).</summary>
    public string ToPngBase64() => Convert.ToBase64String(ToPng());

    /// <summary>The figure as SVG text.</summary>
    public string ToSvg()
    {
        using var stream = new MemoryStream();
        using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, Width, Height), stream)) Render(canvas);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>What was plotted, long format: <c>panel,series,x,y</c> (smoothed curves as "name", raw as "name (raw)",
    /// bars with x = the bar's label).</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("panel,series,x,y\n");
        foreach (var p in Panels)
        {
            foreach (var s in p.Lines)
                for (int i = 0; i < s.X.Length; i++)
                    sb.Append(Q(p.Title)).Append(',').Append(Q(s.Name)).Append(',').Append(R(s.X[i])).Append(',').Append(R(s.Y[i])).Append('\n');
            foreach (var (label, value) in p.Bars)
                sb.Append(Q(p.Title)).Append(",bar,").Append(Q(label)).Append(',').Append(R(value)).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Writes <c>basePath.png</c>, <c>.svg</c> and <c>.csv</c> (the folder is created).</summary>
    public FigureFiles Save(string basePath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(basePath));
        if (dir is not null) Directory.CreateDirectory(dir);
        var files = new FigureFiles(basePath + ".png", basePath + ".svg", basePath + ".csv");
        File.WriteAllBytes(files.Png, ToPng());
        File.WriteAllText(files.Svg, ToSvg());
        File.WriteAllText(files.Csv, ToCsv());
        return files;
    }

    private void Render(SKCanvas canvas)
    {
        if (Panels.Count == 0) throw new InvalidOperationException($"figure '{Title}' has no panels");
        canvas.Clear(SKColors.White);
        using (var font = new SKFont(SKTypeface.FromFamilyName("DejaVu Sans", SKFontStyle.Bold) ?? SKTypeface.Default, 18))
        using (var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true })
            canvas.DrawText(Title, Width / 2f, 27, SKTextAlign.Center, font, paint);
        for (int i = 0; i < Panels.Count; i++)
        {
            float left = i % ColumnCount * PanelWidth, top = HeaderHeight + i / ColumnCount * PanelHeight;
            canvas.Save();                                   // a plot clears its whole canvas: clip it to its cell
            canvas.ClipRect(new SKRect(left, top, left + PanelWidth, top + PanelHeight));
            canvas.Translate(left, top);
            Panels[i].ToPlot().Render(canvas, PanelWidth, PanelHeight);
            canvas.Restore();
        }
    }

    private static string Q(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    private static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
