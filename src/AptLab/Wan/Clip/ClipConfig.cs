namespace AptLab.Wan.Clip;

/// <summary>
/// The whole CLIP model of a checkpoint (official <c>XLMRobertaCLIP</c>): the vision tower (<c>visual.*</c>, the only
/// part Wan runs), the text tower (<c>textual.*</c>, recognised and skipped) and the scalar <c>log_scale</c>. The
/// vision head and the text head share the embedding width (<c>embed_dim</c>).
/// </summary>
public sealed record ClipConfig(ClipVisionConfig Vision, ClipTextConfig Text)
{
    /// <summary>Key prefixes of the released checkpoint.</summary>
    public const string VisualPrefix = "visual.", TextualPrefix = "textual.", LogScaleKey = "log_scale";

    /// <summary><c>clip_xlm_roberta_vit_h_14</c>, the model of <c>models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth</c>
    /// (embed_dim 1024, ViT-H/14 at 224 px, XLM-RoBERTa-large).</summary>
    public static readonly ClipConfig XlmRobertaVitH14 = new(ClipVisionConfig.VitH14, ClipTextConfig.XlmRobertaLarge);

    /// <summary>Tiny vision and text towers (tests, the tiny sample preset).</summary>
    public static readonly ClipConfig Tiny = new(ClipVisionConfig.Tiny, ClipTextConfig.Tiny);

    public ClipConfig Validate(string source = "ClipConfig")
    {
        Vision.Validate(source + ".vision");
        Text.Validate(source + ".text");
        if (Vision.OutDim != Text.OutDim)
            throw new ArgumentException($"{source}: the vision out_dim {Vision.OutDim} and the text out_dim {Text.OutDim} must both be embed_dim");
        return this;
    }

    /// <summary>The keys of the checkpoint outside the vision tower, with their shapes: the text tower and
    /// <c>log_scale</c> (a 0-dim tensor).</summary>
    public IEnumerable<(string Key, long[] Shape)> NonVisualShapes() =>
        Text.StateDictShapes(TextualPrefix).Append((LogScaleKey, Array.Empty<long>()));
}
