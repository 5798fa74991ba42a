using AptLab.Torch.nn;

namespace AptLab.Avatar.Audio;

/// <summary>
/// HF <c>Wav2Vec2Attention</c> without a mask: q, k, v, out projections <c>Linear(hidden, hidden)</c> with bias,
/// <c>softmax(q kᵀ / √head_dim) v</c> per head. Keys in the checkpoint's order: <c>k_proj, v_proj, q_proj, out_proj</c>.
/// </summary>
public sealed class Wav2Vec2Attention : Module<Tensor, Tensor>
{
    public readonly Linear k_proj, v_proj, q_proj, out_proj;
    private readonly int numHeads, headDim;

    public Wav2Vec2Attention(int hidden, int numHeads)
    {
        (this.numHeads, headDim) = (numHeads, hidden / numHeads);
        k_proj = RegisterModule("k_proj", new Linear(hidden, hidden));
        v_proj = RegisterModule("v_proj", new Linear(hidden, hidden));
        q_proj = RegisterModule("q_proj", new Linear(hidden, hidden));
        out_proj = RegisterModule("out_proj", new Linear(hidden, hidden));
    }

    public override Tensor forward(Tensor x)                  // x: [B, T, hidden]
    {
        using var scope = torch.NewScope();
        long b = x.size(0), t = x.size(1);
        Tensor Heads(Linear proj) => proj.forward(x).view(b, t, numHeads, headDim).transpose(1, 2);  // [B, heads, T, hd]
        var o = F.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj), scale: 1 / Math.Sqrt(headDim));
        return scope.Keep(out_proj.forward(o.transpose(1, 2).reshape(b, t, numHeads * headDim)));
    }
}

/// <summary>HF <c>Wav2Vec2FeedForward</c>: <c>output_dense(GELU(intermediate_dense(x)))</c>.</summary>
public sealed class Wav2Vec2FeedForward : Module<Tensor, Tensor>
{
    public readonly Linear intermediate_dense, output_dense;

    public Wav2Vec2FeedForward(int hidden, int intermediate)
    {
        intermediate_dense = RegisterModule("intermediate_dense", new Linear(hidden, intermediate));
        output_dense = RegisterModule("output_dense", new Linear(intermediate, hidden));
    }

    public override Tensor forward(Tensor x)                  // x: [B, T, hidden] -> [B, T, hidden]
    {
        using var scope = torch.NewScope();
        return scope.Keep(output_dense.forward(F.gelu(intermediate_dense.forward(x))));
    }
}

/// <summary>
/// HF <c>Wav2Vec2EncoderLayer</c>, the post-LN layer of wav2vec2-base (<c>do_stable_layer_norm = false</c>):
/// <c>h = layer_norm(x + attention(x))</c>, then <c>h = final_layer_norm(h + feed_forward(h))</c>.
/// </summary>
public sealed class Wav2Vec2EncoderLayer : Module<Tensor, Tensor>
{
    public readonly Wav2Vec2Attention attention;
    public readonly LayerNorm layer_norm;
    public readonly Wav2Vec2FeedForward feed_forward;
    public readonly LayerNorm final_layer_norm;

    public Wav2Vec2EncoderLayer(Wav2Vec2Config c)
    {
        attention = RegisterModule("attention", new Wav2Vec2Attention(c.hidden_size, c.num_attention_heads));
        layer_norm = RegisterModule("layer_norm", new LayerNorm([c.hidden_size], c.layer_norm_eps));
        feed_forward = RegisterModule("feed_forward", new Wav2Vec2FeedForward(c.hidden_size, c.intermediate_size));
        final_layer_norm = RegisterModule("final_layer_norm", new LayerNorm([c.hidden_size], c.layer_norm_eps));
    }

    public override Tensor forward(Tensor x)                  // x: [B, T, hidden] -> [B, T, hidden]
    {
        using var scope = torch.NewScope();
        var h = layer_norm.forward(x + attention.forward(x));
        return scope.Keep(final_layer_norm.forward(h + feed_forward.forward(h)));
    }
}
