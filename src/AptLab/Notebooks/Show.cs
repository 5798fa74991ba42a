using System.Globalization;
using System.Text;
using AptLab.Data.Media;
using AptLab.Logging;

namespace AptLab.Notebooks;

/// <summary>
/// Output for notebooks that runs the same under the .NET Interactive kernel and as a file-based app: plain text
/// on stdout (aligned tables, file listings) and plots saved as SVG + CSV + PNG. Numbers print in the invariant
/// culture with 6 significant digits, so output is deterministic and greppable. Every method takes an optional
/// writer (default: Console.Out).
/// </summary>
public static class Show
{
    /// <summary>A number as notebooks print it: invariant culture, 6 significant digits (G6); nan, inf, -inf.</summary>
    public static string Number(double v) =>
        double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf"
        : v.ToString("G6", CultureInfo.InvariantCulture);

    public static void Heading(string title, TextWriter? output = null)
    {
        output ??= Console.Out;
        output.WriteLine();
        output.WriteLine($"## {title}");
    }

    /// <summary>Prints an aligned table: numeric columns right-aligned, doubles through <see cref="Number"/>.</summary>
    public static void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<object?>> rows, TextWriter? output = null) =>
        (output ?? Console.Out).Write(FormatTable(headers, rows));

    public static string FormatTable(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var cells = rows.Select((r, i) => r.Count == headers.Count ? r.Select(Cell).ToArray()
            : throw new ArgumentException($"table row {i + 1} has {r.Count} cells, the header has {headers.Count}")).ToList();
        var numeric = new bool[headers.Count];
        for (int c = 0; c < headers.Count; c++)
            numeric[c] = cells.Count > 0 && cells.All(r => r[c].Numeric);
        var width = headers.Select((h, c) => Math.Max(h.Length, cells.Count == 0 ? 0 : cells.Max(r => r[c].Text.Length))).ToArray();
        var sb = new StringBuilder();
        void Line(IEnumerable<string> texts) => sb.Append(string.Join("  ", texts).TrimEnd()).Append('\n');
        Line(headers.Select((h, c) => numeric[c] ? h.PadLeft(width[c]) : h.PadRight(width[c])));
        Line(width.Select(w => new string('-', w)));
        foreach (var r in cells) Line(r.Select((x, c) => numeric[c] ? x.Text.PadLeft(width[c]) : x.Text.PadRight(width[c])));
        return sb.ToString();
    }

    /// <summary>Saves <paramref name="plot"/> as <c>basePath.svg/.csv/.png</c> (PNG through rsvg-convert when installed),
    /// checks the PNG decodes and prints where it is (relative to <paramref name="relativeTo"/> when given).</summary>
    public static PlotFiles Plot(SvgPlot plot, string basePath, string? relativeTo = null, TextWriter? output = null)
    {
        output ??= Console.Out;
        bool png = SvgRaster.IsAvailable;
        var files = plot.Save(basePath, png);
        if (files.Png is not null)
        {
            var image = Png.Read(files.Png);
            output.WriteLine($"plot  {Rel(files.Png, relativeTo)}  ({image.Width}x{image.Height})");
        }
        else output.WriteLine($"plot  {Rel(files.Svg, relativeTo)}  (no PNG: install librsvg2-bin for rsvg-convert)");
        return files;
    }

    /// <summary>Lists the files (and folders) in <paramref name="dir"/> matching <paramref name="pattern"/> with their sizes.</summary>
    public static IReadOnlyList<string> Files(string title, string dir, string pattern = "*", string? relativeTo = null, TextWriter? output = null)
    {
        output ??= Console.Out;
        var entries = Directory.Exists(dir)
            ? Directory.GetFileSystemEntries(dir, pattern).OrderBy(p => p, StringComparer.Ordinal).ToList() : [];
        output.WriteLine($"{title}: {(entries.Count == 0 ? "none" : entries.Count.ToString(CultureInfo.InvariantCulture))}" +
                         (Directory.Exists(dir) ? "" : $" ({Rel(dir, relativeTo)} does not exist)"));
        foreach (var e in entries)
            output.WriteLine($"  {Rel(e, relativeTo)}  {(Directory.Exists(e) ? "folder, " + Size(DirectorySize(e)) : Size(new FileInfo(e).Length))}");
        return entries;
    }

    /// <summary>Lists the PNG images in <paramref name="dir"/> with their pixel sizes (each one decoded, so a broken file shows).</summary>
    public static IReadOnlyList<string> Images(string title, string dir, string? relativeTo = null, TextWriter? output = null)
    {
        output ??= Console.Out;
        var pngs = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.png", SearchOption.AllDirectories).OrderBy(p => p, StringComparer.Ordinal).ToList() : [];
        output.WriteLine($"{title}: {(pngs.Count == 0 ? "none" : pngs.Count.ToString(CultureInfo.InvariantCulture))}");
        foreach (var p in pngs)
        {
            var image = Png.Read(p);
            output.WriteLine($"  {Rel(p, relativeTo)}  {image.Width}x{image.Height}");
        }
        return pngs;
    }

    private readonly record struct CellText(string Text, bool Numeric);

    private static CellText Cell(object? v) => v switch
    {
        null => new("", false),
        double d => new(Number(d), true),
        float f => new(Number(f), true),
        int or long or short or uint or ulong or decimal => new(System.Convert.ToString(v, CultureInfo.InvariantCulture)!, true),
        IFormattable f => new(f.ToString(null, CultureInfo.InvariantCulture), false),
        _ => new(v.ToString() ?? "", false),
    };

    private static string Rel(string path, string? relativeTo) => relativeTo is null ? path : Path.GetRelativePath(relativeTo, path);

    private static long DirectorySize(string dir) => Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private static string Size(long bytes) =>
        bytes < 1024 ? $"{bytes} B" : bytes < 1 << 20 ? $"{(bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture)} KiB"
        : $"{(bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture)} MiB";
}
