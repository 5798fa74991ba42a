using AptLab.Torch.IO;
using AptLab.Apt;
using AptLab.Torch.nn;
using AptLab.Wan;

namespace AptLab.Avatar.Apt;

/// <summary>
/// The three networks of APT with an OmniAvatar teacher, built from an <see cref="AvatarAptConfig"/>:
/// <list type="bullet">
/// <item>teacher: OmniAvatar's DiT = Wan base weights smart-loaded into 33 input channels (docs/omniavatar.md#checkpoints) + LoRA
/// and audio modules from <c>exp_path/pytorch_model.pt</c> (6.3); the LoRA is then merged and removed, so the teacher
/// is a plain OmniAvatar network (frozen, eval). With <c>random_weights</c>: the tiny DiT with seeded random weights
/// and a seeded random LoRA, merged the same way;</item>
/// <item>student (APT generator): a full copy of the teacher (<see cref="OmniAvatarFlowModel.Copy"/>), or the weights
/// of <c>model.student_init</c> (e.g. the consistency-distilled generator); all parameters train;</item>
/// <item>discriminator: another full copy of the teacher (the original audio- and reference-conditioned network,
/// docs/apt.md#discriminator) with read-out heads after <c>apt.head_layers</c>; all parameters train.</item>
/// </list>
/// On <see cref="Device.Meta"/> nothing is read (shapes only: parameter counts, head placement, memory planning).
/// </summary>
public sealed class AvatarAptModels : IDisposable
{
    public required OmniAvatarFlowModel Teacher { get; init; }
    public required OmniAvatarFlowModel Student { get; init; }
    public required Discriminator Discriminator { get; init; }
    public IReadOnlyList<string> Log { get; init; } = [];

    public static AvatarAptModels Build(AvatarAptConfig cfg, Device device, IReadOnlyList<int> headLayers, ulong seed = 0)
    {
        var log = new List<string>();
        var teacher = BuildTeacher(cfg, device, seed, log);
        var student = BuildStudent(cfg, teacher, log);
        var backbone = (OmniAvatarFlowModel)teacher.Copy();
        Trainable(backbone, cfg.Model.GradientCheckpointing);
        var d = new Discriminator(backbone, headLayers.Count > 0 ? headLayers.ToArray() : null);
        log.Add($"discriminator: heads after blocks {string.Join(", ", d.Layers)}");
        return new AvatarAptModels { Teacher = teacher, Student = student, Discriminator = d, Log = log };
    }

    /// <summary>The frozen teacher (LoRA merged), its per-block checkpointing set as configured (copies inherit it).</summary>
    public static OmniAvatarFlowModel BuildTeacher(AvatarAptConfig cfg, Device device, ulong seed, List<string> log)
    {
        bool load = device.Type != DeviceType.Meta;
        var m = cfg.Model;
        var dit = new OmniAvatarModel(m.Architecture, cfg.ModelDtype, device);
        Lora lora;
        if (m.RandomWeights)
        {
            using var g = new Generator(seed);
            init.nontrivial_(dit, g);                                        // the training init would zero the audio branch and the head
            lora = Lora.Inject(dit, new LoraConfig(4, 2, InitLoraWeights: "random"), g);
            log.Add($"teacher: tiny random OmniAvatar (dim {m.Architecture.Wan.Dim}, {m.Architecture.Wan.NumLayers} blocks, seed {seed})");
        }
        else
        {
            if (load)
            {
                var shards = WanCheckpoint.ShardPaths(m.DitPath);
                var report = OmniAvatarWeights.LoadWanBase(dit, shards);
                var absent = report.Missing.Where(k => !OmniAvatarWeights.IsTrainedKey(k)).ToList();
                if (report.Skipped.Count > 0 || absent.Count > 0)
                    throw new InvalidDataException($"{m.DitPath}: not Wan weights for {m.Preset}: " +
                        $"{report.Skipped.Count} tensors of other shapes ({string.Join(", ", report.Skipped.Take(5))}), " +
                        $"{absent.Count} missing ({string.Join(", ", absent.Take(5))})");
                log.Add($"Wan base: {report}");
            }
            lora = Lora.Inject(dit, m.Lora);
            if (load) log.Add(OmniAvatarWeights.LoadOmniAvatar(dit, Path.Combine(Path.GetFullPath(m.ExpPath), "pytorch_model.pt"), lora).ToString());
        }
        foreach (var a in lora.Adapters.Values) a.Remove(merge: true);           // W + (alpha / r) B A, adapters freed
        log.Add($"teacher: LoRA ({lora.Adapters.Count} layers) merged into the base weights");
        dit.requires_grad_(false);
        dit.eval();
        dit.GradientCheckpointing = m.GradientCheckpointing;
        return new OmniAvatarFlowModel(dit);
    }

    /// <summary>The generator's start: a trainable copy of the teacher, with the weights of model.student_init if set.</summary>
    public static OmniAvatarFlowModel BuildStudent(AvatarAptConfig cfg, OmniAvatarFlowModel teacher, List<string> log)
    {
        var student = (OmniAvatarFlowModel)teacher.Copy();
        var p = student.Net.patch_embedding.weight;
        if (p.device.Type != DeviceType.Meta && !string.IsNullOrWhiteSpace(cfg.Model.StudentInit))
        {
            var path = Path.GetFullPath(cfg.Model.StudentInit);
            using var sd = Checkpoint.Load(path);
            student.Net.load_state_dict(sd, strict: true, source: path);
            log.Add($"student: {path}");
        }
        Trainable(student, cfg.Model.GradientCheckpointing);
        return student;
    }

    private static void Trainable(OmniAvatarFlowModel m, bool checkpointing)
    {
        m.Net.requires_grad_(true);
        m.Net.train();
        m.Net.GradientCheckpointing = checkpointing;
    }

    public void Dispose()
    {
        Discriminator.Dispose();
        Student.Dispose();
        Teacher.Dispose();
    }
}
