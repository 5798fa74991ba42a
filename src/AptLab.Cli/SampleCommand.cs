using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AptLab.Config;
using AptLab.Data.Media;
using AptLab.Wan.Pipelines;
using AptLab.Training;

namespace AptLab.Cli;

/// <summary>
/// `aptlab sample --config configs/sample-*.yaml --prompt "..."`: Wan 2.1 text-to-video (or image-to-video) with the
/// models a config names, or the tiny random-weight preset; writes DIR/sample.mp4, DIR/sample.png (contact sheet)
/// and DIR/sample.json (the resolved settings). I2V encodes --image with the config's CLIP checkpoint and also writes
/// DIR/clip_fea.safetensors, which --clip-features takes to skip the encoder in a later run.
/// </summary>
public static class SampleCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "sample config (YAML): model files or 'model: tiny'", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "the text prompt", Required = true };
        var negative = new Option<string?>("--negative") { Description = "negative prompt (default: Wan's official one; \"\" for none)" };
        var steps = new Option<int?>("--steps") { Description = "denoising steps (default: config, else 50 for t2v, 40 for i2v)" };
        var cfg = new Option<double?>("--cfg") { Description = "classifier-free guidance scale (default 5)" };
        var shift = new Option<double?>("--shift") { Description = "sigma shift of the schedule (default 5; i2v at 480p: 3)" };
        var seed = new Option<ulong?>("--seed") { Description = "noise seed" };
        var frames = new Option<int?>("--frames") { Description = "frames, 1 + 4k (default 81)" };
        var size = new Option<string?>("--size") { Description = "WIDTHxHEIGHT, multiples of 16 (default 832x480; i2v: the area, aspect from the image)" };
        var sampler = new Option<string?>("--sampler") { Description = "unipc (Wan's default) or euler" };
        var image = new Option<string?>("--image") { Description = "i2v: the first frame (any image ffmpeg reads); its CLIP features are computed with the config's 'clip' checkpoint" };
        var clip = new Option<string?>("--clip-features") { Description = "i2v: precomputed CLIP features of the image ([1, 257, 1280] in a .safetensors/.pth file, e.g. a run's clip_fea.safetensors) instead of running the encoder" };
        var output = new Option<string?>("--out") { Description = "output folder (default results/samples/<timestamp>)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace sample.mp4/png/json already in the --out folder" };
        var cmd = new Command("sample", "Sample a video with Wan 2.1 (T2V; I2V with --image) and write mp4 + PNG contact sheet");
        foreach (var o in new Option[] { config, prompt, negative, steps, cfg, shift, seed, frames, size, sampler, image, clip, output, overwrite })
            cmd.Options.Add(o);
        cmd.SetAction(p => Run(p.GetValue(config)!, new SampleOverrides(p.GetValue(prompt)!, p.GetValue(negative), p.GetValue(steps),
            p.GetValue(cfg), p.GetValue(seed), p.GetValue(frames), p.GetValue(size), p.GetValue(sampler), p.GetValue(shift)),
            p.GetValue(image), p.GetValue(clip), p.GetValue(output), p.GetValue(overwrite)));
        return cmd;
    }

    /// <summary>The files `sample` writes into its output folder.</summary>
    public static readonly string[] Products = ["sample.mp4", "sample.png", "sample.json", "clip_fea.safetensors"];

    public static int Run(string configPath, SampleOverrides overrides, string? imagePath, string? clipPath, string? outDir, bool overwrite = false)
    {
        try
        {
            var cfg = ConfigLoader.Load<SampleConfig>(configPath);
            var settings = overrides.Resolve(cfg);
            if (cfg.IsI2V && imagePath is null)
                throw new ArgumentException("an i2v config needs --image (the first frame)");
            if (!cfg.IsI2V && (imagePath is not null || clipPath is not null))
                throw new ArgumentException("--image and --clip-features need an i2v config (task: i2v)");
            if (imagePath is not null && !File.Exists(imagePath)) throw new FileNotFoundException($"--image: file not found: {Path.GetFullPath(imagePath)}");
            if (clipPath is not null && !File.Exists(clipPath)) throw new FileNotFoundException($"--clip-features: file not found: {Path.GetFullPath(clipPath)}");
            outDir ??= Path.Combine("results", "samples", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            var (sizeMultiple, temporalFactor) = WanSampleModels.Geometry(cfg, withClip: clipPath is null);      // settings and inputs before any model loads
            settings = settings.Validate(sizeMultiple, temporalFactor);
            outDir = OutputPath.CheckFolder(outDir, "--out", Products, overwrite);
            OpenMpPolicy.UseConfigThreads(cfg.Threads);

            using var scope = torch.NewScope();
            using var pipeline = WanSampleModels.Load(cfg, msg => Console.Error.WriteLine(msg), withClip: clipPath is null);
            settings = settings.Validate(pipeline.SizeMultiple, pipeline.TemporalFactor);
            Tensor? img = null, clipFea = null;
            if (pipeline is WanI2VPipeline i2vPipeline)
            {
                img = WanI2VPipeline.ImageTensor(Ffmpeg.ReadImage(imagePath!));     // [3, H, W] in [-1, 1]
                if (clipPath is not null) clipFea = ClipFeatures.Load(clipPath);
                else
                {
                    Console.Error.WriteLine("clip: encoding the image ...");
                    clipFea = i2vPipeline.EncodeImage(img);                               // [1, N_img, clip_dim]
                    Directory.CreateDirectory(outDir);
                    ClipFeatures.Save(Path.Combine(outDir, ClipFeatures.Key + ".safetensors"), clipFea);
                }
            }
            var result = WithProgress(settings.Steps, report => pipeline switch
            {
                WanT2VPipeline t2v => t2v.Generate(settings, report),
                WanI2VPipeline i2v => i2v.Generate(settings, img!, clipFea, report),
                _ => throw new InvalidOperationException("unknown pipeline"),
            });
            string caption = $"{cfg.Model} {cfg.Task}  {settings.Sampler} {settings.Steps} steps  shift {settings.Shift:G4}  cfg {settings.Guide:G4}  seed {settings.Seed}";
            var (mp4, png) = WanSampleWriter.Write(outDir, "sample", result.Video, cfg.Sample.Fps, caption);
            var json = JsonSerializer.SerializeToUtf8Bytes(new
            {
                config = Path.GetFullPath(configPath), settings.Prompt, negative_prompt = settings.NegativePrompt,
                settings.Frames, height = result.Height, width = result.Width, settings.Steps, settings.Shift, settings.Guide,
                settings.Seed, sampler = settings.Sampler.ToString(), fps = cfg.Sample.Fps, threads = torch.get_num_threads(),
                image = imagePath is null ? null : Path.GetFullPath(imagePath),
                clip_features = clipPath is not null ? Path.GetFullPath(clipPath) : cfg.IsI2V ? $"{ClipFeatures.Key}.safetensors (computed)" : null,
            }, new JsonSerializerOptions { WriteIndented = true });
            AptLab.Torch.IO.AtomicFile.Write(Path.Combine(outDir, "sample.json"), s => s.Write(json));
            Console.WriteLine($"wrote {mp4} ({result.Frames} frames, {result.Width}x{result.Height}) and {png}");
            return 0;
        }
        catch (Exception e) when (CliErrors.IsUserError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    /// <summary>Runs <paramref name="generate"/> with a live bar on a terminal (stderr), or periodic lines otherwise.</summary>
    private static T WithProgress<T>(int steps, Func<Action<WanSampleProgress>, T> generate)
    {
        using var console = new ConsoleSession(Console.Error, interactive: !Console.IsErrorRedirected && !Console.IsOutputRedirected);
        return console.Run(() =>
        {
            var progress = new ProgressReporter("sample", steps, console, every: 1);
            return generate(p =>
            {
                if (p.Phase == "denoise") progress.Report(p.Step, $"t={p.Timestep:G6}");
                else console.WriteLine($"{p.Phase} ...");
            });
        });
    }
}
