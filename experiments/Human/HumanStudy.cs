using System.Globalization;
using System.Text;
using AptLab.Apt;
using AptLab.Evaluation;
using AptLab.Human;
using AptLab.Human.Apt;
using AptLab.Human.Audio;
using AptLab.Human.Data;
using AptLab.Human.Inference;
using AptLab.Human.Pose;
using AptLab.Training;
using AptLab.Wan.Vae;

namespace AptLab.Experiments.Human;

/// <summary>
/// The synthetic OmniHuman study (docs/omnihuman.md#the-study): the talking-face clips, the VAE trained on them, and the
/// evaluation of a trained model on held-out clips:
/// <list type="bullet">
/// <item>lip sync: Pearson correlation, over a segment's frames, between the mouth opening measured in the generated
/// frames (<see cref="FaceMeasures"/>) and the clip's loudness envelope, with audio and with audio dropped; the real
/// frames give the ceiling, the real frames against another clip's envelope the noise floor;</item>
/// <item>pose following: mean distance (pixels) between the requested nose keypoint and the measured face centre, with
/// and without pose; the real frames give the measurement floor;</item>
/// <item>Fréchet distance (<see cref="VideoFeatures"/>) to held-out real clips and sharpness, with the real-vs-real
/// floor;</item>
/// </list>
/// each for every noise seed (the spread over seeds), written as eval.csv and README.md in the run folder.
/// </summary>
public static class HumanStudy
{
    /// <summary>A way to generate segment latents from noise: the teacher (multi-step, CFG annealing) or a one-step student.</summary>
    public abstract class SegmentSampler
    {
        public abstract string Name { get; }
        /// <summary>Network evaluations per sample with (or without) audio.</summary>
        public abstract int Nfe(bool audio);
        /// <summary>noise [B, 16, F, h, w], context [B, Lt, D], conditions -> latents [B, 16, F, h, w].</summary>
        public abstract Tensor Generate(Tensor noise, Tensor context, HumanConditions c);
    }

    /// <summary>The teacher: <see cref="HumanSampler"/> with the config's steps, shift and guidance.</summary>
    public sealed class TeacherSampler(OmniHumanModel model, HumanInferenceConfig cfg) : SegmentSampler
    {
        public override string Name => $"teacher {cfg.Steps} steps";
        public override int Nfe(bool audio) => cfg.Steps * cfg.Guidance.Guidance().Branches(audio).Count;
        public override Tensor Generate(Tensor noise, Tensor context, HumanConditions c) =>
            HumanSampler.Sample(model, noise, context, c, cfg.Guidance.Guidance(), cfg.Steps, cfg.Shift);
    }

    /// <summary>A one-step generator: x = z - v(z, 1, c) (<see cref="OneStepGenerator"/>), no guidance.</summary>
    public sealed class OneStepSampler(string name, OmniHumanFlowModel model) : SegmentSampler
    {
        public override string Name => name;
        public override int Nfe(bool audio) => 1;
        public override Tensor Generate(Tensor noise, Tensor context, HumanConditions c)
        {
            using var _ = torch.no_grad();
            return OneStepGenerator.Generate(model, noise, new Conditioning(context, Extras: OmniHumanFlowModel.ToExtras(c)));
        }
    }

    // ---- data ----

    /// <summary>The study's clips: a pure function of the study run's seed.</summary>
    public static TalkingFaces Faces(ulong seed, HumanClipSpec spec)
    {
        if (spec.Height != spec.Width) throw new ArgumentException($"human.data: the study's faces are square; height {spec.Height} must equal width {spec.Width}");
        return new TalkingFaces(spec.Height, spec.TotalFrames, seed, spec.Fps, spec.SampleRate);
    }

    /// <summary>The study's training clips in &lt;run&gt;/data (mp4 + wav + keypoints JSON + manifest); returns the manifest.</summary>
    public static string WriteClips(RunContext ctx, HumanConfig h, HumanClipSpec spec)
    {
        var s = h.Study!;
        var dir = ctx.Run.File("data");
        bool existed = File.Exists(Path.Combine(dir, TalkingFaces.ManifestName));
        var path = Faces(ctx.Config.Seed, spec).Write(dir, s.Clips, s.AudioQualified, s.WithPose, workers: Math.Max(1, torch.get_num_threads()));
        ctx.Out.WriteLine(existed ? $"[data] {path} (existing)" : $"[data] generated {s.Clips} talking-face clips: {path}");
        return path;
    }

    /// <summary>Trains the study's VAE on frames and study.vae_frames-frame windows of the training clips (a clip batch
    /// every study.vae_video_every steps), then fits the latent statistics (per-channel mean and std of image latents).</summary>
    public static void TrainVae(RunContext ctx, HumanEncoders enc, HumanStudyConfig study)
    {
        var spec = ctx.Config.Human!.Data.Spec(ctx.Config.Human.Model.MotionFrames);
        var faces = Faces(ctx.Config.Seed, spec);
        int n = study.Clips, t = spec.TotalFrames, s = spec.Height;
        var clips = Enumerable.Range(0, n).Select(i => faces.Get(i, faces.Qualification(i, study.AudioQualified, study.WithPose).Sync).Pixels).ToArray();
        Tensor Window(Generator rng, int batch, int frames)
        {
            var idx = torch.randint(0, n, [batch], generator: rng).data<long>();
            var start = torch.randint(0, t - frames + 1, [batch], generator: rng).data<long>();
            var b = new float[batch * 3 * frames * s * s];
            for (int i = 0; i < batch; i++)
                for (int c = 0; c < 3; c++)
                    Array.Copy(clips[idx[i]], (c * t + start[i]) * s * s, b, ((i * 3 + c) * frames) * s * s, frames * s * s);
            return torch.tensor(b, batch, 3, frames, s, s);
        }
        if (study.VaeFrames > t) throw new ArgumentException($"human.study.vae_frames {study.VaeFrames} exceeds the clips' {t} frames");
        VaeStage.Train(ctx, enc.Vae, study.Vae, true, (video, batch, rng) => Window(rng, batch, video ? study.VaeFrames : 1), study.VaeVideoEvery);
        using var _ = torch.no_grad();
        using var scope = torch.NewScope();
        using var g = new Generator(ctx.Config.Seed + Seeds.Vae + 1);
        var (mu, _) = enc.Vae.encode_moments(Window(g, Math.Min(256, n * t), 1).to(ctx.Device));   // [N, z, 1, h, w]
        enc.Vae.latent_mean.copy_(mu.mean([0, 2, 3, 4], keepdim: true));
        enc.Vae.latent_inv_std.copy_(mu.std([0, 2, 3, 4], keepdim: true).reciprocal());
        ctx.Out.WriteLine($"[vae] latent statistics fitted on {mu.size(0)} frames");
        int check = VaeCheckClips(study);
        var rt = VaeRoundTrip(enc.Vae, Faces(ctx.Config.Seed, spec), spec, check, ctx.Device);
        ctx.Out.WriteLine($"[vae] round trip of {check} held-out segments: lip-sync r {rt.Correlation:F3}, pose error {rt.PoseError:F2} px " +
                          "(the ceiling of every generated clip; the real frames give r 1.0 and 0.1 px)");
        ctx.Log.Scalars(study.Vae.Steps, new Dictionary<string, double> { ["vae/roundtrip_lipsync_r"] = rt.Correlation, ["vae/roundtrip_pose_error_px"] = rt.PoseError });
    }

    /// <summary>Held-out segments in the VAE check after training: the evaluation's first 64 (all of them when it has
    /// fewer, and then the check is the evaluation's "real clips through the VAE" row, computed before any DiT training).</summary>
    public static int VaeCheckClips(HumanStudyConfig study) => Math.Min(64, study.Eval.Samples);

    /// <summary>How much of the mouth motion and head position survives the VAE's encode/decode: the first
    /// <paramref name="clips"/> held-out segments of the evaluation through <c>decode(encode(x))</c>, measured as the study
    /// measures generated clips. A VAE that loses the mouth caps every lip-sync figure after it.</summary>
    public static Measures VaeRoundTrip(WanVAE vae, TalkingFaces faces, HumanClipSpec spec, int clips, Device device)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewScope();
        var segments = Enumerable.Range(0, clips).Select(i => HeldOut(faces, spec, i)).ToList();
        var rec = new List<Tensor>();
        for (int i = 0; i < clips; i += 16)
            rec.Add(vae.decode(vae.encode(torch.stack(segments.Skip(i).Take(16).Select(g => g.Pixels).ToList()).to(device))).to(Device.CPU));
        return Measure(torch.cat(rec), segments.Select(g => g.Envelope).ToArray(), segments.Select(g => g.Noses).ToArray());
    }

    /// <summary>Held-out clip <paramref name="i"/> and its segment after the motion frames: the frames [3, L, S, S], the
    /// loudness envelope [L] and the requested face centres [L] (px).</summary>
    private static (TalkingFaces.Clip Clip, Tensor Pixels, double[] Envelope, (double X, double Y)[] Noses) HeldOut(TalkingFaces faces, HumanClipSpec spec, int i)
    {
        var clip = faces.Get(Seeds.HumanHeldout + i);
        int m = spec.MotionFrames, l = spec.Frames;
        return (clip, torch.tensor(clip.Pixels, 3, spec.TotalFrames, spec.Height, spec.Width).narrow(1, m, l),
                clip.Envelope.Skip(m).Take(l).ToArray(), clip.Centre.Skip(m).Take(l).ToArray());
    }

    // ---- evaluation ----

    /// <summary>The held-out evaluation set, its conditions and real clips.</summary>
    public sealed class EvalSet : IDisposable
    {
        public required Tensor Context { get; init; }           // [N, Lt, D]
        public required HumanConditions Conditions { get; init; }   // reference, audio windows, pose heatmaps: [N, ...]
        public required double[][] Envelopes { get; init; }     // [N][L]
        public required (double X, double Y)[][] Noses { get; init; }   // [N][L] requested face centres (px)
        public required Tensor Real { get; init; }              // [N, 3, L, S, S] the held-out clips' own frames
        public required Tensor RealA { get; init; }             // [M, 3, L, S, S] two independent real sets
        public required Tensor RealB { get; init; }
        public required string[] Captions { get; init; }

        public void Dispose()
        {
            Context.Dispose(); Real.Dispose(); RealA.Dispose(); RealB.Dispose();
            Conditions.Reference?.Dispose(); Conditions.Audio?.Dispose(); Conditions.Pose?.Dispose();
        }
    }

    public static EvalSet BuildEvalSet(HumanConfig h, ulong dataSeed, HumanEncoders enc, HumanClipSpec spec)
    {
        var eval = h.Study!.Eval;
        var faces = Faces(dataSeed, spec);
        int m = spec.MotionFrames, l = spec.Frames, s = spec.Height, t = spec.TotalFrames;
        var audio = enc.Audio(spec.Fps);
        using var _ = torch.no_grad();
        using var scope = torch.NewScope();
        var refs = new List<Tensor>(); var windows = new List<Tensor>(); var kps = new List<Tensor>(); var real = new List<Tensor>();
        var env = new double[eval.Samples][]; var noses = new (double, double)[eval.Samples][]; var captions = new string[eval.Samples];
        for (int i = 0; i < eval.Samples; i++)
        {
            using var inner = torch.NewScope();
            var (clip, px, envelope, centres) = HeldOut(faces, spec, i);                      // px [3, L, S, S]
            real.Add(inner.Keep(px.contiguous()));
            refs.Add(inner.Keep(enc.Vae.encode(px.narrow(1, 0, 1).unsqueeze(0))));        // [1, 16, 1, h, w]: the segment's first frame
            windows.Add(inner.Keep(AudioWindows.Gather(audio.Encode(clip.Audio, t), m, l, h.Model.AudioWindow)));   // [1, L, 2n+1, C]
            kps.Add(inner.Keep(clip.Keypoints(s).ToTensor().narrow(0, m, l).unsqueeze(0)));  // [1, L, 133, 3]
            env[i] = envelope;
            noses[i] = centres;
            captions[i] = clip.Caption;
        }
        Tensor RealSet(long offset) => torch.stack(Enumerable.Range(0, eval.RealSamples)
            .Select(i => torch.tensor(faces.Get(offset + i).Pixels, 3, t, s, s).narrow(1, m, l)).ToList());
        var context = enc.Text.EncodePadded(captions);                                       // [N, text_len, D]
        var set = new EvalSet
        {
            Context = scope.Keep(context).DetachFromScope(),
            Conditions = new HumanConditions
            {
                Reference = scope.Keep(torch.cat(refs, 0)).DetachFromScope(),
                Audio = scope.Keep(torch.cat(windows, 0)).DetachFromScope(),
                Pose = scope.Keep(PoseHeatmaps.Render(torch.cat(kps, 0), s, s, h.Data.PoseSigma)).DetachFromScope(),
            },
            Envelopes = env, Noses = noses, Captions = captions,
            Real = scope.Keep(torch.stack(real)).DetachFromScope(),
            RealA = scope.Keep(RealSet(2 * Seeds.HumanHeldout)).DetachFromScope(),
            RealB = scope.Keep(RealSet(3 * Seeds.HumanHeldout)).DetachFromScope(),
        };
        return set;
    }

    /// <summary>The settings evaluated: which conditions are on (text and reference always).</summary>
    public static readonly (string Name, bool Audio, bool Pose)[] Settings =
        [("audio", true, false), ("audio dropped", false, false), ("audio + pose", true, true), ("pose", false, true)];

    /// <summary>Measures of one generated (or real) set against the eval set: mean lip-sync correlation and pose error
    /// over clips, with their per-clip standard deviations.</summary>
    public sealed record Measures(double Correlation, double CorrelationStd, double PoseError, double PoseErrorStd);

    public static Measures Measure(Tensor clips, EvalSet set, int envelopeShift = 0) => Measure(clips, set.Envelopes, set.Noses, envelopeShift);

    /// <summary>Lip sync and pose error of clips [N, 3, L, S, S] against each clip's envelope [N][L] (or the one
    /// <paramref name="envelopeShift"/> clips on: the noise floor) and requested face centres [N][L].</summary>
    public static Measures Measure(Tensor clips, double[][] envelopes, (double X, double Y)[][] noses, int envelopeShift = 0)
    {
        int n = (int)clips.size(0);
        var corr = new double[n]; var err = new double[n];
        for (int i = 0; i < n; i++)
        {
            var m = FaceMeasures.Measure(clips[i]);
            var env = envelopes[(i + envelopeShift) % n];
            corr[i] = FaceMeasures.Correlation(m.Select(f => f.MouthOpening).ToArray(), env);
            err[i] = m.Select((f, k) => Math.Sqrt(Math.Pow(f.CentreX - noses[i][k].X, 2) + Math.Pow(f.CentreY - noses[i][k].Y, 2))).Average();
        }
        return new Measures(corr.Average(), Std(corr), err.Average(), Std(err));
    }

    private static double Std(IReadOnlyList<double> v)
    {
        if (v.Count < 2) return 0;
        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1));
    }

    /// <summary>One row of eval.csv.</summary>
    public sealed record EvalRow(string Method, string Setting, ulong Seed, int Nfe, Measures Measures, double Fd, double Sharpness);

    /// <summary>
    /// Evaluates every sampler on the held-out set for every seed and setting, writes eval.csv, the README (tables,
    /// floors and the verdict) and sample sheets / mp4s of seed 0 into <c>&lt;run&gt;/&lt;folder&gt;</c> (the run folder
    /// itself when null). Returns the rows.
    /// </summary>
    /// <param name="dataSeed">the seed of the study run that made the clips (held-out clips are indices past its training clips)</param>
    public static List<EvalRow> Evaluate(RunContext ctx, HumanConfig h, ulong dataSeed, HumanEncoders enc, HumanClipSpec spec, SegmentSampler sampler,
        string title, params SegmentSampler[] more)
    {
        var samplers = new[] { sampler }.Concat(more).ToList();
        var eval = h.Study!.Eval;
        using var set = BuildEvalSet(h, dataSeed, enc, spec);
        var rows = new List<EvalRow>();
        var sheets = new List<ComparisonMethod>();
        long f = (spec.Frames - 1) / 4 + 1, hl = set.Conditions.Reference!.size(3), wl = set.Conditions.Reference.size(4);
        foreach (var seed in eval.Seeds)
        {
            using var g = new Generator(seed + Seeds.HumanEval);
            using var noise = torch.randn([eval.Samples, 16, f, hl, wl], generator: g);
            foreach (var s in samplers)
                foreach (var (name, audio, pose) in Settings)
                {
                    using var scope = torch.NewScope();
                    var c = set.Conditions with { Audio = audio ? set.Conditions.Audio : null, Pose = pose ? set.Conditions.Pose : null };
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    var clips = Decode(enc, Generate(s, noise, set.Context, c));                  // [N, 3, L, S, S]
                    var score = ComparisonReport.Score([new ComparisonMethod(name, 0, 0, 0, clips)], set.RealA)[0];
                    var row = new EvalRow(s.Name, name, seed, s.Nfe(audio), Measure(clips, set), score.FrechetDistance, score.Sharpness);
                    rows.Add(row);
                    ctx.Out.WriteLine($"[eval] {s.Name}, {name}, seed {seed}: lip-sync r {row.Measures.Correlation:F3}, pose error {row.Measures.PoseError:F2} px, " +
                                      $"FD {row.Fd:F2}, sharpness {row.Sharpness:F4} ({clock.Elapsed.TotalSeconds:F0} s)");
                    ctx.Log.Scalars(0, new Dictionary<string, double>
                    {
                        [$"eval/{Tag(s.Name)}/{Tag(name)}/lipsync_r_seed{seed}"] = row.Measures.Correlation,
                        [$"eval/{Tag(s.Name)}/{Tag(name)}/pose_error_seed{seed}"] = row.Measures.PoseError,
                    });
                    if (seed == eval.Seeds[0]) sheets.Add(new ComparisonMethod($"{s.Name}, {name}", 0, s.Nfe(audio), clock.Elapsed.TotalSeconds, scope.Keep(clips).DetachFromScope()));
                }
        }
        var real = Measure(set.Real, set);
        var shuffled = Measure(set.Real, set, envelopeShift: 1);
        var throughVae = RoundTrip(enc, set.Real, set);
        ctx.Log.Scalars(0, new Dictionary<string, double>
        {
            ["eval/real_through_vae/lipsync_r"] = throughVae.Correlation, ["eval/real_through_vae/pose_error_px"] = throughVae.PoseError,
        });
        var floor = ComparisonReport.Score([new ComparisonMethod("real", 0, 0, 0, set.RealB)], set.RealA)[0];
        var samplesDir = ctx.Run.File("samples");
        var methodsForSheet = new List<ComparisonMethod> { new("real", 0, 0, 0, set.Real) };
        methodsForSheet.AddRange(sheets);
        var outputs = ComparisonReport.WriteSheets(samplesDir, methodsForSheet, set.Captions, new ComparisonOptions(MaxPrompts: 6, FrameSheetClips: 3, Fps: spec.Fps / 2.0));
        foreach (var m in sheets) m.Samples.Dispose();
        WriteCsv(ctx.Run.File("eval.csv"), rows);
        var readme = Readme(title, h, spec, rows, real, shuffled, throughVae, floor.FrechetDistance, floor.Sharpness, eval.Samples, eval.RealSamples);
        RunDirectory.WriteAtomic(ctx.Run.File("README.md"), readme);
        ctx.Out.WriteLine(readme);
        ctx.Out.WriteLine($"[eval] {ctx.Run.File("README.md")}, {ctx.Run.File("eval.csv")}, {outputs.SheetPath}");
        return rows;
    }

    /// <summary>A metric-tag segment: lower case, runs of anything but letters and digits as one '_' ("CD, 1 step" -> cd_1_step).</summary>
    private static string Tag(string s) => System.Text.RegularExpressions.Regex.Replace(s.ToLowerInvariant(), "[^a-z0-9]+", "_").Trim('_');

    private static Tensor Generate(SegmentSampler s, Tensor noise, Tensor context, HumanConditions c, int chunk = 16)
    {
        using var scope = torch.NewScope();
        var parts = new List<Tensor>();
        for (long i = 0; i < noise.size(0); i += chunk)
        {
            long n = Math.Min(chunk, noise.size(0) - i);
            parts.Add(s.Generate(noise.narrow(0, i, n), context.narrow(0, i, n), c.Rows(i, n)));
        }
        return scope.Keep(torch.cat(parts, 0));
    }

    /// <summary>The measures of real clips [N, 3, L, S, S] encoded and decoded by the VAE: the ceiling of what generated
    /// latents can show (the VAE compresses 4 frames into one latent frame).</summary>
    public static Measures RoundTrip(HumanEncoders enc, Tensor real, EvalSet set)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewScope();
        return Measure(Decode(enc, enc.Vae.encode(real)), set);
    }

    private static Tensor Decode(HumanEncoders enc, Tensor latents)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewScope();
        return scope.Keep(enc.Vae.decode(latents.to(ScalarType.Float32)));                   // [N, 3, L, S, S] in [-1, 1]
    }

    private static void WriteCsv(string path, IEnumerable<EvalRow> rows)
    {
        var sb = new StringBuilder("method,setting,seed,nfe,lipsync_r,lipsync_r_std,pose_error_px,pose_error_std,frechet_distance,sharpness\n");
        foreach (var r in rows)
            sb.AppendLine(string.Join(",", $"\"{r.Method}\"", $"\"{r.Setting}\"", r.Seed, r.Nfe, N(r.Measures.Correlation), N(r.Measures.CorrelationStd),
                N(r.Measures.PoseError), N(r.Measures.PoseErrorStd), N(r.Fd), N(r.Sharpness)));
        RunDirectory.WriteAtomic(path, sb.ToString());
    }

    private static string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Mean and standard deviation over seeds of a measure, for one method and setting.</summary>
    public static (double Mean, double Std) OverSeeds(IEnumerable<EvalRow> rows, string method, string setting, Func<EvalRow, double> value)
    {
        var v = rows.Where(r => r.Method == method && r.Setting == setting).Select(value).ToList();
        return (v.Average(), Std(v));
    }

    private static string Readme(string title, HumanConfig h, HumanClipSpec spec, List<EvalRow> rows, Measures real, Measures shuffled,
        Measures throughVae, double fdFloor, double realSharpness, int samples, int realSamples)
    {
        var sb = new StringBuilder();
        var seeds = rows.Select(r => r.Seed).Distinct().ToList();
        sb.AppendLine($"# {title}: the OmniHuman study on talking faces\n");
        sb.AppendLine($"{samples} held-out clips ({spec.Height}x{spec.Width}, {spec.Frames} frames at {spec.Fps} fps), {seeds.Count} noise seeds " +
                      $"({string.Join(", ", seeds)}); mean over seeds ± their standard deviation. Text and reference are on in every setting; " +
                      "\"audio dropped\" is the same model, noise and prompts with the audio switched off (docs/omnihuman.md#the-study).\n");
        sb.AppendLine("| method | setting | NFE | lip-sync r | pose error (px) | FD | sharpness |");
        sb.AppendLine("|:--|:--|--:|--:|--:|--:|--:|");
        foreach (var g in rows.GroupBy(r => (r.Method, r.Setting)))
        {
            var (c, cs) = OverSeeds(rows, g.Key.Method, g.Key.Setting, r => r.Measures.Correlation);
            var (p, ps) = OverSeeds(rows, g.Key.Method, g.Key.Setting, r => r.Measures.PoseError);
            var (fd, fds) = OverSeeds(rows, g.Key.Method, g.Key.Setting, r => r.Fd);
            var (sh, shs) = OverSeeds(rows, g.Key.Method, g.Key.Setting, r => r.Sharpness);
            sb.AppendLine($"| {g.Key.Method} | {g.Key.Setting} | {g.First().Nfe} | {c:F3} ± {cs:F3} | {p:F2} ± {ps:F2} | {fd:F2} ± {fds:F2} | {sh:F4} ± {shs:F4} |");
        }
        sb.AppendLine($"| real clips | own envelope / own pose | | {real.Correlation:F3} | {real.PoseError:F2} | {fdFloor:F2} (real vs real, {realSamples} each) | {realSharpness:F4} |");
        sb.AppendLine($"| real clips through the VAE | own envelope / own pose (ceiling of generated clips) | | {throughVae.Correlation:F3} | {throughVae.PoseError:F2} | | |");
        sb.AppendLine($"| real clips | another clip's envelope (noise floor) | | {shuffled.Correlation:F3} ± {shuffled.CorrelationStd / Math.Sqrt(samples):F3} (s.e.) | | | |");
        sb.AppendLine();
        sb.AppendLine("Lip-sync r: Pearson correlation over a segment's frames between the mouth opening measured in the frames and the clip's " +
                      "loudness envelope, averaged over clips. Pose error: distance between the requested nose keypoint and the measured face " +
                      "centre, averaged over frames and clips. FD: Fréchet distance on AptLab's video features to held-out real clips " +
                      "(src/AptLab/Evaluation/README.md); sharpness: Laplacian variance (the real clips' value is the target).\n");
        foreach (var method in rows.Select(r => r.Method).Distinct())
        {
            var (a, asd) = OverSeeds(rows, method, "audio", r => r.Measures.Correlation);
            var (d, dsd) = OverSeeds(rows, method, "audio dropped", r => r.Measures.Correlation);
            var (pp, pps) = OverSeeds(rows, method, "audio + pose", r => r.Measures.PoseError);
            var (pa, pas) = OverSeeds(rows, method, "audio", r => r.Measures.PoseError);
            double spread = Math.Max(asd, dsd);
            bool lips = a - d > 2 * spread && a - d > 2 * shuffled.CorrelationStd / Math.Sqrt(samples);
            bool poseOk = pa - pp > 2 * Math.Max(pps, pas);
            sb.AppendLine($"**{method}.** Lip sync: with audio r = {a:F3} ± {asd:F3}, audio dropped r = {d:F3} ± {dsd:F3} " +
                          $"(difference {a - d:F3}; seed spread {spread:F3}): " +
                          (lips ? "audio-conditioned mouth motion follows the envelope clearly above the dropped-audio baseline, beyond the seeds' spread."
                                : "NOT clearly above the dropped-audio baseline (the difference is within twice the seeds' spread or the noise floor)."));
            sb.AppendLine($"Pose: error {pp:F2} ± {pps:F2} px with pose against {pa:F2} ± {pas:F2} px without " +
                          (poseOk ? "(the face follows the requested keypoints)." : "(no clear effect of pose beyond the seeds' spread)."));
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
