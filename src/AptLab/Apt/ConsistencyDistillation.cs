using AptLab.Diffusion;

namespace AptLab.Apt;

/// <summary>Settings of discrete-time consistency distillation (docs/consistency-distillation.md#one-training-step; Wan defaults in docs/consistency-distillation.md#settings).</summary>
public sealed record CdSettings
{
    /// <summary>Discretisation steps N: t_k = shift(k / N, Shift), k = 0..N.</summary>
    public int Steps { get; init; } = 32;
    public double Shift { get; init; } = 5;
    /// <summary>Teacher CFG scale (APT: 7.5; Wan's default: 5).</summary>
    public double Guidance { get; init; } = 5;
}

/// <summary>
/// One consistency-distillation loss with the flow-matching consistency function f(x, t) = x - t v(x, t, c):
/// <code>
/// n ~ U{0..N-1};  x_{n+1} = (1 - t_{n+1}) x0 + t_{n+1} eps
/// v_T = v_teacher(x_{n+1}, t_{n+1}, c_neg) + w (v_teacher(., c) - v_teacher(., c_neg))      (no grad)
/// x^_n = x_{n+1} + (t_n - t_{n+1}) v_T                                                   (teacher Euler step)
/// y = f_student(x^_n, t_n)   (stop-gradient: the current student, no EMA target)
/// loss = mean((f_student(x_{n+1}, t_{n+1}) - y)^2)
/// </code>
/// The loss is computed in float32 (a float32 island) whatever the student's compute dtype. Data-parallel: every rank
/// passes the GLOBAL batch and its <see cref="BatchShard"/>; n and eps are drawn for the global batch (the stream one
/// process with the whole batch draws) and each rank computes the loss of its rows, so averaging the gradients over
/// ranks reproduces the single process.
/// </summary>
public static class ConsistencyDistillation
{
    /// <summary>t_0 = 0 ... t_N = 1 through the shift: [N + 1].</summary>
    public static Tensor Discretisation(int steps, double shift)
    {
        using var scope = torch.NewScope();
        return scope.Keep(FlowMatch.Shift(torch.linspace(0, 1, steps + 1, ScalarType.Float64), shift).to(ScalarType.Float32));
    }

    /// <summary>The teacher's guided Euler step x^_n from x_{n+1} (the ODE target that may be cached).</summary>
    public static Tensor TeacherStep(FlowModel teacher, Tensor x, Tensor tFrom, Tensor tTo, Conditioning c, Conditioning neg, double guidance)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var v = CfgVelocity(teacher, x, tFrom, c, neg, guidance);
        return scope.Keep(FlowMatch.EulerStep(x, v, tFrom, tTo));
    }

    /// <summary>v_neg + w (v_pos - v_neg), with negative and positive in one batched forward.</summary>
    public static Tensor CfgVelocity(FlowModel model, Tensor x, Tensor sigma, Conditioning c, Conditioning neg, double guidance)
    {
        using var scope = torch.NewScope();
        long b = x.size(0);
        var both = model.Velocity(torch.cat(new[] { x, x }), torch.cat(new[] { sigma, sigma }), Conditioning.Cat(neg, c));
        return scope.Keep(FlowMatch.Cfg(both.narrow(0, 0, b), both.narrow(0, b, b), guidance));   // (v_neg, v_pos)
    }

    /// <summary>The loss for a batch of clean latents x0 [B, C, F, H, W] (with <paramref name="shard"/>: the global
    /// batch, of which this rank computes its rows; the steps returned are those rows').</summary>
    public static (Tensor loss, Tensor steps) Loss(FlowModel student, FlowModel teacher, Tensor x0, Conditioning c, Conditioning neg,
        CdSettings s, Generator g, Tensor? cachedTarget = null, BatchShard? shard = null)
    {
        using var scope = torch.NewScope();
        shard ??= BatchShard.Whole;
        long b = x0.size(0);
        var tk = Discretisation(s.Steps, s.Shift).to(x0.device);                        // [N + 1]
        var n = shard.Of(torch.randint(0, s.Steps, [b], generator: g, device: x0.device));   // [B] drawn, this rank's rows kept
        var eps = shard.Of(torch.randn(x0.shape, x0.dtype, x0.device, g));
        (x0, c, neg) = (shard.Of(x0), shard.Of(c), shard.Of(neg));
        if (cachedTarget is not null) cachedTarget = shard.Of(cachedTarget);
        var tn = tk.index_select(0, n);
        var tn1 = tk.index_select(0, n + 1L);
        var xn1 = FlowMatch.AddNoise(x0, eps, tn1);                                      // x_{n+1}
        var xhat = cachedTarget ?? TeacherStep(teacher, xn1, tn1, tn, c, neg, s.Guidance);
        var loss = LossFromTarget(student, xn1, tn1, xhat, tn, c);
        return (scope.Keep(loss), scope.Keep(n));
    }

    /// <summary>mean((f(x_{n+1}, t_{n+1}) - sg(f(x^_n, t_n)))^2) for the teacher's step x^_n (computed, or from a cache).</summary>
    /// <param name="xn1">x_{n+1} [B, C, F, H, W]</param>
    /// <param name="tn1">t_{n+1} [B]</param>
    /// <param name="xhat">the teacher's Euler step x^_n [B, C, F, H, W]</param>
    /// <param name="tn">t_n [B]</param>
    public static Tensor LossFromTarget(FlowModel student, Tensor xn1, Tensor tn1, Tensor xhat, Tensor tn, Conditioning c)
    {
        using var scope = torch.NewScope();
        Tensor y;
        using (torch.no_grad())
            y = FlowMatch.X0(xhat, student.Velocity(xhat, tn, c), tn);                      // f(x^_n, t_n), stop-gradient
        var p = FlowMatch.X0(xn1, student.Velocity(xn1, tn1, c), tn1);                      // f(x_{n+1}, t_{n+1})
        var island = p.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;   // the loss in float32 under bf16
        return scope.Keep(F.mse_loss(p.dtype == island ? p : p.to(island), y.dtype == island ? y : y.to(island)));
    }
}
