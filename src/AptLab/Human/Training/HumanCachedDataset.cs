using AptLab.Data;
using AptLab.Human.Audio;
using AptLab.Human.Pose;
using AptLab.Human.Data;
using AptLab.Wan.Vae;

namespace AptLab.Human.Training;

/// <summary>
/// Training samples from a <see cref="LatentCache"/> written by <see cref="HumanCacheEncoder"/>, assembled into
/// <see cref="HumanBatch"/>es for a list of <see cref="ConditionDraw"/>s: the latents normalised with the VAE's latent
/// statistics, the reference candidate the draw picked, the motion latents, the audio windows of the segment's frames
/// (neighbours from the whole clip, <see cref="AudioWindows"/>), the pose heatmaps of the segment's frames, the caption's
/// context (all zero when text is off) and the per-sample switches. A condition no sample of the batch uses is left out.
/// </summary>
public sealed class HumanCachedDataset
{
    public LatentCache Cache { get; }
    public HumanClipSpec Spec { get; }
    public OmniHumanConfig Model { get; }
    /// <summary>Gaussian σ of the pose heatmaps, in pixels.</summary>
    public double PoseSigma { get; }
    private readonly float[] mean, std;
    public bool[] AudioQualified { get; }
    public bool[] HasPose { get; }

    public HumanCachedDataset(LatentCache cache, LatentStats stats, HumanClipSpec spec, OmniHumanConfig model, double poseSigma)
    {
        if (cache.Count == 0) throw new InvalidDataException($"{cache.Root}: the latent cache is empty");
        (Cache, Spec, Model, PoseSigma, mean, std) = (cache, spec.Validate(), model, poseSigma, stats.mean, stats.std);
        AudioQualified = new bool[cache.Count];
        HasPose = new bool[cache.Count];
        for (int i = 0; i < cache.Count; i++)
        {
            using var sd = cache.Load(i);
            AudioQualified[i] = sd.TryGetValue("audio_qualified", out var q) && q.item<float>() > 0.5f;
            HasPose[i] = sd.ContainsKey("keypoints");
        }
    }

    public int Count => Cache.Count;

    /// <summary>The condition sampler over this dataset's pools.</summary>
    public OmniConditionSampler Sampler() => new(Count, AudioQualified, HasPose);

    /// <summary>The samples of <paramref name="draws"/> as one batch (tensors in the caller's scope).</summary>
    public HumanBatch Batch(IReadOnlyList<ConditionDraw> draws)
    {
        if (draws.Count == 0) throw new ArgumentException("HumanCachedDataset: no sample drawn");
        using var scope = torch.NewScope();
        int m = Spec.MotionFrames, l = Spec.Frames;
        var lat = new List<Tensor>(); var refs = new List<Tensor>(); var motion = new List<Tensor>();
        var audio = new List<Tensor>(); var kps = new List<Tensor>(); var ctx = new List<Tensor>();
        foreach (var d in draws)
        {
            using var sd = Cache.Load(d.Clip);
            string where = $"{Cache.Root}/{Cache.Entries[d.Clip].File}";
            Tensor Get(string key, int dims) => sd.TryGetValue(key, out var t) && t.dim() == dims ? t.to(ScalarType.Float32).clone()
                : throw new InvalidDataException($"{where}: no {dims}-d tensor '{key}' (not an OmniHuman cache sample)");
            var latents = Normalize(Get("latents", 4), where);
            if (latents.size(1) != Spec.LatentFrames)
                throw new InvalidDataException($"{where}: \"latents\" has {latents.size(1)} latent frames, the config's frames {l} need {Spec.LatentFrames}");
            lat.Add(latents);
            var candidates = Normalize(Get("ref_latents", 4), where);                           // [16, R, h, w]
            int r = Math.Min((int)(d.ReferenceDraw * candidates.size(1)), (int)candidates.size(1) - 1);
            refs.Add(candidates.narrow(1, r, 1));
            motion.Add(Normalize(Get("motion_latents", 4), where));
            var track = Get("audio", 2);                                                        // [M + L, C]
            if (track.size(0) < m + l) throw new InvalidDataException($"{where}: \"audio\" has {track.size(0)} rows, {m + l} needed");
            audio.Add(AudioWindows.Gather(track, m, l, Model.AudioWindow).squeeze(0));         // [L, 2n+1, C]
            kps.Add(sd.ContainsKey("keypoints") ? Get("keypoints", 3).narrow(0, m, l) : torch.zeros(l, WholeBodyKeypoints.Count, 3));
            ctx.Add(Get("context", 2));
        }
        long lt = ctx.Max(c => c.size(0));
        var context = torch.stack(ctx.Select((c, i) => draws[i].TextOn ? F.pad(c, [0, 0, 0, lt - c.size(0)]) : torch.zeros(lt, c.size(1))).ToList());
        Tensor Switch(Func<ConditionDraw, bool> on) => torch.tensor(draws.Select(d => on(d) ? 1f : 0f).ToArray(), draws.Count);
        bool Any(Func<ConditionDraw, bool> on) => draws.Any(on);
        var c = new HumanConditions
        {
            Reference = Any(d => d.ReferenceOn) ? torch.stack(refs) : null,
            Motion = Any(d => d.MotionOn) ? torch.stack(motion) : null,
            Audio = Any(d => d.AudioOn) ? torch.stack(audio) : null,
            Pose = Any(d => d.PoseOn) ? PoseOnRows(kps, draws) : null,
        };
        c = c with
        {
            ReferenceOn = c.Reference is null ? null : Switch(d => d.ReferenceOn),
            MotionOn = c.Motion is null ? null : Switch(d => d.MotionOn),
            AudioOn = c.Audio is null ? null : Switch(d => d.AudioOn),
            PoseOn = c.Pose is null ? null : Switch(d => d.PoseOn),
        };
        var batch = new HumanBatch(torch.stack(lat), context, c, draws.ToArray());
        return batch.KeepIn(scope);
    }

    /// <summary>Heatmaps [B, C_heat, L, H, W] rendered for the samples whose pose is on; zero for the others (the model
    /// reads no pose there).</summary>
    private Tensor PoseOnRows(List<Tensor> kps, IReadOnlyList<ConditionDraw> draws)
    {
        using var scope = torch.NewScope();
        var rows = Enumerable.Range(0, draws.Count).Where(i => draws[i].PoseOn).Select(i => (long)i).ToArray();
        var maps = PoseHeatmaps.Render(torch.stack(rows.Select(i => kps[(int)i]).ToList()), Spec.Height, Spec.Width, PoseSigma);
        return scope.Keep(HumanConditions.PlaceRows(maps, rows, draws.Count));
    }

    private Tensor Normalize(Tensor mu, string where)                                           // [z, F, h, w]
    {
        if (mu.size(0) != mean.Length)
            throw new InvalidDataException($"{where}: latents must have {mean.Length} channels, got [{string.Join(", ", mu.shape)}]");
        return (mu - torch.tensor(mean, mean.Length, 1, 1, 1)) / torch.tensor(std, std.Length, 1, 1, 1);
    }
}
