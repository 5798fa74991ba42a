using System.Diagnostics;
using System.Text.Json.Nodes;
using AptLab.Evaluation;
using AptLab.Evaluation.Fid;
using AptLab.Evaluation.Fvd;
using AptLab.Evaluation.Sync;

namespace AptLab.Bench;

/// <summary>The standard evaluation networks (random weights; the speed does not depend on them) and the Fréchet
/// distance at FID's dimension: seconds per image / clip / window and per distance.</summary>
public static class EvalBench
{
    public static JsonNode Run(int threads)
    {
        var result = new JsonObject();
        using (torch.NewScope())
        using (var fid = FidWeights.Random())
        {
            var x = torch.rand([8, 3, 256, 256]);
            fid.Features(x);
            result["fid_inception_s_per_image"] = Timing.BestOf(() => { using var _ = torch.NewScope(); fid.Features(x); }, 2, 1) / 8;
        }
        using (torch.NewScope())
        using (var i3d = I3dWeights.Random())
        {
            var clip = torch.rand([1, 3, 16, 224, 224]) * 2 - 1;
            result["i3d_s_per_16_frame_clip"] = Timing.BestOf(() => { using var _ = torch.NewScope(); i3d.forward(clip); }, 2, 1);
        }
        using (torch.NewScope())
        using (var sync = SyncWeights.Random())
        {
            var lips = torch.rand([20, 3, 5, 224, 224]) * 255;
            var mfcc = torch.randn([20, 1, 13, 20]);
            result["syncnet_s_per_window"] = Timing.BestOf(() => { using var _ = torch.NewScope(); sync.forward_lip(lips); sync.forward_aud(mfcc); }, 2, 1) / 20;
        }
        var rng = new Random(1);
        foreach (int n in new[] { 1000 })                                    // the D x D decompositions do not depend on N
        {
            var a = new double[n, 2048]; var b = new double[n, 2048];
            for (int i = 0; i < n; i++) for (int j = 0; j < 2048; j++) { a[i, j] = rng.NextDouble(); b[i, j] = 1.1 * rng.NextDouble(); }
            var sw = Stopwatch.StartNew();
            var sa = FrechetDistance.Statistics(a); var sb = FrechetDistance.Statistics(b);
            result[$"statistics_s_n{n}_d2048"] = sw.Elapsed.TotalSeconds / 2;
            sw.Restart();
            FrechetDistance.Compute(sa, sb);
            result[$"frechet_s_n{n}_d2048"] = sw.Elapsed.TotalSeconds;
        }
        return result;
    }
}
