using AptLab.Torch.Distributed;
using AptLab.Training;
using AptLab.Experiments.Avatar;
using AptLab.Experiments.Human;

namespace AptLab.Experiments;

/// <summary>
/// The experiment kinds and how they chain. The words used in experiments/:
/// <list type="bullet">
/// <item><b>experiment kind</b>: the value of a config's <c>experiment:</c>; each kind is one program
/// (<c>DemoExperiment</c>, <c>StudyExperiments.Teacher</c>/<c>Distill</c>/<c>Apt</c>/<c>Compare</c>, <c>WanAptExperiment</c>,
/// <c>AvatarAptExperiment</c>, <c>AvatarFinetuneExperiment</c>, <c>HumanExperiment</c>, <c>HumanAptExperiment</c>), started by <see cref="Run"/>;</item>
/// <item><b>study</b>: the demo's research procedure on the built-in data (<c>StudyContext</c>): VAE, teacher,
/// consistency distillation, APT image and video phases, comparison;</item>
/// <item><b>stage</b>: one step of a study or of a kind (<c>VaeStage</c>, <c>TeacherStage</c>, <c>CdStage</c>,
/// <c>AptStage</c>, <c>CompareStage</c>), a function that trains or evaluates one thing;</item>
/// <item><b>product</b>: what a stage leaves in checkpoints/ for a resumed run or a later kind (<c>StudyProducts</c>,
/// <c>StudyCheckpoints</c>);</item>
/// <item><b>foundation</b>: the product of the VAE and teacher stages: VAE (with latent statistics), text encoder and
/// teacher, with the config sections that built them.</item>
/// </list>
/// Each kind runs into its own results/&lt;name&gt;/&lt;run-id&gt;/ and writes its products to checkpoints/:
/// <code>
/// teacher  -> checkpoints/foundation.safetensors   VAE (+ latent stats) + text encoder + teacher, and their config
/// distill  distill.from: a foundation               -> checkpoints/cd.safetensors (the CD student)
/// apt      apt.teacher: a foundation, apt.student: a CD student
///          -> checkpoints/apt_image_ema.safetensors, apt_video_ema.safetensors (+ resumable phase checkpoints)
/// apt-wan  a released Wan 2.1 DiT (wan section) + LatentCache data; apt.student: a CD student, or empty to distil one
///          first -> checkpoints/cd.safetensors, then the two phases as apt
/// compare  compare.foundation + compare.methods (teacher and any student checkpoints) -> comparison.csv, sheets, mp4
/// sample   the same methods, sheets and samples.csv without scores
/// apt-omniavatar  an OmniAvatar teacher (omniavatar section) + LatentCache data -> checkpoints/cd, apt_image_ema,
///          apt_video_ema (+ resumable phase checkpoints) and generator.safetensors (the exported one-step generator)
/// demo     all of the study in one run folder (the composition of teacher, distill, apt and compare)
/// omniavatar-finetune  OmniAvatar flow-matching fine-tuning from a manifest (AvatarFinetuneExperiment)
/// omnihuman  OmniHuman's three-stage training (manifest, or a synthetic study with its evaluation; HumanExperiment)
///          -> checkpoints/omnihuman.safetensors (+ omnihuman_stage{k}, encoders.safetensors)
/// apt-omnihuman  the one-step OmniHuman student: human.from an omnihuman run -> checkpoints/cd, apt_image_ema,
///          apt_video_ema and generator.safetensors (+ the teacher vs one-step evaluation for a study)
/// </code>
/// A path may name the run folder instead of the file (its product is taken), and a run-id segment
/// <c>latest</c> (results/demo-teacher/latest/...) stands for the newest run of that experiment.
/// </summary>
public static class ExperimentKinds
{
    public static readonly string[] Names = ["demo", "teacher", "distill", "apt", "apt-omniavatar", "compare", "sample", "omniavatar-finetune", "apt-wan",
        "omnihuman", "apt-omnihuman"];

    /// <summary>Resolves <paramref name="path"/> (config key <paramref name="key"/>) to an existing checkpoint file:
    /// <c>latest</c> segments and run folders (then the first of <paramref name="products"/> in checkpoints/).</summary>
    public static string ResolveCheckpoint(string path, string key, params string[] products)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException($"config key '{key}' must name a checkpoint (or the run folder that made it)");
        var resolved = ResolveLatest(path, key, products);
        if (File.Exists(resolved)) return resolved;
        if (Directory.Exists(resolved))
        {
            foreach (var p in products)
            {
                var f = Path.Combine(resolved, "checkpoints", p + ".safetensors");
                if (File.Exists(f)) return f;
            }
            throw new FileNotFoundException($"config key '{key}': run folder {Path.GetFullPath(resolved)} has none of " +
                string.Join(", ", products.Select(p => $"checkpoints/{p}.safetensors")) + " (did that run finish?)");
        }
        throw new FileNotFoundException($"config key '{key}': not found: {Path.GetFullPath(resolved)}", resolved);
    }

    /// <summary>Replaces each <c>latest</c> segment by the newest run folder (sibling, by its config.yaml) whose product
    /// exists: the rest of <paramref name="path"/> after the segment, or else one of <paramref name="products"/> in its
    /// checkpoints/ (products are written atomically at the end of a stage, so a failed or unfinished run has none).
    /// Without either to check, the newest run.</summary>
    public static string ResolveLatest(string path, string key, params string[] products)
    {
        var parts = path.Replace('\\', '/').Split('/');
        string acc = path.StartsWith('/') ? "/" : "";
        for (int i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part.Length == 0) continue;
            if (part == "latest" && !Directory.Exists(Path.Combine(acc, part)))
            {
                var parent = acc.Length == 0 ? "." : acc;
                var rest = parts.Skip(i + 1).Contains("latest") ? "" : string.Join('/', parts.Skip(i + 1).Where(p => p.Length > 0));
                bool hasProduct(string run) => rest.Length > 0 ? Path.Exists(Path.Combine(run, rest))
                    : products.Length == 0 || products.Any(p => File.Exists(Path.Combine(run, "checkpoints", p + ".safetensors")));
                var runs = (Directory.Exists(parent) ? Directory.GetDirectories(parent) : [])
                    .Where(r => File.Exists(Path.Combine(r, "config.yaml")))
                    .OrderByDescending(r => File.GetLastWriteTimeUtc(Path.Combine(r, "config.yaml"))).ThenByDescending(r => r, StringComparer.Ordinal)
                    .ToList();
                if (runs.Count == 0)
                    throw new DirectoryNotFoundException($"config key '{key}': no run under {Path.GetFullPath(parent)} to stand for 'latest' in {path}");
                var newest = runs.FirstOrDefault(hasProduct)
                    ?? throw new FileNotFoundException($"config key '{key}': no finished run stands for 'latest' in {path}: " +
                        Path.GetFullPath(Path.Combine(runs[0], rest.Length > 0 ? rest : Path.Combine("checkpoints", products[0] + ".safetensors"))) +
                        (rest.Length > 0 || products.Length == 1 ? "" : $" (or {string.Join(", ", products.Skip(1))})") +
                        $" does not exist (that run failed or is still running), nor in the {runs.Count - 1} older run(s)");
                part = Path.GetFileName(newest);
            }
            acc = acc.Length == 0 ? part : Path.Combine(acc, part);
        }
        return acc;
    }

    /// <summary>Resolves the kind's input paths in <paramref name="cfg"/> (so config.yaml records the concrete
    /// checkpoints) and adopts the architecture of the foundation it starts from, writing a warning line to
    /// <paramref name="warnings"/> for every value of the config this changes.</summary>
    public static void Prepare(ExperimentConfig cfg, TextWriter? warnings = null)
    {
        switch (cfg.Experiment)
        {
            case "distill":
                cfg.Distill.From = ResolveCheckpoint(cfg.Distill.From, "distill.from", StudyCheckpoints.Foundation);
                StudyCheckpoints.AdoptFoundationSpec(cfg, cfg.Distill.From, warnings);
                break;
            case "apt":
                cfg.Apt.Student = ResolveCheckpoint(cfg.Apt.Student, "apt.student", "cd", "apt_image_ema");
                cfg.Apt.Teacher = ResolveCheckpoint(cfg.Apt.Teacher, "apt.teacher", StudyCheckpoints.Foundation);
                StudyCheckpoints.AdoptFoundationSpec(cfg, cfg.Apt.Teacher, warnings);
                break;
            case "apt-wan":
                if (!string.IsNullOrWhiteSpace(cfg.Apt.Student))                                         // else the run distils its student
                    cfg.Apt.Student = ResolveCheckpoint(cfg.Apt.Student, "apt.student", "cd", "apt_image_ema");
                break;
            case "apt-omnihuman" when cfg.Human!.From.Length > 0:
                cfg.Human.From = Path.GetFullPath(ResolveLatest(cfg.Human.From, "human.from", Path.GetFileNameWithoutExtension(HumanModels.DitFile)));
                if (!File.Exists(Path.Combine(cfg.Human.From, "checkpoints", HumanModels.DitFile)))
                    throw new FileNotFoundException($"config key 'human.from': {cfg.Human.From} has no checkpoints/{HumanModels.DitFile} (did that omnihuman run finish?)");
                break;
            case "compare" or "sample":
                cfg.Compare.Foundation = ResolveCheckpoint(cfg.Compare.Foundation, "compare.foundation", StudyCheckpoints.Foundation);
                StudyCheckpoints.AdoptFoundationSpec(cfg, cfg.Compare.Foundation, warnings);
                if (cfg.Compare.Methods.Count == 0) throw new ArgumentException("config key 'compare.methods' lists nothing to sample");
                for (int i = 0; i < cfg.Compare.Methods.Count; i++)
                    if (!cfg.Compare.Methods[i].IsTeacher)
                        cfg.Compare.Methods[i].Model = ResolveCheckpoint(cfg.Compare.Methods[i].Model, $"compare.methods[{i}].model",
                            "apt_video_ema", "apt_image_ema", "cd");
                break;
        }
    }

    /// <summary>What `aptlab run` does: prepares <paramref name="cfg"/>, creates the run folder (rank 0; or opens
    /// <paramref name="resume"/>) with the resolved config.yaml, and runs the kind. Returns the run folder.</summary>
    /// <param name="allowConfigChange">a resumed run whose config differs from its recorded config.yaml is refused
    /// (naming the changed keys) unless this is set; then it continues with the new values, which config.yaml records
    /// (the changes are listed in config-changes.txt)</param>
    public static RunDirectory Launch(ExperimentConfig cfg, string? resume, string? runId, TextWriter output, ProcessGroup? group = null,
                                      bool allowConfigChange = false)
    {
        if (resume is not null) KeepRecordedInputs(cfg, Path.Combine(resume, "config.yaml"));
        Prepare(cfg, DistributedRun.IsMainProcess(group) ? output : null);
        // everything else the run needs, before its folder exists or a model is built (docs/reliability.md#3-errors)
        if (cfg.Experiment is "demo" or "apt" or "apt-wan" or "apt-omniavatar") AptStage.CheckWorldSize(cfg.Apt.WorldSize, group?.world_size ?? 1);
        var changes = resume is null ? [] : ChangesSinceRecorded(cfg, resume, allowConfigChange);
        RunDirectory? created = null;
        if (DistributedRun.IsMainProcess(group))
        {
            created = resume is not null ? RunDirectory.Open(resume) : RunDirectory.Create(cfg.Results, cfg.Name, runId);
            if (changes.Count > 0)
            {
                output.WriteLine($"[resume] continuing with {changes.Count} changed setting(s) (--allow-config-change): {string.Join("; ", changes)}");
                File.AppendAllText(created.File("config-changes.txt"),
                    $"{DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC, resumed with --allow-config-change:\n" + string.Concat(changes.Select(c => $"  {c}\n")));
                RunDirectory.WriteAtomic(created.ConfigFile, Config.ConfigLoader.ToYaml(cfg));
            }
            if (resume is null) RunDirectory.WriteAtomic(created.ConfigFile, Config.ConfigLoader.ToYaml(cfg));
            (output as ConsoleSession)?.LogTo(created.File("run.log"));              // what the console shows, from the start
        }
        // one folder for all ranks: rank 0's (a timestamped name could differ between processes)
        var run = group is null ? created! : RunDirectory.Open(DistributedRun.BroadcastString(group, created is null ? null : Path.GetFullPath(created.Root)));
        Run(cfg, run, output, group, resumed: resume is not null);
        if (DistributedRun.IsMainProcess(group)) Logging.RunHparams.Write(run.Root);   // TensorBoard's HParams tab
        return run;
    }

    /// <summary>The settings in which <paramref name="cfg"/> differs from the run's recorded config.yaml (the thread
    /// count and the results root aside); refused, naming each, unless <paramref name="allow"/>.</summary>
    private static IReadOnlyList<Config.ConfigChange> ChangesSinceRecorded(ExperimentConfig cfg, string resume, bool allow)
    {
        var recordedFile = Path.Combine(resume, "config.yaml");
        if (!File.Exists(recordedFile)) return [];                                  // RunDirectory.Open names what is missing
        var recorded = Config.ConfigLoader.Load<ExperimentConfig>(recordedFile);
        var changes = Config.ConfigDiff.Changes(recorded, cfg, ignore: ["threads", "results"]);
        if (changes.Count > 0 && !allow)
            throw new ArgumentException($"--resume {resume}: the config differs from the run's {recordedFile} in {changes.Count} setting(s): " +
                                        $"{string.Join("; ", changes)}. Resume with the recorded config, or pass --allow-config-change " +
                                        "to continue with the new values (config.yaml will record them)");
        return changes;
    }

    /// <summary>A resumed run continues from the inputs it started from: input paths given with <c>latest</c> are
    /// replaced by the concrete ones recorded in the run's config.yaml (a newer run may exist by now).</summary>
    private static void KeepRecordedInputs(ExperimentConfig cfg, string recordedConfig)
    {
        if (!File.Exists(recordedConfig)) return;
        var r = Config.ConfigLoader.Load<ExperimentConfig>(recordedConfig);
        static string Pick(string given, string recorded) =>
            given.Replace('\\', '/').Split('/').Contains("latest") && recorded.Length > 0 ? recorded : given;
        cfg.Distill.From = Pick(cfg.Distill.From, r.Distill.From);
        cfg.Apt.Teacher = Pick(cfg.Apt.Teacher, r.Apt.Teacher);
        cfg.Apt.Student = Pick(cfg.Apt.Student, r.Apt.Student);
        cfg.Compare.Foundation = Pick(cfg.Compare.Foundation, r.Compare.Foundation);
        if (cfg.Human is not null && r.Human is not null) cfg.Human.From = Pick(cfg.Human.From, r.Human.From);
        if (cfg.Compare.Methods.Count == r.Compare.Methods.Count)
            for (int i = 0; i < cfg.Compare.Methods.Count; i++)
                cfg.Compare.Methods[i].Model = Pick(cfg.Compare.Methods[i].Model, r.Compare.Methods[i].Model);
    }

    /// <summary>Runs the kind of <paramref name="cfg"/> (already prepared) into <paramref name="run"/>. A
    /// <paramref name="resumed"/> run first drops the leftovers of the interrupted attempt (<see cref="RunResume"/>).</summary>
    public static void Run(ExperimentConfig cfg, RunDirectory run, TextWriter output, ProcessGroup? group = null, bool resumed = false)
    {
        var resume = resumed && DistributedRun.IsMainProcess(group) ? RunResume.Prepare(run, output, Replicate.All(cfg)) : null;
        if (cfg.Experiment == "omniavatar-finetune")
        {
            AvatarFinetuneExperiment.Run(cfg, run, output, group, resumed, resume);
            return;
        }
        if (cfg.Experiment is "omnihuman" or "apt-omnihuman")
        {
            using var rc = new RunContext(cfg, run, output, resume, group);
            if (group is not null) rc.Out.WriteLine($"data-parallel: {group.world_size} ranks ({group.backend}); rank 0 writes {run.Root}");
            if (cfg.Experiment == "omnihuman") HumanExperiment.Run(rc, resumed);
            else HumanAptExperiment.Run(rc);
            return;
        }
        if (cfg.Experiment is "apt-wan" or "apt-omniavatar")
        {
            using var rc = new RunContext(cfg, run, output, resume, group);
            if (group is not null) rc.Out.WriteLine($"data-parallel: {group.world_size} ranks ({group.backend}); rank 0 writes {run.Root}");
            if (cfg.Experiment == "apt-omniavatar") AvatarAptExperiment.Run(rc);
            else WanAptExperiment.Run(rc);
            return;
        }
        using var ctx = new StudyContext(cfg, run, output, resume, group);
        if (group is not null) ctx.Out.WriteLine($"data-parallel: {group.world_size} ranks ({group.backend}); rank 0 writes {run.Root}");
        if (File.Exists(run.ConfigFile)) ctx.Log.Text(0, "config", "```yaml\n" + File.ReadAllText(run.ConfigFile) + "\n```");
        switch (cfg.Experiment)
        {
            case "demo": DemoExperiment.Run(ctx); break;
            case "teacher": StudyExperiments.Teacher(ctx); break;
            case "distill": StudyExperiments.Distill(ctx); break;
            case "apt": StudyExperiments.Apt(ctx); break;
            case "compare": StudyExperiments.Compare(ctx, scores: true); break;
            case "sample": StudyExperiments.Compare(ctx, scores: false); break;
            default: throw new ArgumentException($"experiment '{cfg.Experiment}' is not one of {string.Join(", ", Names)}");
        }
    }
}
