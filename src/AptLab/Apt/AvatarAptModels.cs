using AptLab.Models.Avatar;
using AptLab.Torch.IO;

namespace AptLab.Apt;

/// <summary>
/// The three networks of APT with an OmniAvatar teacher, built from an <see cref="AvatarAptConfig"/>:
/// <list type="bullet">
/// <item>teacher: OmniAvatar's DiT = Wan base weights smart-loaded into 33 input channels (omniavatar.md 7.4) + LoRA
/// and audio modules from <c>exp_path/pytorch_model.pt</c> (6.3); the LoRA is then merged and removed, so the teacher
/// is a plain OmniAvatar network (frozen, eval);</item>
/// <item>student (APT generator): a full copy of the teacher (<see cref="OmniAvatarFlowModel.Copy"/>), or the weights
/// of <c>model.student_init</c> (e.g. the consistency-distilled generator); all parameters train;</item>
/// <item>discriminator: another full copy of the teacher (the original audio- and reference-conditioned network,
/// apt.md 5.2) with read-out heads after <c>apt.head_layers</c>; all parameters train.</item>
/// </list>
/// On <see cref="Device.Meta"/> nothing is read (shapes only: parameter counts, head placement, memory planning).
/// </summary>
public sealed class AvatarAptModels : IDisposable
{
    public required OmniAvatarFlowModel Teacher { get; init; }
    public required OmniAvatarFlowModel Student { get; init; }
    public required Discriminator Discriminator { get; init; }
    public IReadOnlyList<string> Log { get; init; } = [];

    public static AvatarAptModels Build(AvatarAptConfig cfg, Device? on = null)
    {
        var device = on ?? Device.Parse(cfg.Device);
        bool load = device.Type != DeviceType.Meta;
        var m = cfg.Model;
        var log = new List<string>();
        var dit = new OmniAvatarModel(m.Architecture, cfg.ModelDtype, device);
        if (load)
        {
            if (string.IsNullOrWhiteSpace(m.DitPath)) throw new Config.ConfigException("model.dit_path is empty (Wan 2.1 T2V safetensors)");
            var shards = m.DitPath.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Path.GetFullPath).ToList();
            var report = OmniAvatarWeights.LoadWanBase(dit, shards);
            var absent = report.Missing.Where(k => !OmniAvatarWeights.IsTrainedKey(k)).ToList();
            if (report.Skipped.Count > 0 || absent.Count > 0)
                throw new InvalidDataException($"{m.DitPath}: not Wan weights for {m.Preset}: " +
                    $"{report.Skipped.Count} tensors of other shapes ({string.Join(", ", report.Skipped.Take(5))}), " +
                    $"{absent.Count} missing ({string.Join(", ", absent.Take(5))})");
            log.Add($"Wan base: {report}");
        }
        var lora = Lora.Inject(dit, m.Lora);
        if (load)
        {
            if (string.IsNullOrWhiteSpace(m.ExpPath)) throw new Config.ConfigException("model.exp_path is empty (folder of OmniAvatar's pytorch_model.pt)");
            log.Add(OmniAvatarWeights.LoadOmniAvatar(dit, Path.Combine(Path.GetFullPath(m.ExpPath), "pytorch_model.pt"), lora).ToString());
        }
        foreach (var a in lora.Adapters.Values) a.Remove(merge: true);           // W + (alpha / r) B A, adapters freed
        log.Add($"teacher: LoRA (rank {m.LoraRank}, alpha {m.LoraAlpha}, {lora.Adapters.Count} layers) merged into the base weights");
        dit.requires_grad_(false);
        dit.eval();
        var teacher = new OmniAvatarFlowModel(dit);

        var student = (OmniAvatarFlowModel)teacher.Copy();
        if (load && !string.IsNullOrWhiteSpace(m.StudentInit))
        {
            var path = Path.GetFullPath(m.StudentInit);
            using var sd = Checkpoint.Load(path);
            student.Net.load_state_dict(sd, strict: true, source: path);
            log.Add($"student: {path}");
        }
        var backbone = (OmniAvatarFlowModel)teacher.Copy();
        foreach (var net in new[] { student.Net, backbone.Net })
        {
            net.requires_grad_(true);
            net.train();
            net.GradientCheckpointing = m.GradientCheckpointing;
        }
        var d = new Discriminator(backbone, cfg.Apt.HeadLayers.Count > 0 ? cfg.Apt.HeadLayers.ToArray() : null);
        log.Add($"discriminator: heads after blocks {string.Join(", ", d.Layers)}");
        return new AvatarAptModels { Teacher = teacher, Student = student, Discriminator = d, Log = log };
    }

    public void Dispose()
    {
        Discriminator.Dispose();
        Student.Dispose();
        Teacher.Dispose();
    }
}
