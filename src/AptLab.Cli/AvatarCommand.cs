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
        var output = new Option<string?>("--output") { Description = "output mp4 (default: <output_dir>/result_NNN.mp4)" };
        var cmd = new Command("avatar", "Generate an audio-driven avatar video with OmniAvatar");
        foreach (var o in new Option[] { config, image, audio, prompt, output }) cmd.Options.Add(o);
        cmd.SetAction(p => Run(p.GetValue(config)!, p.GetValue(image)!, p.GetValue(audio)!, p.GetValue(prompt)!, p.GetValue(output)));
        return cmd;
    }

    public static int Run(string configPath, string imagePath, string audioPath, string prompt, string? outputPath)
    {
        AvatarInferenceConfig cfg;
        try { cfg = ConfigLoader.Load<AvatarInferenceConfig>(configPath); }
        catch (ConfigException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        foreach (var (what, path) in new[] { ("image", imagePath), ("audio", audioPath) })
            if (!File.Exists(path)) { Console.Error.WriteLine($"error: {what} file not found: {Path.GetFullPath(path)}"); return 2; }
        if (cfg.Threads > 0) torch.set_num_threads(cfg.Threads);
        try
        {
            using var models = AvatarModels.Build(cfg);
            foreach (var line in models.Log) Console.WriteLine(line);
            var pipeline = models.Pipeline(cfg);
            var img = Ffmpeg.ReadImage(imagePath);
            var samples = AudioFile.ReadMono(audioPath, cfg.SampleRate);
            var bar = new ProgressBar(Console.Error);
            using var video = pipeline.Generate(img, samples, prompt, cfg.Video, bar.Report);
            bar.Done();
            var plan = video.Plan;
            Console.WriteLine($"{plan.Chunks.Count} chunk(s) of {plan.FramesPerChunk} frames, {plan.OutputFrames} frames kept " +
                              $"({video.ModelCalls} DiT calls, {video.SkippedCalls} skipped by TeaCache)");
            var outFile = outputPath ?? NextResultPath(cfg.OutputDir);
            AvatarVideoWriter.Write(outFile, video.Frames, cfg.Fps, audioPath, cfg.SilenceDurationS);
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

    /// <summary>Chunks and denoising steps: a redrawn bar on a terminal, one line per chunk otherwise.</summary>
    private sealed class ProgressBar(TextWriter w)
    {
        private readonly bool tty = !Console.IsErrorRedirected;
        private int lastChunk;

        public void Report(AvatarProgress p)
        {
            const int width = 30;
            int filled = p.Steps == 0 ? 0 : width * p.Step / p.Steps;
            var line = $"chunk {p.Chunk}/{p.Chunks} [{new string('#', filled)}{new string('.', width - filled)}] step {p.Step}/{p.Steps}";
            if (tty) w.Write("\r" + line);
            else if (p.Step == p.Steps || p.Chunk != lastChunk) w.WriteLine(line);
            lastChunk = p.Chunk;
        }

        public void Done()
        {
            if (tty) w.WriteLine();
        }
    }
}
