using AptLab.Torch.nn;

namespace AptLab.Wan.Text;

/// <summary>
/// Gated-GELU feed-forward: <c>fc2(fc1(x) * gelu_tanh(gate.0(x)))</c>. Keys: <c>gate.0.weight</c>
/// [dim_ffn, dim] (gate.1 is the parameter-free GELU), <c>fc1.weight</c> [dim_ffn, dim], <c>fc2.weight</c>
/// [dim, dim_ffn]; no biases.
/// </summary>
public sealed class T5FeedForward : Module<Tensor, Tensor>
{
    public readonly Sequential gate;
    public readonly Linear fc1, fc2;

    public T5FeedForward(int dim, int dim_ffn, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        gate = RegisterModule("gate", new Sequential(new Linear(dim, dim_ffn, bias: false, dtype, device), new GELU(tanh: true)));
        fc1 = RegisterModule("fc1", new Linear(dim, dim_ffn, bias: false, dtype, device));
        fc2 = RegisterModule("fc2", new Linear(dim_ffn, dim, bias: false, dtype, device));
    }

    public override Tensor forward(Tensor x)   // x: [B, L, dim]
    {
        using var scope = torch.NewScope();
        var h = fc1.forward(x) * gate.forward(x);   // [B, L, dim_ffn]
        return scope.Keep(fc2.forward(h));
    }
}
