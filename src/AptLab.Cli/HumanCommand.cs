using System.CommandLine;
using AptLab.Config;
using AptLab.Data.Media;
using AptLab.Experiments;
using AptLab.Experiments.Human;
using AptLab.Human.Inference;
using AptLab.Human.Pose;

namespace AptLab.Cli;

/// <summary>
/// `aptlab human --config configs/X.yaml --image ref.png --audio speech.wav [--pose keypoints.json] --prompt "..."
/// --output out.mp4`: OmniHuman inference (docs/omnihuman.md#inference), segment by segment with motion frames, into an
/// mp4 with the audio. Every input and the output path are checked before any model is loaded.
/// </summary>
public static class HumanCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "config with a human: section (model, data size, inference)", Required = true };
        var image = new Option<string>("--image") { Description = "reference image (any format ffmpeg reads)", Required = true };
        var audio = new Option<string>("--audio") { Description = "the audio (any format ffmpeg reads): it sets the length and is muxed in", Required = true };
        var pose = new Option<string?>("--pose") { Description = "COCO-WholeBody keypoints JSON (133 points per frame)" };
        var prompt = new Option<string>("--prompt") { Description = "text prompt", Required = true };
        var output = new Option<string?>("--output") { Description = "output mp4 (default: <inference.output_dir>/human_NNN.mp4); never overwritten" };
        var drive = new Option<string?>("--drive") { Description = "audio, pose or both (default: both with --pose, else audio)" };
        var weights = new Option<string?>("--weights") { Description = "an OmniHuman file or an omnihuman run folder (overrides the config's)" };
        var cmd = new Command("human", "Generate a human video with OmniHuman (reference image + audio, optionally pose)");
        foreach (var o in new Option[] { config, image, audio, pose, prompt, output, drive, weights }) cmd.Options.Add(o);
        cmd.SetAction(p => Run(p.GetValue(config)!, p.GetValue(image)!, p.GetValue(audio)!, p.GetValue(pose), p.GetValue(prompt)!,
            p.GetValue(output), p.GetValue(drive), p.GetValue(weights)));
        return cmd;
    }

    public static int Run(string configPath, string imagePath, string audioPath, string? posePath, string prompt, string? outputPath,
        string? driveName = null, string? weights = null)
    {
        // everything the user gave, before any model loads
        ExperimentConfig cfg;
        try { cfg = ConfigLoader.Load<ExperimentConfig>(configPath); }
        catch (ConfigException e) { return Fail(e.Message, 2); }
        if (cfg.Human is null) return Fail($"{configPath}: no human: section", 2);
        foreach (var (what, path) in new[] { ("image", imagePath), ("audio", audioPath), ("pose", posePath) })
            if (path is not null && !File.Exists(path)) return Fail($"{what} file not found: {Path.GetFullPath(path)}", 2);
        HumanDrive drive;
        switch (driveName?.ToLowerInvariant())
        {
            case null: drive = posePath is null ? HumanDrive.Audio : HumanDrive.Both; break;
            case "audio": drive = HumanDrive.Audio; break;
            case "pose": drive = HumanDrive.Pose; break;
            case "both": drive = HumanDrive.Both; break;
            default: return Fail($"--drive must be audio, pose or both, got '{driveName}'", 2);
        }
        if (drive != HumanDrive.Audio && posePath is null) return Fail($"--drive {driveName} needs --pose keypoints.json", 2);
        var outFile = Path.GetFullPath(outputPath ?? NextResultPath(cfg.Human.Inference.OutputDir));
        if (!outFile.EndsWith(".mp4", StringComparison.OrdinalIgnoreCase)) return Fail($"--output must be an .mp4 file, got {outFile}", 2);
        if (File.Exists(outFile)) return Fail($"--output {outFile} exists; AptLab does not overwrite it (choose another name)", 2);
        if (Directory.Exists(outFile)) return Fail($"--output {outFile} is a folder", 2);
        if (cfg.Human.Inference.Threads > 0) torch.set_num_threads(cfg.Human.Inference.Threads);
        else if (cfg.Threads > 0) torch.set_num_threads(cfg.Threads);
        RgbImage img;
        float[] samples;
        WholeBodyKeypoints? kp = null;
        try
        {
            img = Ffmpeg.ReadImage(imagePath);
            samples = Ffmpeg.ReadAudio(audioPath, 16000);
            if (samples.Length == 0) return Fail($"{audioPath}: the audio has no samples", 2);
            if (posePath is not null) kp = WholeBodyKeypoints.Load(posePath);
        }
        catch (Exception e) when (e is MediaException or InvalidDataException) { return Fail(e.Message, 2); }
        try
        {
            using var models = HumanInferenceModels.Build(cfg, weights);
            foreach (var line in models.Log) Console.WriteLine(line);
            var options = cfg.Human.Inference.Options(models.Config.Data, drive);
            var bar = new ProgressBar(Console.Error);
            using var video = models.Pipeline(options.Fps).Generate(img, samples, kp, prompt, options, bar.Report);
            bar.Done();
            Console.WriteLine($"{video.Plan.Segments.Count} segment(s) of {video.Plan.SegmentFrames} frames, {video.Plan.Frames} frames kept " +
                              $"({options.Drive.ToString().ToLowerInvariant()}-driven, {options.Steps} steps, CFG {options.Guidance.Start} -> {options.Guidance.End} {options.Guidance.Shape})");
            Directory.CreateDirectory(Path.GetDirectoryName(outFile)!);
            OmniHumanPipeline.WriteVideo(outFile, video.Frames, options.Fps, audioPath);
            Console.WriteLine($"wrote {outFile}");
            return 0;
        }
        catch (Exception e) when (e is ConfigException or MediaException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
                                      or ArgumentException or TorchException)
        {
            return Fail(e.Message, 1);
        }
    }

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }

    private static string NextResultPath(string dir)
    {
        for (int i = 0; ; i++)
        {
            var p = Path.Combine(dir, $"human_{i:D3}.mp4");
            if (!File.Exists(p)) return p;
        }
    }

    /// <summary>Segments and denoising steps: a redrawn bar on a terminal, one line per segment otherwise.</summary>
    private sealed class ProgressBar(TextWriter w)
    {
        private readonly bool tty = !Console.IsErrorRedirected;
        private int lastSegment;

        public void Report(HumanProgress p)
        {
            const int width = 30;
            int filled = p.Steps == 0 ? 0 : width * p.Step / p.Steps;
            var line = $"segment {p.Segment}/{p.Segments} [{new string('#', filled)}{new string('.', width - filled)}] step {p.Step}/{p.Steps}";
            if (tty) w.Write("\r" + line);
            else if (p.Step == p.Steps || p.Segment != lastSegment) w.WriteLine(line);
            lastSegment = p.Segment;
        }

        public void Done()
        {
            if (tty) w.WriteLine();
        }
    }
}
