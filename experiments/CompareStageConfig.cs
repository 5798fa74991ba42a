using AptLab.Config;

namespace AptLab.Experiments;

/// <summary>
/// The comparison (and the sample kind): methods sampled from the same noise and prompts. In the demo the methods
/// are the teacher at <see cref="TeacherSteps"/> and the study's students; the compare and sample kinds take
/// <see cref="Foundation"/> (VAE + text encoder + teacher) and the listed <see cref="Methods"/>.
/// </summary>
public sealed class CompareStageConfig : IValidatable
{
    /// <summary>Generated samples per method for the metrics.</summary>
    public int Samples { get; set; } = 256;
    /// <summary>Prompts (columns) in the comparison sheets.</summary>
    public int SheetPrompts { get; set; } = 8;
    /// <summary>demo: teacher step counts (with the teacher's CFG).</summary>
    public List<int> TeacherSteps { get; set; } = [25];
    /// <summary>compare/sample kinds: the foundation checkpoint (or teacher run folder) holding VAE, text encoder, teacher.</summary>
    public string Foundation { get; set; } = "";
    /// <summary>compare/sample kinds: what to sample.</summary>
    public List<CompareMethodConfig> Methods { get; set; } = [];
    /// <summary>Prompts to sample (cycled to <see cref="Samples"/>); empty = the held-out captions of the data.</summary>
    public List<string> Prompts { get; set; } = [];
    /// <summary>Compare clips too (when the data has videos).</summary>
    public bool Video { get; set; } = true;

    public void Validate(string key, string? file)
    {
        if (Samples < 2 || SheetPrompts < 1) throw ConfigException.For(file, key, "samples >= 2 and sheet_prompts >= 1 required");
        if (TeacherSteps.Any(s => s < 1)) throw ConfigException.For(file, key + ".teacher_steps", "step counts must be >= 1");
        var dup = Methods.GroupBy(m => m.DisplayName).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw ConfigException.For(file, key + ".methods", $"two methods are named '{dup.Key}'");
    }
}

/// <summary>
/// One sampled method: <c>model: teacher</c> samples the foundation's teacher with Euler steps and CFG
/// (<c>guidance</c>, <c>shift</c>: default the teacher's); any other <c>model</c> is a student checkpoint (a CD or APT
/// generator, or its run folder) sampled in one step, or in two (docs/apt.md#two-step-inference: re-noised at t_m = shift(0.5, shift),
/// default shift 12).
/// </summary>
public sealed class CompareMethodConfig : IValidatable
{
    public string Name { get; set; } = "";
    public string Model { get; set; } = "teacher";
    public int Steps { get; set; } = 1;
    /// <summary>CFG scale of the teacher (0 = the teacher config's).</summary>
    public double Guidance { get; set; } = 0;
    /// <summary>Teacher: sampling shift; student two-step: the shift of t_m (0 = default).</summary>
    public double Shift { get; set; } = 0;

    [YamlDotNet.Serialization.YamlIgnore]
    public bool IsTeacher => Model == "teacher";

    [YamlDotNet.Serialization.YamlIgnore]
    public string DisplayName => Name.Length > 0 ? Name
        : IsTeacher ? $"teacher {Steps} steps" + (Guidance > 0 ? $" CFG {Guidance:G4}" : "")
        : $"{Path.GetFileNameWithoutExtension(Model)} {Steps} step{(Steps == 1 ? "" : "s")}";

    public void Validate(string key, string? file)
    {
        if (string.IsNullOrWhiteSpace(Model)) throw ConfigException.For(file, key + ".model", "must be 'teacher' or a checkpoint path");
        if (Steps < 1) throw ConfigException.For(file, key + ".steps", "must be >= 1");
        if (!IsTeacher && Steps > 2)
            throw ConfigException.For(file, key + ".steps", $"a one-step student samples in 1 or 2 steps (docs/apt.md#two-step-inference), not {Steps}");
        if (Guidance < 0 || Shift < 0) throw ConfigException.For(file, key, "guidance and shift must be >= 0 (0 = default)");
    }
}
