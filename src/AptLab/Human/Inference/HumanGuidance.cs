using AptLab.Diffusion;

namespace AptLab.Human.Inference;

/// <summary>
/// OmniHuman's classifier-free guidance on audio and text with CFG annealing (docs/omnihuman.md#guidance). The scale
/// at denoising step k of N decays from <see cref="Start"/> to <see cref="End"/>:
/// <code>
/// linear    w_k = start + (end − start) · k / (N − 1)
/// cosine    w_k = end + (start − end) · (1 + cos(π k / (N − 1))) / 2
/// constant  w_k = start
/// </code>
/// (N = 1: start.) Two combinations, reference and pose kept in every branch:
/// <code>
/// joint     v = v(∅a, ∅t) + w_k (v(a, t) − v(∅a, ∅t))                                  2 passes
/// separate  v = v(∅a, ∅t) + wa_k (v(a, ∅t) − v(∅a, ∅t)) + wt_k (v(a, t) − v(a, ∅t))       3 passes
/// </code>
/// Without audio (pose-driven) both reduce to text guidance v(∅t) + w_k (v(t) − v(∅t)) with the text scale. A scale
/// of 1 at every step needs one pass. Defaults 6.5 -> 2.0 (the recipe's; the paper reports 6.5 and annealing, not the
/// schedule).
/// </summary>
public sealed record HumanGuidance
{
    /// <summary>joint (one scale for audio and text) or separate (audio and text scales).</summary>
    public string Mode { get; init; } = "joint";
    /// <summary>linear, cosine or constant.</summary>
    public string Shape { get; init; } = "linear";
    public double Start { get; init; } = 6.5;
    public double End { get; init; } = 2.0;
    /// <summary>Separate mode: the audio scale's start and end (default: <see cref="Start"/>, <see cref="End"/>).</summary>
    public double? AudioStart { get; init; }
    public double? AudioEnd { get; init; }
    /// <summary>Separate mode (and pose-driven): the text scale's start and end (default: <see cref="Start"/>, <see cref="End"/>).</summary>
    public double? TextStart { get; init; }
    public double? TextEnd { get; init; }

    public HumanGuidance Validate(string key = "guidance")
    {
        if (Mode is not ("joint" or "separate")) throw new ArgumentException($"{key}.mode must be joint or separate, got '{Mode}'");
        if (Shape is not ("linear" or "cosine" or "constant")) throw new ArgumentException($"{key}.shape must be linear, cosine or constant, got '{Shape}'");
        foreach (var (k, v) in new[] { ("start", (double?)Start), ("end", End), ("audio_start", AudioStart), ("audio_end", AudioEnd), ("text_start", TextStart), ("text_end", TextEnd) })
            if (v is { } x && !(x >= 0 && double.IsFinite(x))) throw new ArgumentException($"{key}.{k} must be a finite number >= 0, got {x}");
        return this;
    }

    /// <summary>The annealed scale at step <paramref name="k"/> of <paramref name="steps"/> from <paramref name="start"/> to <paramref name="end"/>.</summary>
    public double Scale(double start, double end, int k, int steps)
    {
        if (steps < 1 || k < 0 || k >= steps) throw new ArgumentOutOfRangeException(nameof(k), $"step {k} of {steps}");
        if (steps == 1) return start;
        double s = (double)k / (steps - 1);
        return Shape switch
        {
            "constant" => start,
            "cosine" => end + (start - end) * (1 + Math.Cos(Math.PI * s)) / 2,
            _ => start + (end - start) * s,
        };
    }

    /// <summary>The joint scale w_k.</summary>
    public double Joint(int k, int steps) => Scale(Start, End, k, steps);
    public double Audio(int k, int steps) => Scale(AudioStart ?? Start, AudioEnd ?? End, k, steps);
    public double Text(int k, int steps) => Scale(TextStart ?? Start, TextEnd ?? End, k, steps);

    /// <summary>The branches a step evaluates, in the order <see cref="Combine"/> takes them: with audio, joint:
    /// (∅a∅t, at), separate: (∅a∅t, a∅t, at); without audio: (∅t, t); a single (at) when every scale is 1.</summary>
    public IReadOnlyList<(bool Audio, bool Text)> Branches(bool audio)
    {
        bool one = (Mode == "joint" || !audio)
            ? (audio ? Start == 1 && End == 1 : (TextStart ?? Start) == 1 && (TextEnd ?? End) == 1)
            : (AudioStart ?? Start) == 1 && (AudioEnd ?? End) == 1 && (TextStart ?? Start) == 1 && (TextEnd ?? End) == 1;
        if (one) return [(audio, true)];
        if (!audio) return [(false, false), (false, true)];
        return Mode == "joint" ? [(false, false), (true, true)] : [(false, false), (true, false), (true, true)];
    }

    /// <summary>The guided velocity at step k from the branch outputs of <see cref="Branches"/>.</summary>
    public Tensor Combine(IReadOnlyList<Tensor> v, bool audio, int k, int steps)
    {
        using var scope = torch.NewScope();
        Tensor r = v.Count switch
        {
            1 => v[0].alias(),
            2 => FlowMatch.Cfg(v[0], v[1], audio && Mode == "joint" ? Joint(k, steps) : audio ? throw new ArgumentException("separate guidance with audio takes 3 branches") : Text(k, steps)),
            3 => FlowMatch.Cfg(v[0], v[1], Audio(k, steps)) + (v[2] - v[1]) * Text(k, steps),       // the text term on top of audio CFG
            _ => throw new ArgumentException($"guidance combines 1 to 3 branches, got {v.Count}"),
        };
        return scope.Keep(r);
    }
}
