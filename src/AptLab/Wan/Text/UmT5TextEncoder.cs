namespace AptLab.Wan.Text;

/// <summary>
/// Prompt -> text context, as the official <c>T5EncoderModel</c>: tokenise to text_len, run the encoder, keep
/// each prompt's real rows (EOS included). <see cref="EncodePadded"/> gives DiffSynth's equivalent
/// [B, text_len, dim] with zeroed padding rows.
/// </summary>
public sealed class UmT5TextEncoder(UmT5Tokenizer tokenizer, T5Encoder encoder)
{
    public UmT5Tokenizer Tokenizer { get; } = tokenizer;
    public T5Encoder Encoder { get; } = encoder;

    /// <summary>One [L_b, dim] context per prompt, L_b = its token count including EOS.</summary>
    public Tensor[] Encode(IReadOnlyList<string> prompts)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var (hidden, mask) = Run(prompts);
        var rows = T5Encoder.TrimToLength(hidden, mask);
        foreach (var r in rows) scope.Keep(r);
        return rows;
    }

    /// <summary>[B, text_len, dim] with rows past each prompt's length set to zero.</summary>
    public Tensor EncodePadded(IReadOnlyList<string> prompts)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var (hidden, mask) = Run(prompts);
        return scope.Keep(T5Encoder.ZeroPadding(hidden, mask));
    }

    private (Tensor hidden, Tensor mask) Run(IReadOnlyList<string> prompts)
    {
        var (ids, mask) = Tokenizer.Tokenize(prompts);
        var dev = Encoder.token_embedding.weight.device;
        var hidden = Encoder.forward(ids.to(dev), mask.to(dev));   // [B, text_len, dim]
        return (hidden, mask.to(dev));
    }
}
