using AptLab.Data.Media;
using AptLab.Logging;

namespace AptLab.Experiments;

/// <summary>The run's figures in plots/: loss curves per stage and the discriminator's logits, each as SVG (to
/// re-style), CSV (the data) and PNG; the comparison sheets also go to TensorBoard as images.</summary>
public static class StudyPlots
{
    public static void Write(StudyContext ctx)
    {
        ctx.Log.Events?.Flush();
        var m = MetricsCsv.Read(ctx.Run.MetricsCsv);
        void Plot(string file, string title, string ylabel, bool logY, params string[] tags)
        {
            var present = tags.Where(m.Contains).ToArray();
            if (present.Length == 0) return;
            var plot = new SvgPlot { Title = title, XLabel = "step", YLabel = ylabel, LogY = logY };
            foreach (var tag in present)
            {
                var s = m.Series(tag);
                plot.AddLine(tag, s.Steps.Select(x => (double)x).ToList(), s.Values);
            }
            plot.Save(Path.Combine(ctx.Run.Plots, file));
        }
        Plot("vae_loss", "VAE reconstruction", "MSE", true, "vae/recon_mse");
        Plot("teacher_loss", "teacher flow-matching loss", "MSE", true, "teacher/loss");
        Plot("cd_loss", "consistency distillation", "MSE", true, "cd/loss");
        foreach (var phase in new[] { "apt_image", "apt_video" })
        {
            Plot($"{phase}_losses", $"{phase}: adversarial losses", "loss", false, $"{phase}/loss_d", $"{phase}/loss_g");
            Plot($"{phase}_logits", $"{phase}: mean discriminator logits", "logit", false, $"{phase}/logit_real", $"{phase}/logit_fake");
            Plot($"{phase}_r1", $"{phase}: approximated R1", "penalty", true, $"{phase}/r1");
        }
        foreach (var kind in new[] { "image", "video" })
        {
            var sheet = Path.Combine(ctx.Run.Samples, kind, "comparison.png");
            if (File.Exists(sheet)) ctx.Log.Events?.AddImage($"compare/{kind}", Png.Read(sheet), 0);
        }
    }
}
