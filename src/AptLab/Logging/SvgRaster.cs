using AptLab.Data.Media;

namespace AptLab.Logging;

/// <summary>SVG to PNG through librsvg's <c>rsvg-convert -b white</c> (text rendered with the system fonts).</summary>
public static class SvgRaster
{
    public static bool IsAvailable => ToolProcess.FindOnPath("rsvg-convert") is not null;

    /// <summary>Renders <paramref name="svgPath"/> to <paramref name="pngPath"/>; <paramref name="width"/> scales it (height follows).</summary>
    public static void ToPng(string svgPath, string pngPath, int? width = null, TimeSpan? timeout = null)
    {
        MediaException.CheckInputFile(svgPath);
        var args = new List<string> { "-b", "white", "-f", "png", "-o", pngPath };
        if (width is not null) args.AddRange(["-w", width.Value.ToString()]);
        args.Add(svgPath);
        ToolProcess.Run("rsvg-convert", args, svgPath, timeout: timeout ?? TimeSpan.FromMinutes(1),
                        installHint: "install the Debian packages librsvg2-bin and fonts-dejavu-core (make deps)");
    }
}
