using AptLab.Avatar.Training;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Avatar;

/// <summary>OmniAvatar's WanModel with audio (reference case omniavatar_dit), on the full tensors: ||out − ref|| / ||ref||
/// &lt; 1e-4 for the output and every intermediate. The config, the audio frames and the blocks whose outputs are stored
/// come from the case.</summary>
public class OmniAvatarDiTReferenceTests(ITestOutputHelper log)
{
    [Fact]
    public void Matches_official_output_and_intermediates()
    {
        using var _ = torch.NewScope();
        using var rc = ReferenceCase.Open("omniavatar_dit", log);
        using var model = AvatarTestUtil.LoadCaseModel(rc);
        using var ng = torch.no_grad();
        var x = rc.Input("x");
        var timestep = rc.Input("timestep");
        var context = rc.Input("context");
        var y = rc.Input("y");
        var audio = rc.Input("audio_emb");                                       // [1, audio frames, audio features]
        var cond = model.AudioConditioning(audio);                               // [1, projections, latent frames, dim]
        int[] all = Enumerable.Range(0, model.config.Wan.NumLayers).ToArray();
        var result = model.forward_with_audio_terms(x, timestep, context, y, cond, returnHiddenAfter: all);
        rc.Check("out", result.Output);
        var blocks = rc.Indexed(@"dbg\.block(\d+)_out");
        Assert.NotEmpty(blocks);
        foreach (var (name, i) in blocks) rc.Check(name, result.Hidden[i]);
        rc.Check("dbg.audio_proj", model.audio_proj.forward(audio).reshape(rc.Io["dbg.audio_proj"].shape));
        var projs = rc.Indexed(@"dbg\.audio_cond_proj(\d+)");
        Assert.Equal(model.config.NumAudioProjections, projs.Count);
        foreach (var (name, i) in projs) rc.Check(name, cond.select(1, i).reshape(rc.Io[name].shape));
        var (e, _) = model.wan.TimeEmbedding(timestep, 1);
        rc.Check("dbg.time_embedding_t", e);
        rc.Check("dbg.text_embedding", model.wan.EmbedContext(context, null));
        // y = the reference latent at every latent frame, then the mask channel (0 on the known first frames)
        long frames = x.size(2), known = (long)(1 - y.select(1, y.size(1) - 1).amax([0, 2, 3])).sum().item<double>();
        rc.CheckExact("ref_latent", y.narrow(2, 0, 1).narrow(1, 0, rc.Io["ref_latent"].size(1)));
        TensorAssert.Close(AvatarFlowMatchingLoss.BuildY(rc.Io["ref_latent"], frames, [(int)known]), y, atol: 0);
        // the one-call API gives the same tensor
        Assert.Equal(0.0, RelErr(model.forward(x, timestep, context, y, audio), result.Output));
        rc.AssertAllAccountedFor();
    }

    [Fact]
    public void The_audio_changes_the_output_and_zero_audio_is_not_a_zero_injection()
    {
        using var _ = torch.NewScope();
        using var rc = ReferenceCase.Open("omniavatar_dit", log);
        using var model = AvatarTestUtil.LoadCaseModel(rc);
        using var ng = torch.no_grad();
        var io = rc.Io;
        var withAudio = model.forward(io["x"], io["timestep"], io["context"], io["y"], io["audio_emb"]);
        var zeroAudio = model.forward(io["x"], io["timestep"], io["context"], io["y"], torch.zeros_like(io["audio_emb"]));
        var noBranch = model.forward(io["x"], io["timestep"], io["context"], io["y"], null);
        double dAudio = RelErr(zeroAudio, withAudio), dZero = RelErr(noBranch, zeroAudio);
        log.WriteLine($"audio vs zero audio {dAudio:E2}; zero audio vs no audio branch {dZero:E2}");
        Assert.True(dAudio > 1e-3);
        Assert.True(dZero > 1e-3);   // LayerNorm(proj bias) is a fixed non-zero vector (docs/omniavatar.md#audio-injection)
    }
}
