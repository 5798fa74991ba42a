
namespace AptLab.Torch.nn;

/// <summary>
/// One PEFT LoRA adapter on a <see cref="Linear"/> (docs/omniavatar.md#lora):
/// <c>y = W x + b + (alpha / r) · B(A(x))</c> with <c>A: Linear(in → r)</c>, <c>B: Linear(r → out)</c>, no biases.
/// A and B are registered on the base layer as <c>lora_A.default</c> and <c>lora_B.default</c>, so their state-dict
/// keys are PEFT's (<c>blocks.0.self_attn.q.lora_A.default.weight</c>) while the base weight keeps its checkpoint
/// name (<c>blocks.0.self_attn.q.weight</c>). The input is cast to A's dtype and the sum back to the base output's.
/// </summary>
public sealed class LoraLinear : ILinearAdapter
{
    public const string AdapterName = "default";

    public Linear Base { get; }
    public Linear lora_A { get; }        // weight [r, in]
    public Linear lora_B { get; }        // weight [out, r]
    public double Scaling { get; }
    /// <summary>True while B·A·scaling is folded into the base weight (the adapter then adds nothing).</summary>
    public bool Merged { get; private set; }
    /// <summary>False disables the adapter without removing it (the base layer alone).</summary>
    public bool Enabled { get; set; } = true;

    private LoraLinear(Linear baseLayer, Linear a, Linear b, double scaling) =>
        (Base, lora_A, lora_B, Scaling) = (baseLayer, a, b, scaling);

    /// <summary>Creates A and B with the config's init, registers them on <paramref name="layer"/> and attaches the adapter.</summary>
    public static LoraLinear Attach(Linear layer, LoraConfig config, Generator? generator = null)
    {
        if (layer.adapter is not null) throw new InvalidOperationException("LoRA: the layer already has an adapter");
        var w = layer.weight;
        var a = new Linear(layer.in_features, config.Rank, bias: false, dtype: w.dtype, device: w.device);
        var b = new Linear(config.Rank, layer.out_features, bias: false, dtype: w.dtype, device: w.device);
        using (torch.no_grad())
        {
            switch (config.InitLoraWeights)
            {
                case "gaussian":
                    init.normal_(a.weight, 0, 1.0 / config.Rank, generator);
                    init.zeros_(b.weight);
                    break;
                case "random":
                    init.kaiming_uniform_(a.weight, a: Math.Sqrt(5), g: generator);
                    init.kaiming_uniform_(b.weight, a: Math.Sqrt(5), g: generator);
                    break;
                default:                                  // PEFT True / "kaiming": U(−1/√in, 1/√in), B = 0
                    init.kaiming_uniform_(a.weight, a: Math.Sqrt(5), g: generator);
                    init.zeros_(b.weight);
                    break;
            }
        }
        var da = new ModuleDict<Linear>();
        da.Add(AdapterName, a);
        var db = new ModuleDict<Linear>();
        db.Add(AdapterName, b);
        layer.add_module("lora_A", da);
        layer.add_module("lora_B", db);
        var adapter = new LoraLinear(layer, a, b, config.Scaling);
        layer.adapter = adapter;
        return adapter;
    }

    public Tensor forward(Tensor x, Tensor baseOutput)                  // x: [..., in]; baseOutput: [..., out]
    {
        if (Merged || !Enabled) return baseOutput;
        using var scope = torch.NewScope();
        var h = lora_B.forward(lora_A.forward(As(x, lora_A.weight.dtype)));   // [..., out]
        return scope.Keep(As(baseOutput + As(h * Scaling, baseOutput.dtype), baseOutput.dtype));
    }

    /// <summary>ΔW = scaling · B·A [out, in], computed in float32 (float64 for a float64 model).</summary>
    public Tensor DeltaWeight()
    {
        using var scope = torch.NewScope();
        var dt = Base.weight.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        return scope.Keep(As(lora_B.weight.detach(), dt).matmul(As(lora_A.weight.detach(), dt)) * Scaling);
    }

    /// <summary>W ← W + scaling·B·A (docs/omniavatar.md#lora; the bias is unchanged).</summary>
    public void Merge()
    {
        if (Merged) return;
        UpdateBase(+1);
        Merged = true;
    }

    /// <summary>W ← W − scaling·B·A, undoing <see cref="Merge"/> (up to rounding).</summary>
    public void Unmerge()
    {
        if (!Merged) return;
        UpdateBase(-1);
        Merged = false;
    }

    /// <summary><paramref name="x"/> itself when it already has <paramref name="dtype"/>, else a converted copy.</summary>
    private static Tensor As(Tensor x, ScalarType dtype) => x.dtype == dtype ? x : x.to(dtype);

    private void UpdateBase(int sign)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var w = Base.weight;
        var dt = w.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var merged = As(w, dt) + DeltaWeight() * (double)sign;
        w.copy_(merged);
    }

    /// <summary>Detaches the adapter from its layer and frees A and B (merging first when <paramref name="merge"/>).</summary>
    public void Remove(bool merge)
    {
        if (merge) Merge();
        else Unmerge();
        Base.adapter = null;
        Base.remove_module("lora_A")?.Dispose();
        Base.remove_module("lora_B")?.Dispose();
    }
}
