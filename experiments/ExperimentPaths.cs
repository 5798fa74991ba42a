using AptLab.Config;

namespace AptLab.Experiments;

/// <summary>
/// The paths of an experiment config, settled before anything is written (README.md, "Relative paths"): a relative path is
/// relative to the <b>repository root</b> (the folder holding AptLab.sln above the config file; a config outside a
/// checkout: its own folder), wherever `aptlab` is started from. <see cref="Resolve"/> makes them absolute;
/// <see cref="CheckInputs"/> fails with one error naming the key and the file when an input does not exist, before
/// the run folder is created (the checkpoints a kind chains from are checked by <see cref="ExperimentKinds.Prepare"/>,
/// which also runs before it).
/// </summary>
public static class ExperimentPaths
{
    /// <summary>The folder relative paths of <paramref name="configFile"/> are resolved against.</summary>
    public static string BaseOf(string configFile)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(configFile))!;
        for (var d = new DirectoryInfo(dir); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "AptLab.sln"))) return d.FullName;
        return dir;
    }

    /// <summary>Every path key of <paramref name="cfg"/> made absolute against <paramref name="baseDir"/> (empty values
    /// stay empty: they mean "none").</summary>
    public static void Resolve(ExperimentConfig cfg, string baseDir)
    {
        string R(string p) => string.IsNullOrWhiteSpace(p) || Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(baseDir, p));
        string? Rn(string? p) => p is null ? null : R(p);
        cfg.Results = R(cfg.Results);
        cfg.Text.Tokenizer = R(cfg.Text.Tokenizer);
        cfg.Distill.From = R(cfg.Distill.From);
        cfg.Distill.TargetCache = R(cfg.Distill.TargetCache);
        cfg.Apt.Teacher = R(cfg.Apt.Teacher);
        cfg.Apt.Student = R(cfg.Apt.Student);
        cfg.Compare.Foundation = R(cfg.Compare.Foundation);
        foreach (var m in cfg.Compare.Methods) if (!m.IsTeacher) m.Model = R(m.Model);
        if (cfg.Wan is { } w)
        {
            (w.Checkpoint, w.ImageData, w.VideoData) = (R(w.Checkpoint), R(w.ImageData), R(w.VideoData));
            (w.NegativeContext, w.TextEncoderPath, w.TokenizerPath) = (R(w.NegativeContext), R(w.TextEncoderPath), R(w.TokenizerPath));
        }
        if (cfg.Avatar is { } a)
        {
            a.TokenizerPath = R(a.TokenizerPath);
            (a.DitPath, a.VaePath, a.TextEncoderPath, a.Wav2vecPath) = (Rn(a.DitPath), Rn(a.VaePath), Rn(a.TextEncoderPath), Rn(a.Wav2vecPath));
            (a.Data.Manifest, a.Data.Dir, a.Data.Cache) = (R(a.Data.Manifest), R(a.Data.Dir), R(a.Data.Cache));
        }
        if (cfg.Human is { } h)
        {
            var m = h.Model;
            (m.DitPath, m.Weights, m.VaePath, m.TextEncoderPath, m.TokenizerPath, m.Wav2vecPath) =
                (string.Join(",", m.DitPath.Split(',').Select(p => R(p.Trim()))), R(m.Weights), R(m.VaePath), R(m.TextEncoderPath), R(m.TokenizerPath), R(m.Wav2vecPath));
            (h.Data.Manifest, h.Data.Cache, h.From) = (R(h.Data.Manifest), R(h.Data.Cache), R(h.From));
        }
        if (cfg.Omniavatar is { } o)
        {
            (o.Model.DitPath, o.Model.ExpPath, o.Model.StudentInit) = (R(o.Model.DitPath), R(o.Model.ExpPath), R(o.Model.StudentInit));
            (o.Data.Cache, o.Data.TextEncoderPath, o.Data.TokenizerPath, o.Data.NegativeContext) =
                (R(o.Data.Cache), R(o.Data.TextEncoderPath), R(o.Data.TokenizerPath), R(o.Data.NegativeContext));
        }
    }

    /// <summary>Fails (a <see cref="ConfigException"/> naming the key and <paramref name="configFile"/>) when an input
    /// file the kind reads first is missing: the study kinds' tokenizer.</summary>
    public static void CheckInputs(ExperimentConfig cfg, string configFile)
    {
        bool study = cfg.Wan is null && cfg.Experiment is "demo" or "teacher" or "distill" or "apt" or "compare" or "sample";
        if (study && !File.Exists(cfg.Text.Tokenizer))
            throw ConfigException.For(configFile, "text.tokenizer", $"file not found: {cfg.Text.Tokenizer}");
    }
}
