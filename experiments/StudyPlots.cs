using AptLab.Data.Media;
using AptLab.Logging.Plots;

namespace AptLab.Experiments;

/// <summary>The run's figures in plots/ (ScottPlot: PNG + SVG + CSV each, see <see cref="RunPlots"/>); the
/// comparison sheets also go to TensorBoard as images.</summary>
public static class StudyPlots
{
    public static void Write(StudyContext ctx)
    {
        ctx.Log.Events?.Flush();
        RunPlots.Write(ctx.Run.Root);
        foreach (var kind in new[] { "image", "video" })
        {
            var sheet = Path.Combine(ctx.Run.Samples, kind, "comparison.png");
            if (File.Exists(sheet)) ctx.Log.Events?.AddImage($"compare/{kind}", Png.Read(sheet), 0);
        }
    }
}
