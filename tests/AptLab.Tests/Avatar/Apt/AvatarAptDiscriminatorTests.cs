using AptLab.Avatar;
using AptLab.Avatar.Apt;
using AptLab.Config;
using AptLab.Experiments;
using AptLab.Torch.IO;

namespace AptLab.Tests.Avatar.Apt;

/// <summary>docs/apt.md#discriminator for OmniAvatar: the discriminator's backbone is the original (audio- and
/// reference-conditioned) teacher, never the generator's start.</summary>
public class AvatarAptDiscriminatorTests
{
    [Fact]
    public void The_discriminator_backbone_is_the_teacher_even_when_the_student_starts_elsewhere()
    {
        using var _ = torch.NewScope();
        using var tmp = TestPaths.Temp();
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "apt-omniavatar-tiny.yaml")).Omniavatar!;
        using (var other = new OmniAvatarModel(cfg.Model.Architecture))
        {
            using var g = new Generator(99);
            AptLab.Torch.nn.init.nontrivial_(other, g);
            Safetensors.Save(tmp.File("student.safetensors"), other.state_dict());
        }
        cfg.Model.StudentInit = tmp.File("student.safetensors");
        using var models = AvatarAptModels.Build(cfg, Device.CPU, [], seed: 3);
        var teacher = models.Teacher.Module.state_dict();
        var student = models.Student.Module.state_dict();
        var backbone = models.Discriminator.Backbone.Module.state_dict();
        Assert.Equal(teacher.Keys.Order(), backbone.Keys.Order());
        double fromStudent = 0;
        foreach (var (k, t) in teacher)
        {
            Assert.True(backbone[k].eq(t).all().item<bool>(), $"{k}: D's backbone differs from the teacher");
            fromStudent = Math.Max(fromStudent, (backbone[k] - student[k]).abs().max().item<double>());
        }
        Assert.True(fromStudent > 0.1, $"the student (from {cfg.Model.StudentInit}) equals the teacher: the test cannot tell them apart");
        Assert.All(models.Discriminator.parameters(), p => Assert.True(p.requires_grad));       // all of D trains
    }
}
