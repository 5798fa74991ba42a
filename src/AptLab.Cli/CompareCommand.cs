using AptLab.Training;
using System.CommandLine;
using System.Globalization;
using AptLab.Config;
using AptLab.Data.Media;
using AptLab.Experiments;

namespace AptLab.Cli;

/// <summary>
/// `aptlab compare`: one-step vs multi-step on the same noise and prompts, from a demo run folder (its foundation,
/// CD and APT checkpoints) or from a foundation checkpoint plus student checkpoints; writes the run folder of a
/// `compare` experiment: samples/&lt;image|video&gt;/comparison.png, frames_*.png, comparison.mp4, comparison.csv
/// (wall time, NFE, Fréchet distance, sharpness per method) and README.md. Methods are MODEL[:STEPS][:cfgW]:
/// <c>teacher:25:cfg4</c> (Euler with CFG 4), <c>apt:1</c>, <c>apt:2</c> (docs/apt.md#two-step-inference two-step), <c>cd:1</c>.
/// </summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var run = new Option<string?>("--run") { Description = "a demo run folder (checkpoints/foundation, cd, apt_image_ema, apt_video_ema)" };
        var foundation = new Option<string?>("--foundation") { Description = "foundation checkpoint (VAE + text encoder + teacher) of a teacher run" };
        var models = new Option<string[]>("--model") { Description = "NAME=CHECKPOINT of a one-step generator (repeatable)", AllowMultipleArgumentsPerToken = true };
        var methods = new Option<string?>("--methods") { Description = "comma-separated MODEL[:STEPS][:cfgW], e.g. teacher:25:cfg4,teacher:4,cd:1,apt:1,apt:2 (default: teacher at sampling.steps (25), every model in 1 step, apt also in 2)" };
        var prompts = new Option<string[]>("--prompt") { Description = "prompt (repeatable; cycled over the samples; default: held-out captions)", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<ulong>("--seed") { Description = "noise seed", DefaultValueFactory = _ => 0 };
        var samples = new Option<int>("--samples") { Description = "samples per method (scores use all)", DefaultValueFactory = _ => 64 };
        var sheet = new Option<int>("--sheet-prompts") { Description = "columns of the sheets", DefaultValueFactory = _ => 8 };
        var noVideo = new Option<bool>("--no-video") { Description = "compare images only" };
        var output = new Option<string?>("--out") { Description = "run folder to write (default results/compare/<timestamp>)" };
        var cmd = new Command("compare", "Compare teacher (multi-step, CFG) and one-step generators: PNG sheets, mp4 grid, CSV with wall time and NFE");
        foreach (var o in new Option[] { run, foundation, models, methods, prompts, seed, samples, sheet, noVideo, output }) cmd.Options.Add(o);
        cmd.SetAction(p => Run(p.GetValue(run), p.GetValue(foundation), p.GetValue(models) ?? [], p.GetValue(methods), p.GetValue(prompts) ?? [],
            p.GetValue(seed), p.GetValue(samples), p.GetValue(sheet), !p.GetValue(noVideo), p.GetValue(output), null));
        return cmd;
    }

    public static int Run(string? runDir, string? foundation, string[] models, string? methods, string[] prompts, ulong seed,
        int samples, int sheetPrompts, bool video, string? outDir, TextWriter? output)
    {
        using var console = output is null ? new ConsoleSession() : null;    // live bars on a terminal; run.log in the run folder
        output ??= console!;
        try
        {
            // a fresh run folder is made at --out (or beside it, -2, -3..., when it holds files): it must be a creatable folder
            if (outDir is not null) OutputPath.CheckFolder(outDir, "--out", [], overwrite: false);
            var cfg = Build(runDir, foundation, models, methods, prompts, seed, samples, sheetPrompts, video, outDir);
            cfg.Threads = OpenMpPolicy.UseConfigThreads(cfg.Threads);    // recorded in the run's config.yaml
            var run = console is null ? Launch(cfg, outDir, output) : console.Run(() => Launch(cfg, outDir, output));
            output.WriteLine($"results: {run.Root}");
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ConfigException
                                       or OutputPathException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    private static Training.RunDirectory Launch(ExperimentConfig cfg, string? outDir, TextWriter output) =>
        ExperimentKinds.Launch(cfg, null, outDir is null ? null : Path.GetFileName(Path.GetFullPath(outDir)), output);

    /// <summary>The compare experiment the options describe (validated like a config file).</summary>
    public static ExperimentConfig Build(string? runDir, string? foundation, string[] models, string? methods, string[] prompts, ulong seed,
        int samples, int sheetPrompts, bool video, string? outDir)
    {
        if ((runDir is null) == (foundation is null)) throw new ArgumentException("give either --run (a demo run folder) or --foundation");
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        if (runDir is not null)
        {
            if (!Directory.Exists(runDir)) throw new DirectoryNotFoundException($"--run: folder not found: {Path.GetFullPath(runDir)}");
            foundation = Path.Combine(runDir, "checkpoints", "foundation.safetensors");
            foreach (var (name, stage) in new[] { ("cd", "cd"), ("apt_image", "apt_image_ema"), ("apt", "apt_video_ema") })
            {
                var f = Path.Combine(runDir, "checkpoints", stage + ".safetensors");
                if (File.Exists(f)) named[name] = f;
            }
        }
        foreach (var m in models)
        {
            var eq = m.IndexOf('=');
            if (eq <= 0 || eq == m.Length - 1) throw new ArgumentException($"--model '{m}' is not NAME=CHECKPOINT");
            if (m[..eq] == "teacher") throw new ArgumentException("--model: 'teacher' is the foundation's teacher; name the checkpoint otherwise");
            named[m[..eq]] = m[(eq + 1)..];
        }
        var list = new List<CompareMethodConfig>();
        var specs = methods?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    ?? ["teacher", .. named.Keys.Select(k => k + ":1"), .. named.ContainsKey("apt") ? new[] { "apt:2" } : []];
        foreach (var spec in specs)
        {
            var parts = spec.Split(':');
            var m = new CompareMethodConfig { Model = parts[0] };
            foreach (var part in parts.Skip(1))
            {
                if (part.StartsWith("cfg") && double.TryParse(part[3..], NumberStyles.Float, CultureInfo.InvariantCulture, out var w)) m.Guidance = w;
                else if (int.TryParse(part, out var steps)) m.Steps = steps;
                else throw new ArgumentException($"--methods: '{spec}' is not MODEL[:STEPS][:cfgW]");
            }
            if (m.IsTeacher)
            {
                if (parts.Length == 1 || !parts.Skip(1).Any(p => int.TryParse(p, out _))) m.Steps = 0;   // sampling.steps, below
            }
            else
            {
                if (!named.TryGetValue(m.Model, out var path))
                    throw new ArgumentException($"--methods: no model named '{m.Model}' (known: teacher{string.Concat(named.Keys.Select(k => ", " + k))})");
                m.Name = $"{m.Model} {m.Steps} step{(m.Steps == 1 ? "" : "s")}";
                m.Model = path;
            }
            list.Add(m);
        }
        var cfg = new ExperimentConfig
        {
            Experiment = "compare", Name = "compare", Seed = seed,
            Compare = new CompareStageConfig { Foundation = foundation!, Methods = list, Prompts = [.. prompts], Samples = samples, SheetPrompts = sheetPrompts, Video = video },
        };
        if (outDir is not null)
        {
            var full = Path.GetFullPath(outDir);
            cfg.Name = Path.GetFileName(Path.GetDirectoryName(full)!);
            cfg.Results = Path.GetDirectoryName(Path.GetDirectoryName(full)!)!;
        }
        // the foundation's architecture and data (no config of the user's to warn about); the teacher's default step
        // count, shift and guidance are the sampling section's defaults
        cfg.Compare.Foundation = ExperimentKinds.ResolveCheckpoint(cfg.Compare.Foundation, "--foundation", StudyCheckpoints.Foundation);
        StudyCheckpoints.AdoptFoundationSpec(cfg, cfg.Compare.Foundation);
        foreach (var m in list.Where(m => m.IsTeacher && m.Steps == 0)) m.Steps = cfg.Sampling.Steps;
        ConfigLoader.Validate(cfg, "", "aptlab compare options");
        return cfg;
    }
}
