using AptLab.Evaluation.Sync;
using Xunit.Abstractions;

namespace AptLab.Tests.Evaluation.Networks;

public sealed class SyncCaseFixture : IDisposable
{
    public EvalCase Case { get; } = new("syncnet");
    public SyncNet Model { get; }
    public SyncCaseFixture() => Model = SyncWeights.Load(Case.WeightsPath);
    public void Dispose() { Model.Dispose(); Case.Dispose(); }
}

/// <summary>joonson/syncnet_python's S and evaluate() arithmetic (shared/reference syncnet).</summary>
public class SyncNetReferenceTests(SyncCaseFixture fx, ITestOutputHelper log) : IClassFixture<SyncCaseFixture>
{
    // The case's intermediates, by the layer whose output they are (tensor_doc: netcnnlip[7], netcnnlip, ...).
    private static readonly Dictionary<string, string> TapOf = new()
    {
        ["lip_pool2"] = "netcnnlip.7", ["netcnnlip"] = "netcnnlip", ["aud_pool2"] = "netcnnaud.7", ["netcnnaud"] = "netcnnaud",
    };

    [Fact]
    public void Embeddings_distance_table_offset_and_confidence_match_the_official_code()
    {
        using var _ = torch.NewScope();
        var io = fx.Case.Io;
        var cfg = fx.Case.Config;
        int vshift = cfg.GetProperty("vshift").GetInt32();
        long frames = io["video"].shape[2];
        long samples = SyncEvaluator.SamplesPerFrame * frames;               // the case's audio: exactly T / 25 s
        Assert.Equal(fx.Case.Json.GetProperty("offset_search").GetProperty("windows").GetInt32(), SyncEvaluator.WindowCount(frames, samples));

        var evaluator = new SyncEvaluator(fx.Model, vshift, cfg.GetProperty("batch_size").GetInt32());
        var (lip, aud) = evaluator.Embeddings(io["video"], io["mfcc"], samples);
        EvalCase.Check(log, "lip_emb", lip, io["lip_emb"]);
        EvalCase.Check(log, "aud_emb", aud, io["aud_emb"]);

        var s = SyncScores.FromEmbeddings(lip, aud, vshift);
        EvalCase.Check(log, "dists", torch.tensor(Flat(s.Dists), s.Dists.GetLength(0), s.Dists.GetLength(1)), io["dists"]);
        EvalCase.Check(log, "mdist", torch.tensor(s.MeanDists), io["mdist"]);
        EvalCase.Check(log, "minval", torch.tensor(new[] { s.MinDist }), io["minval"]);
        Assert.Equal((int)io["offset"].item<float>(), s.Offset);
        double minval = io["minval"].item<float>();
        log.WriteLine($"conf {s.Confidence} vs {io["conf"].item<float>()}");
        Assert.True(Math.Abs(s.Confidence - io["conf"].item<float>()) <= 1e-4 * minval);
    }

    [Fact]
    public void Tower_intermediates_match()
    {
        using var _ = torch.NewScope();
        var io = fx.Case.Io;
        long frames = io["video"].shape[2];
        int w = SyncEvaluator.WindowCount(frames, SyncEvaluator.SamplesPerFrame * frames);
        var taps = new Dictionary<string, Tensor>();
        void Tap(string name, Tensor t) { if (TapOf.ContainsValue(name)) taps[name] = t.clone().DetachFromScope(); }
        var lipIn = torch.cat(Enumerable.Range(0, w).Select(v => io["video"].narrow(2, v, SyncEvaluator.WindowFrames)).ToList(), 0);
        var audIn = torch.cat(Enumerable.Range(0, w).Select(v => io["mfcc"].narrow(3, SyncEvaluator.MfccPerFrame * v, SyncEvaluator.MfccWindow)).ToList(), 0);
        fx.Model.forward_lip(lipIn, Tap);
        fx.Model.forward_aud(audIn, Tap);
        foreach (var (name, expected) in fx.Case.Debug())
            EvalCase.Check(log, "dbg." + name, taps[TapOf[name]], expected);
        foreach (var t in taps.Values) t.Dispose();
    }

    [Fact]
    public void Full_size_network_on_meta_has_the_reference_keys()
    {
        using var meta = new SyncNet(fx.Case.Config.GetProperty("num_layers_in_fc_layers").GetInt64(), Device.Meta);
        var file = fx.Case.WeightShapes();
        EvalCase.AssertSameKeys(meta, file);
        Assert.Equal(fx.Case.Json.GetProperty("weights").GetProperty("num_tensors").GetInt32(), file.Count);
    }

    private static double[] Flat(double[,] a) => a.Cast<double>().ToArray();
}
