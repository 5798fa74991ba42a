using AptLab.Diffusion;

namespace AptLab.Avatar.Training;

/// <summary>One training timestep of docs/omniavatar.md#training.</summary>
/// <param name="Id">the uniformly drawn grid index, 0 ≤ id &lt; N</param>
/// <param name="Timestep">τ = bf16(t_id), the value the DiT receives</param>
/// <param name="Index">argmin_j |t_j − τ| (first on ties): may be a neighbour of <paramref name="Id"/> after the bf16 rounding</param>
/// <param name="Sigma">σ_Index: x_t = (1 − σ) x0 + σ noise</param>
/// <param name="Weight">w_Index, the loss weight</param>
public readonly record struct AvatarTimestep(int Id, double Timestep, int Index, float Sigma, float Weight);

/// <summary>
/// The training timesteps of DiffSynth's Wan trainers (docs/omniavatar.md#training), which OmniAvatar was forked from:
/// <c>FlowMatchScheduler(shift 5, sigma_min 0, extra_one_step).set_timesteps(1000, training=True)</c> gives the grid
/// <c>σ_i = 5 s_i / (1 + 4 s_i)</c>, <c>s_i = 1 − i/1000</c>, <c>t_i = 1000 σ_i</c> and the weights
/// <c>y_i = exp(−2 ((t_i − 500)/1000)²)</c>, <c>w_i = (y_i − min y) · 1000 / Σ_j (y_j − min y)</c>. Per sample:
/// id ~ U{0..999}, τ = bf16(t_id), and σ, w of the grid point nearest to τ.
/// </summary>
public sealed class AvatarTimesteps
{
    public FlowMatchScheduler Scheduler { get; }
    public int Count { get; }

    public AvatarTimesteps(int numTrainTimesteps = 1000, double shift = 5.0)
    {
        if (numTrainTimesteps < 2) throw new ArgumentException($"AvatarTimesteps: num_train_timesteps must be >= 2, got {numTrainTimesteps}");
        if (!(shift > 0)) throw new ArgumentException($"AvatarTimesteps: shift must be positive, got {shift}");
        Count = numTrainTimesteps;
        Scheduler = new FlowMatchScheduler(numInferenceSteps: numTrainTimesteps, numTrainTimesteps: numTrainTimesteps, shift: shift,
            sigmaMin: 0.0, extraOneStep: true);
        Scheduler.SetTimesteps(numTrainTimesteps, training: true);
    }

    /// <summary>The draw for grid index <paramref name="id"/>.</summary>
    public AvatarTimestep At(int id)
    {
        if (id < 0 || id >= Count) throw new ArgumentOutOfRangeException(nameof(id), $"timestep id {id} is outside [0, {Count})");
        double tau = FlowMatch.RoundToBFloat16(Scheduler.Timesteps[id]);
        int j = Scheduler.IndexOf(tau);
        return new AvatarTimestep(id, tau, j, Scheduler.Sigmas[j], Scheduler.TrainingWeights[j]);
    }

    /// <summary><paramref name="count"/> draws, ids from <paramref name="rng"/> (torch.randint over [0, N)).</summary>
    public AvatarTimestep[] Sample(long count, Generator rng)
    {
        using var scope = torch.NewScope();
        var ids = torch.randint(0, Count, [count], generator: rng).data<long>();
        return ids.Select(i => At((int)i)).ToArray();
    }
}
