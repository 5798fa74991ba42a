using AptLab.Training;
using System.CommandLine;
using AptLab.Config;
using AptLab.Data.Media;
using AptLab.Avatar.Inference;
using AptLab.Avatar.Audio;

namespace AptLab.Cli;

/// <summary>
/// `aptlab avatar --config configs/omniavatar-14b.yaml --image ref.png --audio speech.wav --prompt "..."`:
/// OmniAvatar long-video inference (docs/omniavatar.md#sampling, docs/omniavatar.md#teacache) into an mp4 with the audio muxed in.
/// </summary>
public static class AvatarCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "inference config (YAML, keys of OmniAvatar's configs/inference.yaml)", Required = true };
        var image = new Option<string>("--image") { Description = "reference image (any format ffmpeg reads)", Required = true };
        var audio = new Option<string>("--audio") { Description = "driving audio (any format ffmpeg reads)", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "text prompt: [first-frame description] - [behaviour] - [background]", Required = true };
        var output = new Option<string?>("--output") { Description = "output video, .mp4/.mov/.mkv (default: <output_dir>/result_NNN.mp4)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace an existing --output file" };
        var cmd = new Command("avatar", "Generate an audio-driven avatar video with OmniAvatar");
        foreach (var o in new Option[] { config, image, audio, prompt, output, overwrite }) cmd.Options.Add(o);
        cmd.SetAction(p => Run(p.GetValue(config)!, p.GetValue(image)!, p.GetValue(audio)!, p.GetValue(prompt)!, p.GetValue(output),
                               p.GetValue(overwrite)));
        return cmd;
    }

    public static int Run(string configPath, string imagePath, string audioPath, string prompt, string? outputPath, bool overwrite = false)
    {
        AvatarInferenceConfig cfg;
        try { cfg = ConfigLoader.Load<AvatarInferenceConfig>(configPath); }
        catch (ConfigException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        // Everything the run needs is checked before a model is built (docs/reliability.md).
        try
        {
            if (outputPath is not null) outputPath = OutputPath.CheckFile(outputPath, OutputKind.Video, "--output", overwrite);
            else OutputPath.CheckFolder(cfg.OutputDir, "output_dir", [], overwrite: false);
            if (Ffmpeg.Probe(imagePath).Video is null) throw new MediaException(Path.GetFullPath(imagePath), "--image: not an image (no video stream)");
            if (Ffmpeg.Probe(audioPath).Audio is null) throw new MediaException(Path.GetFullPath(audioPath), "--audio: has no audio stream");
        }
        catch (IOException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        OpenMpPolicy.UseConfigThreads(cfg.Threads);
        try
        {
            using var models = AvatarModels.Build(cfg);
            foreach (var line in models.Log) Console.WriteLine(line);
            var pipeline = models.Pipeline(cfg);
            var img = Ffmpeg.ReadImage(imagePath);
            var samples = AudioFile.ReadMono(audioPath, cfg.SampleRate);
            var outFile = outputPath ?? NextResultPath(cfg.OutputDir);
            using var console = new ConsoleSession(Console.Error, interactive: !Console.IsErrorRedirected && !Console.IsOutputRedirected);
            using var writer = new AvatarVideoWriter(outFile, cfg.Fps);              // frames go to ffmpeg as chunks finish
            var run = console.Run(() =>
            {
                ProgressReporter? progress = null;                // the total is known from the first report
                return pipeline.Generate(img, samples, prompt, cfg.Video, writer.Write, p =>
                {
                    progress ??= new ProgressReporter("avatar", p.Chunks * p.Steps, console, every: Math.Max(1, p.Steps));
                    progress.Report((p.Chunk - 1) * p.Steps + p.Step, $"chunk {p.Chunk}/{p.Chunks} step {p.Step}/{p.Steps}");
                });
            });
            var plan = run.Plan;
            Console.WriteLine($"{plan.Chunks.Count} chunk(s) of {plan.FramesPerChunk} frames, {plan.OutputFrames} frames kept " +
                              $"({run.ModelCalls} DiT calls, {run.SkippedCalls} skipped by TeaCache)");
            writer.Finish(audioPath, cfg.SilenceDurationS);
            Console.WriteLine($"wrote {Path.GetFullPath(outFile)}");
            return 0;
        }
        catch (Exception e) when (e is ConfigException or MediaException or InvalidDataException or FileNotFoundException or ArgumentException or TorchException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static string NextResultPath(string dir)
    {
        Directory.CreateDirectory(dir);
        for (int i = 0; ; i++)
        {
            var p = Path.Combine(dir, $"result_{i:D3}.mp4");
            if (!File.Exists(p)) return p;
        }
    }
}
