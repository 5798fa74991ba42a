using AptLab.Wan.Text;
using AptLab.Torch.IO;

namespace AptLab.Experiments;

/// <summary>
/// Where a teacher's CFG negative prompt comes from (the apt kinds' consistency distillation, docs/consistency-distillation.md#one-training-step): a
/// precomputed umT5 context (<see cref="ContextFile"/>, a safetensors file with "context" [Lt, text_dim]), or the
/// prompt encoded once with the umT5 weights <see cref="TextEncoderPath"/> and the tokenizer
/// <see cref="TokenizerPath"/> (default: google/umt5-xxl beside the weights). <see cref="TinyTextLen"/> &gt; 0
/// encodes with a tiny random umT5 of that text length (seeded by the run's seed) instead of the weights.
/// <see cref="Key"/> is the config section the errors name.
/// </summary>
public sealed record NegativeSource(string Key, string Prompt, string ContextFile, string TextEncoderPath, string TokenizerPath,
    int TinyTextLen = 0);

public static class NegativeContext
{
    /// <summary>The negative prompt's context [1, Lt, text_dim] on the run's device in <paramref name="dtype"/>.</summary>
    /// <param name="tag">the log prefix (e.g. "apt-omniavatar")</param>
    public static Tensor Load(RunContext ctx, NegativeSource s, long textDim, ScalarType dtype, string tag)
    {
        using var scope = torch.NewScope();
        Tensor rows;                                                                           // [Lt, text_dim]
        string source;
        if (!string.IsNullOrWhiteSpace(s.ContextFile))
        {
            source = Path.GetFullPath(s.ContextFile);
            if (!File.Exists(source)) throw new FileNotFoundException($"{s.Key}.negative_context: not found: {source}", source);
            using var sd = Checkpoint.Load(source);
            rows = sd.TryGetValue("context", out var c) && c.dim() == 2 ? c.to(ScalarType.Float32).clone()
                : throw new InvalidDataException($"{source}: needs a \"context\" tensor [Lt, {textDim}] ({s.Key}.negative_context)");
        }
        else
        {
            bool random = s.TinyTextLen > 0;
            var tokPath = Path.GetFullPath(!string.IsNullOrWhiteSpace(s.TokenizerPath) ? s.TokenizerPath
                : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(s.TextEncoderPath))!, "google", "umt5-xxl"));
            using var tokenizer = new UmT5Tokenizer(tokPath, textLen: random ? s.TinyTextLen : 512);
            using var g = new Generator(ctx.Config.Seed + Seeds.TinyTextEncoder);
            using var t5 = random
                ? new T5Encoder(T5EncoderConfig.Tiny with { Vocab = Math.Max(tokenizer.VocabSize, 2), TextLen = s.TinyTextLen }, generator: g)
                : T5Encoder.FromCheckpoint(Path.GetFullPath(s.TextEncoderPath), T5EncoderConfig.UmT5Xxl, dtype);
            rows = new UmT5TextEncoder(tokenizer, t5).Encode([s.Prompt])[0].to(ScalarType.Float32);
            source = random ? "a tiny random umT5" : s.TextEncoderPath;
        }
        if (rows.size(1) != textDim)
            throw new InvalidDataException($"the negative context from {source} is [{string.Join(", ", rows.shape)}] but the DiT's text_dim is {textDim} ({s.Key})");
        ctx.Out.WriteLine($"[{tag}] negative prompt: {rows.size(0)} tokens from {source}");
        return scope.Keep(rows.unsqueeze(0).to(ctx.Device).to(dtype));
    }
}
