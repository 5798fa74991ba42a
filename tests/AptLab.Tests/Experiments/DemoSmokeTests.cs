using AptLab.Config;
using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Training;

namespace AptLab.Tests.Experiments;

/// <summary>The demo study end to end at smoke size (configs/demo-smoke.yaml), then its outputs read back.</summary>
[Collection("demo-smoke")]
public class DemoSmokeTests(DemoSmokeRun demo)
{
    [Fact]
    public void Demo_study_runs_every_stage_and_writes_a_complete_run_folder()
    {
        var (cfg, run) = (demo.Config, demo.Run);

        foreach (var stage in new[] { "foundation", "cd", "apt_image_ema", "apt_video_ema" })
            Assert.True(File.Exists(Path.Combine(run.Checkpoints, stage + ".safetensors")), stage);
        Assert.NotNull(Checkpoints.Latest(run.Checkpoints, "apt_image"));

        // The same scalars in TensorBoard and in metrics.csv.
        var metrics = MetricsCsv.Read(run.MetricsCsv);
        var events = EventFileReader.ReadRun(run.Events);
        foreach (var tag in new[] { "teacher/loss", "cd/loss", "apt_image/loss_d", "apt_image/loss_g", "apt_image/r1", "apt_video/loss_d" })
        {
            var csv = metrics.Series(tag);
            var tb = EventFileReader.Scalars(events, tag);
            Assert.NotEmpty(csv.Values);
            Assert.Equal(csv.Values.Select(v => (float)v), tb.Values.Select(v => (float)v));
            Assert.All(csv.Values, v => Assert.True(double.IsFinite(v), tag));
        }
        Assert.Equal(cfg.Apt.Image.Updates, metrics.Series("apt_image/loss_d").Values.Length);

        // The comparison: every method for images and videos, and a decodable sheet.
        var rows = File.ReadAllLines(run.File("comparison.csv"));
        Assert.Contains(rows, r => r.StartsWith("image,CD 1 step,1,1,"));
        Assert.Contains(rows, r => r.StartsWith("video,APT 1 step,1,1,"));
        var sheet = AptLab.Data.Media.Png.Read(Path.Combine(run.Samples, "image", "comparison.png"));
        Assert.True(sheet.Width > 4 * cfg.Data.Size);
        Assert.Equal(ComparisonWriter.CsvHeader, rows[0]);
        Assert.True(AptLab.Data.Media.Ffmpeg.Probe(Path.Combine(run.Samples, "video", "comparison.mp4")).Streams.Count > 0);
        Assert.Contains("## APT vs consistency distillation", File.ReadAllText(run.File("README.md")));
        foreach (var plot in new[] { "training", "vae", "teacher", "cd", "apt_image", "apt_video", "comparison" })
            foreach (var ext in new[] { ".svg", ".csv", ".png" })
                Assert.True(File.Exists(Path.Combine(run.Plots, plot + ext)), plot + ext);

        // Resuming a finished run skips every stage and gives the same comparison rows (methods, NFE).
        // (on a copy: the run is shared with the other tests of the collection)
        using var copy = TestPaths.Temp();
        CopyTree(run.Root, copy.Path);
        var log2 = new StringWriter();
        using (var ctx = new StudyContext(cfg, RunDirectory.Open(copy.Path), log2)) DemoExperiment.Run(ctx);
        Assert.Contains("loaded from checkpoints/foundation.safetensors", log2.ToString());
        Assert.DoesNotContain("[distill] step", log2.ToString());
    }

    [Fact]
    public void Training_writes_sample_sheets_of_the_students_to_tensorboard_every_k_updates()
    {
        var (cfg, run) = (demo.Config, demo.Run);
        var events = EventFileReader.ReadRun(run.Events);
        var images = events.SelectMany(e => e.Values.Where(v => v.Image is not null).Select(v => (e.Step, v.Tag, v.Image!))).ToList();
        long[] Expected(int steps, int every) => Enumerable.Range(1, steps).Where(s => s % every == 0).Select(s => (long)s).ToArray();
        int cell = cfg.Data.Size + 2, frames = cfg.Data.VideoFrames;                  // ImageGrid margin 2, no captions
        foreach (var (tag, steps, every, rows, cols) in new[]
                 {
                     ("cd/samples", cfg.Distill.Steps, cfg.Distill.SampleEvery, 1, SamplePreview.Count),
                     ("apt_image/samples", cfg.Apt.Image.Updates, cfg.Apt.SampleEvery, 1, SamplePreview.Count),
                     ("apt_video/samples", cfg.Apt.Video.Updates, cfg.Apt.SampleEvery, SamplePreview.Count / 2, frames),
                 })
        {
            var sheets = images.Where(i => i.Tag == tag).ToList();
            Assert.Equal(Expected(steps, every), sheets.Select(i => i.Step).ToArray());
            foreach (var (_, _, img) in sheets)
            {
                Assert.Equal((2 + cols * cell, 2 + rows * cell), (img.Width, img.Height));
                var png = AptLab.Data.Media.Png.Decode(img.EncodedImage);
                Assert.Equal((img.Width, img.Height), (png.Width, png.Height));
            }
        }
    }

    [Fact]
    public void A_run_interrupted_after_the_vae_stage_resumes_without_retraining_it()
    {
        var (cfg, run) = (demo.Config, demo.Run);
        using var copy = TestPaths.Temp();
        CopyTree(run.Root, copy.Path);
        var dir = RunDirectory.Open(copy.Path);
        File.Delete(Path.Combine(dir.Checkpoints, "foundation.safetensors"));
        var log = new StringWriter();
        using (var ctx = new StudyContext(cfg, dir, log))
        {
            StudyProducts.Foundation(ctx);
            using var original = AptLab.Torch.IO.Safetensors.Load(Path.Combine(run.Checkpoints, "foundation.safetensors"));
            foreach (var (k, v) in ctx.Vae.state_dict())
                Assert.Equal(original["vae." + k].data<float>().ToArray(), v.data<float>().ToArray());
            Assert.Equal(original["vae.latent_inv_std"].data<float>().ToArray(), ctx.Vae.latent_inv_std.data<float>().ToArray());
        }
        Assert.Contains("[vae] loaded from checkpoints/vae.safetensors", log.ToString());
        Assert.DoesNotContain("[vae] step", log.ToString());
        Assert.Contains("[teacher] step", log.ToString());
        Assert.True(File.Exists(Path.Combine(dir.Checkpoints, "foundation.safetensors")));
    }

    [Fact]
    public void The_vae_stage_trains_the_path_that_decodes_the_latents()
    {
        // Training reconstructs through normalize -> decode; after the statistics are refitted, decoding the cached
        // normalised latents must give the same pixels (a decoder trained on one scaling and fed another shifts colours).
        var (cfg, run) = (demo.Config, demo.Run);
        using var ctx = new StudyContext(cfg, RunDirectory.Open(run.Root), TextWriter.Null);
        StudyCheckpoints.LoadFoundation(ctx);
        using var _ = torch.no_grad();
        var (x, _) = ctx.Images.Batch(0, 4);
        var (rec, _, _) = VaeStage.Reconstruct(ctx.Vae, x);
        var fromEncode = ctx.Vae.decode(ctx.Vae.encode(x), clamp: false);
        Assert.True(ctx.Vae.latent_mean.abs().max().item<float>() > 0);     // refitted, not the identity
        Assert.True((rec - fromEncode).abs().max().item<float>() < 1e-4);
        VaeStage.EncodeTrainingSet(ctx, refitStats: false);
        var cached = ctx.Vae.decode(ctx.ImageLatents!.narrow(0, 0, 4), clamp: false);
        Assert.True((rec - cached).abs().max().item<float>() < 1e-4);
    }

    internal static void CopyTree(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(d.Replace(from, to));
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, f.Replace(from, to), true);
    }
}
