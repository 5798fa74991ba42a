using System.Text.RegularExpressions;
using AptLab.Avatar;
using AptLab.Wan;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;
using AptLab.Tests.Avatar;
using AptLab.Torch.nn;

namespace AptLab.Tests.Engine;

/// <summary>PEFT LoRA on the OmniAvatar DiT (docs/omniavatar.md#lora) and loading OmniAvatar checkpoints (docs/omniavatar.md#checkpoints).</summary>
public class LoraTests(ITestOutputHelper log)
{
    private static (Tensor x, Tensor t, Tensor ctx, Tensor y, Tensor audio) Inputs(OmniAvatarConfig c, ulong seed)
    {
        using var g = new Generator(seed);
        return (torch.randn([1, 16, 2, 4, 4], generator: g), torch.tensor([700f], 1), torch.randn([1, 5, c.Wan.TextDim], generator: g),
            torch.randn([1, 17, 2, 4, 4], generator: g), torch.randn([1, 5, c.AudioInDim], generator: g));
    }

    private static void RandomizeB(Lora lora, ulong seed)
    {
        using var _ = torch.no_grad();
        using var g = new Generator(seed);
        foreach (var a in lora.Adapters.Values) a.lora_B.weight.normal_(0, 0.05, g);
    }

    [Fact]
    public void Injection_targets_init_and_peft_key_names()
    {
        using var _ = torch.NewScope();
        var c = AvatarTestUtil.Tiny;
        using var model = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(model, 1, c.Wan.Dim);
        var (x, t, ctx, y, audio) = Inputs(c, 2);
        Tensor before;
        using (torch.no_grad()) before = model.forward(x, t, ctx, y, audio);
        var baseKeys = model.state_dict().Keys.ToList();
        using var g = new Generator(3);
        var lora = Lora.Inject(model, new LoraConfig(Rank: 4, Alpha: 2), g);
        Assert.Equal(10 * c.Wan.NumLayers, lora.Adapters.Count);                    // q,k,v,o × 2 + ffn.0 + ffn.2 per block
        Assert.DoesNotContain(lora.Adapters.Keys, k => k.Contains("norm_q") || k.StartsWith("audio_") || k.StartsWith("time"));
        Assert.Equal(0.5, lora.Config.Scaling);
        // base keys unchanged, LoRA keys in PEFT's spelling
        var keys = model.state_dict().Keys.ToList();
        Assert.Equal(baseKeys, keys.Where(k => !Lora.IsLoraKey(k)));
        var loraKeys = Lora.StateDict(model).Keys.ToList();
        Assert.Equal(20 * c.Wan.NumLayers, loraKeys.Count);
        var peft = new Regex(@"^blocks\.\d+\.((self_attn|cross_attn)\.[qkvo]|ffn\.[02])\.lora_[AB]\.default\.weight$");
        Assert.All(loraKeys, k => Assert.Matches(peft, k));
        Assert.Contains("blocks.0.self_attn.q.lora_A.default.weight", loraKeys);
        Assert.Contains("blocks.5.ffn.2.lora_B.default.weight", loraKeys);
        // PEFT init: A ~ U(−1/√in, 1/√in), B = 0, so the adapter starts as a no-op
        var ffn2 = lora.Adapters["blocks.0.ffn.2"];
        Assert.Equal([4L, c.Wan.FfnDim], ffn2.lora_A.weight.shape);
        Assert.Equal([(long)c.Wan.Dim, 4L], ffn2.lora_B.weight.shape);
        double bound = 1 / Math.Sqrt(c.Wan.FfnDim), maxA = ffn2.lora_A.weight.abs().max().item<float>();
        Assert.True(maxA <= bound && maxA > 0.8 * bound, $"max |A| {maxA} vs 1/sqrt(in) {bound}");
        Assert.All(lora.Adapters.Values, a => Assert.Equal(0f, a.lora_B.weight.abs().max().item<float>()));
        using (torch.no_grad()) Assert.Equal(0.0, RelErr(model.forward(x, t, ctx, y, audio), before));
        // PEFT trainable set
        Lora.MarkOnlyLoraAsTrainable(model);
        Assert.All(model.named_parameters(), p => Assert.Equal(p.name.Contains("lora_"), p.parameter.requires_grad));
        // the real parameter counts of docs/omniavatar.md#lora (r · (in + out) summed over the 10 layers of each block)
        static long Count(WanConfig w, int r) => w.NumLayers * (8L * r * 2 * w.Dim + 2L * r * (w.Dim + w.FfnDim));
        Assert.Equal(174_981_120L, Count(WanConfig.T2V_1_3B, 128));
        Assert.Equal(613_416_960L, Count(WanConfig.T2V_14B, 128));
        Assert.Equal(Count(c.Wan, 4), lora.ParameterCount);
    }

    [Fact]
    public void Merged_and_unmerged_adapters_give_the_same_outputs()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        var c = AvatarTestUtil.Tiny;
        using var model = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(model, 4, c.Wan.Dim);
        var (x, t, ctx, y, audio) = Inputs(c, 5);
        var plain = model.forward(x, t, ctx, y, audio);
        var q0 = model.blocks[0].self_attn.q.weight.clone();
        using var g = new Generator(6);
        var lora = Lora.Inject(model, new LoraConfig(Rank: 8, Alpha: 4), g);
        RandomizeB(lora, 7);
        var unmerged = model.forward(x, t, ctx, y, audio);
        double effect = RelErr(unmerged, plain);
        lora.Merge();
        Assert.True(lora.Merged);
        var merged = model.forward(x, t, ctx, y, audio);
        // the merged weight is W + (alpha/r)·B·A
        var a = lora.Adapters["blocks.0.self_attn.q"];
        Assert.True(RelErr(model.blocks[0].self_attn.q.weight, q0 + a.lora_B.weight.matmul(a.lora_A.weight) * 0.5) < 1e-6);
        lora.Unmerge();
        var again = model.forward(x, t, ctx, y, audio);
        double mErr = RelErr(merged, unmerged), uErr = RelErr(again, unmerged), wErr = RelErr(model.blocks[0].self_attn.q.weight, q0);
        log.WriteLine($"LoRA effect {effect:E2}; merged vs unmerged {mErr:E2}; after unmerge {uErr:E2}; weight round trip {wErr:E2}");
        Assert.True(effect > 1e-2);
        Assert.True(mErr < 1e-5);
        Assert.True(uErr < 1e-5);
        Assert.True(wErr < 1e-6);
        // disabling the adapters gives the base model back exactly
        foreach (var ad in lora.Adapters.Values) ad.Enabled = false;
        Assert.True(RelErr(model.forward(x, t, ctx, y, audio), plain) < 1e-6);
    }

    [Theory]
    [InlineData("lora.safetensors")]
    [InlineData("lora.pt")]
    public void Saved_lora_weights_use_peft_names_and_load_back(string file)
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        var c = AvatarTestUtil.Tiny;
        using var dir = TestPaths.Temp();
        using var a = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(a, 8, c.Wan.Dim);
        var la = Lora.Inject(a, new LoraConfig(Rank: 4, Alpha: 8));
        RandomizeB(la, 9);
        Lora.Save(a, dir.File(file));
        using var sd = Checkpoint.Load(dir.File(file));
        Assert.Equal(Lora.StateDict(a).Keys.OrderBy(k => k), sd.Keys.OrderBy(k => k));
        Assert.All(sd.Keys, k => Assert.Matches(@"\.lora_[AB]\.default\.weight$", k));

        using var b = new OmniAvatarModel(c);
        b.load_state_dict(a.state_dict().Where(kv => !Lora.IsLoraKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
        var lb = Lora.Inject(b, new LoraConfig(Rank: 4, Alpha: 8));
        lb.Load(sd, file);
        var (x, t, ctx, y, audio) = Inputs(c, 10);
        Assert.Equal(0.0, RelErr(b.forward(x, t, ctx, y, audio), a.forward(x, t, ctx, y, audio)));
        // a rank mismatch is named
        using var wrong = new OmniAvatarModel(c);
        var lw = Lora.Inject(wrong, new LoraConfig(Rank: 2, Alpha: 8));
        var e = Assert.Throws<InvalidDataException>(() => lw.Load(sd, file));
        Assert.Contains("rank 2", e.Message);
    }

    [Fact]
    public void An_omniavatar_checkpoint_loads_over_wan_weights_and_reports_keys()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        var c = AvatarTestUtil.Tiny;
        using var dir = TestPaths.Temp();
        // "released" model: Wan base + trained patch embedding, audio modules and LoRA
        using var trained = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(trained, 12, c.Wan.Dim);
        var lt = Lora.Inject(trained, new LoraConfig(Rank: 4, Alpha: 2));
        RandomizeB(lt, 13);
        var baseState = trained.state_dict().Where(kv => !OmniAvatarWeights.IsTrainedKey(kv.Key) || kv.Key == "patch_embedding.bias")
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        baseState["patch_embedding.weight"] = trained.patch_embedding.weight.narrow(1, 0, 16).contiguous();   // Wan's 16 channels
        Checkpoint.Save(dir.File("diffusion_pytorch_model.safetensors"), baseState);
        var exp = trained.state_dict().Where(kv => OmniAvatarWeights.IsTrainedKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        exp["pipe.extra_step_counter"] = torch.zeros(1);
        Checkpoint.Save(dir.File("pytorch_model.pt"), exp);

        // inference.py's order: model, smart-load Wan, inject LoRA, load pytorch_model.pt non-strictly
        using var model = new OmniAvatarModel(c);
        var baseReport = OmniAvatarWeights.LoadWanBase(model, [dir.File("diffusion_pytorch_model.safetensors")]);
        Assert.Equal(["patch_embedding.weight"], baseReport.CornerCopied);
        var lora = Lora.Inject(model, new LoraConfig(Rank: 4, Alpha: 2));
        var report = OmniAvatarWeights.LoadOmniAvatar(model, dir.File("pytorch_model.pt"), lora);
        log.WriteLine(report.ToString());
        Assert.Equal(["pipe.extra_step_counter"], report.Unexpected);
        Assert.Equal(exp.Count - 1, report.Consumed.Count);
        var (x, t, ctx, y, audio) = Inputs(c, 14);
        Assert.Equal(0.0, RelErr(model.forward(x, t, ctx, y, audio), trained.forward(x, t, ctx, y, audio)));

        // a file without one of the trained tensors is refused, naming it
        exp.Remove("audio_cond_projs.1.bias");
        Checkpoint.Save(dir.File("broken.pt"), exp);
        var e = Assert.Throws<InvalidDataException>(() => OmniAvatarWeights.LoadOmniAvatar(model, dir.File("broken.pt"), lora));
        Assert.Contains("audio_cond_projs.1.bias", e.Message);
    }
}
