namespace AptLab.Human.Training;

/// <summary>Which conditions CFG's guidance dropout removed from a sample (<see cref="ConditionRatios"/>).</summary>
public enum GuidanceDrop { None, Text, TextAudio }

/// <summary>One training sample's conditions: the clip, the nested task activation (<see cref="Text"/> ..
/// <see cref="Pose"/>: the omni-conditions rule holds on these), the motion frames and the guidance dropout;
/// <see cref="TextOn"/> etc. are what the model is given.</summary>
/// <param name="Clip">index of the clip in the dataset</param>
/// <param name="ReferenceDraw">uniform in [0, 1): which of the clip's reference candidates is used</param>
public readonly record struct ConditionDraw(int Clip, bool Text, bool Reference, bool Audio, bool Pose, bool Motion, GuidanceDrop Drop,
    double ReferenceDraw)
{
    public bool TextOn => Text && Drop == GuidanceDrop.None;
    public bool ReferenceOn => Reference;
    public bool AudioOn => Audio && Drop != GuidanceDrop.TextAudio;
    public bool PoseOn => Pose;
    public bool MotionOn => Motion;
}

/// <summary>
/// Draws each training sample's conditions and clip (docs/omnihuman.md#training). Per sample, from five uniforms of the
/// trainer's generator: u gives the nested activation (a condition is active when u &lt; its ratio); the clip is drawn
/// uniformly from the pool its strongest active condition needs (pose: clips qualified for audio AND pose; audio: clips
/// qualified for audio; otherwise every clip), so clips that fail the audio or pose filters still train the weaker
/// tasks; then the motion frames, the guidance dropout (only when text is active) and the reference candidate.
/// The draws are made for a whole (global) batch at once, so data-parallel ranks agree on them.
/// </summary>
public sealed class OmniConditionSampler
{
    public IReadOnlyList<int> All { get; }
    public IReadOnlyList<int> AudioPool { get; }
    public IReadOnlyList<int> PosePool { get; }

    /// <param name="count">clips in the dataset</param>
    /// <param name="audioQualified">per clip: passes the audio (lip-sync) filter</param>
    /// <param name="poseQualified">per clip: has usable pose keypoints</param>
    public OmniConditionSampler(int count, IReadOnlyList<bool> audioQualified, IReadOnlyList<bool> poseQualified)
    {
        if (count < 1) throw new ArgumentException("OmniConditionSampler: the dataset has no clip");
        if (audioQualified.Count != count || poseQualified.Count != count)
            throw new ArgumentException($"OmniConditionSampler: {count} clips but {audioQualified.Count} audio / {poseQualified.Count} pose flags");
        All = Enumerable.Range(0, count).ToArray();
        AudioPool = All.Where(i => audioQualified[i]).ToArray();
        PosePool = All.Where(i => audioQualified[i] && poseQualified[i]).ToArray();
    }

    /// <summary>Checks that the pools these ratios need are not empty; the message names the ratio.</summary>
    public void Check(ConditionRatios r, string key)
    {
        if (r.Audio > 0 && AudioPool.Count == 0) throw new ArgumentException($"{key}.audio is {r.Audio} but no clip qualifies for audio (audio_qualified)");
        if (r.Pose > 0 && PosePool.Count == 0) throw new ArgumentException($"{key}.pose is {r.Pose} but no audio-qualified clip has pose keypoints");
    }

    /// <summary><paramref name="n"/> draws with <paramref name="rng"/> (five uniforms per sample, drawn as one [n, 5] tensor).</summary>
    public ConditionDraw[] Draw(int n, ConditionRatios r, Generator rng)
    {
        Check(r, "ratios");
        using var scope = torch.NewScope();
        var u = torch.rand([n, 5], ScalarType.Float64, generator: rng).data<double>();
        var draws = new ConditionDraw[n];
        for (int i = 0; i < n; i++)
        {
            double a = u[5 * i], clip = u[5 * i + 1], motion = u[5 * i + 2], drop = u[5 * i + 3], refDraw = u[5 * i + 4];
            bool text = a < r.Text, reference = a < r.Reference, audio = a < r.Audio, pose = a < r.Pose;
            var pool = pose ? PosePool : audio ? AudioPool : All;
            var d = !text ? GuidanceDrop.None
                : drop < r.DropTextAudio ? GuidanceDrop.TextAudio
                : drop < r.DropTextAudio + r.DropText ? GuidanceDrop.Text : GuidanceDrop.None;
            draws[i] = new ConditionDraw(pool[Math.Min((int)(clip * pool.Count), pool.Count - 1)], text, reference, audio, pose,
                motion < r.Motion, d, refDraw);
        }
        return draws;
    }
}
