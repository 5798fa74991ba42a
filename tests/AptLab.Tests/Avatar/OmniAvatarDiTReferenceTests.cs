using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Avatar;

/// <summary>OmniAvatar's WanModel with audio (shared/reference omniavatar_dit), on the full tensors:
/// ||out − ref|| / ||ref|| &lt; 1e-4 for the output and every intermediate.</summary>
public class OmniAvatarDiTReferenceTests(ITestOutputHelper log)
{
    private const double Tol = 1e-4;

    private void Check(string name, Tensor got, Tensor expected)
    {
        double err = RelErr(got, expected);
        log.WriteLine($"{name}: rel err {err:E2}");
        Assert.True(err < Tol, $"{name}: relative error {err:E3} exceeds {Tol:E0}");
    }

    [Fact]
    public void Matches_official_output_and_intermediates()
    {
        using var _ = torch.NewScope();
        using var model = AvatarTestUtil.LoadCaseModel();
        using var io = Checkpoint.Load(TestPaths.ReferenceFile("omniavatar_dit.io.safetensors"));
        using var ng = torch.no_grad();
        var audio = io["audio_emb"];                                             // [1, 13, 10752]
        var cond = model.AudioConditioning(audio);                               // [1, 2, 4, 128]
        var result = model.forward_with_audio_terms(io["x"], io["timestep"], io["context"], io["y"], cond, returnHiddenAfter: [1, 2, 3]);
        Check("out", result.Output, io["out"]);
        Check("dbg.block1_out", result.Hidden[0], io["dbg.block1_out"]);
        Check("dbg.block2_out", result.Hidden[1], io["dbg.block2_out"]);
        Check("dbg.block3_out", result.Hidden[2], io["dbg.block3_out"]);
        Check("dbg.audio_proj", model.audio_proj.forward(audio), io["dbg.audio_proj"].reshape(1, 4, 8));
        Check("dbg.audio_cond_proj0", cond.select(1, 0), io["dbg.audio_cond_proj0"].reshape(1, 4, 128));
        Check("dbg.audio_cond_proj1", cond.select(1, 1), io["dbg.audio_cond_proj1"].reshape(1, 4, 128));
        var (e, _) = model.wan.TimeEmbedding(io["timestep"], 1);
        Check("dbg.time_embedding_t", e, io["dbg.time_embedding_t"]);
        Check("dbg.text_embedding", model.wan.EmbedContext(io["context"], null), io["dbg.text_embedding"]);
        // the one-call API gives the same tensor
        Assert.Equal(0.0, RelErr(model.forward(io["x"], io["timestep"], io["context"], io["y"], audio), result.Output));
    }

    [Fact]
    public void The_audio_changes_the_output_and_zero_audio_is_not_a_zero_injection()
    {
        using var _ = torch.NewScope();
        using var model = AvatarTestUtil.LoadCaseModel();
        using var io = Checkpoint.Load(TestPaths.ReferenceFile("omniavatar_dit.io.safetensors"));
        using var ng = torch.no_grad();
        var withAudio = model.forward(io["x"], io["timestep"], io["context"], io["y"], io["audio_emb"]);
        var zeroAudio = model.forward(io["x"], io["timestep"], io["context"], io["y"], torch.zeros_like(io["audio_emb"]));
        var noBranch = model.forward(io["x"], io["timestep"], io["context"], io["y"], null);
        double dAudio = RelErr(zeroAudio, withAudio), dZero = RelErr(noBranch, zeroAudio);
        log.WriteLine($"audio vs zero audio {dAudio:E2}; zero audio vs no audio branch {dZero:E2}");
        Assert.True(dAudio > 1e-3);
        Assert.True(dZero > 1e-3);   // LayerNorm(proj bias) is a fixed non-zero vector (docs/omniavatar.md#audio-injection)
    }
}
