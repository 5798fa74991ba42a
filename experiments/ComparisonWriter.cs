using System.Globalization;
using System.Text;
using AptLab.Data.Media;

namespace AptLab.Experiments;

/// <summary>Writes the comparison's sheets and CSV (metrics are added by the evaluation module).</summary>
public static class ComparisonWriter
{
    public static void Write(StudyContext ctx, List<CompareStage.ComparisonResult> results)
    {
        int prompts = ctx.Config.Compare.SheetPrompts;
        foreach (var kind in results.Select(r => r.Kind).Distinct())
        {
            var rows = results.Where(r => r.Kind == kind).ToList();
            var (real, _) = ctx.Heldout(kind == "video", prompts);
            var sheetRows = new List<(string, IReadOnlyList<RgbImage>)> { ("real (held-out)", Frames(real, prompts)) };
            sheetRows.AddRange(rows.Select(r => (r.Method.Name, Frames(r.Pixels, prompts))));
            var sheet = ImageGrid.ContactSheet(sheetRows);
            Png.Write(Path.Combine(ctx.Run.Samples, $"comparison_{kind}.png"), sheet);
            real.Dispose();
        }
        var csv = new StringBuilder("kind,method,steps,nfe,wall_seconds\n");
        foreach (var r in results)
            csv.AppendLine(string.Join(",", r.Kind, r.Method.Name, r.Method.Steps, r.Method.Nfe,
                r.WallSeconds.ToString("F3", CultureInfo.InvariantCulture)));
        Training.RunDirectory.WriteAtomic(ctx.Run.File("comparison.csv"), csv.ToString());
        foreach (var r in results) r.Pixels.Dispose();
    }

    /// <summary>First frames of the first <paramref name="count"/> clips as images ([N, 3, T, H, W] in [-1, 1]).</summary>
    private static IReadOnlyList<RgbImage> Frames(Tensor pixels, int count)
    {
        using var scope = torch.NewScope();
        var list = new List<RgbImage>();
        for (int i = 0; i < Math.Min(count, pixels.size(0)); i++)
            list.Add(TensorImages.ToImage(pixels[i].select(1, 0), -1, 1));
        return list;
    }
}
