using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Torch.nn;
using AptLab.Wan.Clip;

namespace AptLab.Wan.Pipelines;

/// <summary>
/// The tiny random-weight Wan 2.1 models of <c>model: tiny</c>: a DiT (t2v or i2v), the tiny VAE (dim 8, every
/// code path) and a small umT5 whose vocabulary is the tokenizer's. Every parameter is drawn from one seeded
/// generator by <see cref="init.nontrivial_"/> (weights N(0, 1/fan_in), biases U(−0.1, 0.1), norm scales U(0.75, 1.25),
/// modulation N(0, 1)/√dim), so no path is zero and the same seed gives the same models.
/// </summary>
public static class TinyWan
{
    public static WanConfig DitConfig(TinyModelConfig t, bool i2v, int zDim = 16) => new WanConfig
    {
        ModelType = i2v ? "i2v" : "t2v",
        InDim = i2v ? 2 * zDim + 4 : zDim, OutDim = zDim,
        Dim = t.Dim, FfnDim = t.FfnDim, FreqDim = 32, NumHeads = t.NumHeads, NumLayers = t.NumLayers,
        TextDim = t.TextDim, TextLen = t.TextLen, ClipDim = t.ClipDim,
    }.Validate("tiny");

    public static WanVaeConfig VaeConfig(TinyModelConfig t) => WanVaeConfig.Tiny with { Dim = t.VaeDim };

    public static T5EncoderConfig TextConfig(TinyModelConfig t, int vocab) =>
        new() { Vocab = vocab, Dim = t.TextDim, DimAttn = t.TextDim, DimFfn = 2 * t.TextDim, NumHeads = 2, NumLayers = 1, TextLen = t.TextLen };

    /// <summary>Builds the three models with weights drawn from <see cref="TinyModelConfig.Seed"/>.</summary>
    public static (WanModel dit, WanVAE vae, UmT5TextEncoder text) Build(TinyModelConfig t, bool i2v, string tokenizerPath)
    {
        var tokenizer = new UmT5Tokenizer(tokenizerPath, t.TextLen);
        var encoder = new T5Encoder(TextConfig(t, tokenizer.VocabSize));
        var vae = new WanVAE(VaeConfig(t));
        var dit = new WanModel(DitConfig(t, i2v, vae.config.ZDim));
        using var g = new Generator(t.Seed);
        init.nontrivial_(dit, g);
        init.nontrivial_(vae, g);
        init.nontrivial_(encoder, g);
        dit.eval(); vae.eval(); encoder.eval();
        return (dit, vae, new UmT5TextEncoder(tokenizer, encoder));
    }

    /// <summary>The tiny CLIP image encoder of the I2V preset: <see cref="ClipVisionConfig.Tiny"/> with width
    /// <see cref="TinyModelConfig.ClipDim"/>, drawn from its own generator seeded with <see cref="TinyModelConfig.Seed"/>
    /// (the bare class token, position table and head ~ N(0, 1)/√dim, as the reference case draws them).</summary>
    public static ClipImageEncoder BuildClip(TinyModelConfig t)
    {
        var clip = new ClipImageEncoder(ClipVisionConfig.Tiny with { Dim = t.ClipDim });
        using var g = new Generator(t.Seed);
        init.nontrivial_(clip, g);
        using (torch.no_grad())
            foreach (var p in new[] { clip.visual.cls_embedding, clip.visual.pos_embedding, clip.visual.head })
                p.normal_(0, 1 / Math.Sqrt(t.ClipDim), g);
        clip.eval();
        return clip;
    }

}
