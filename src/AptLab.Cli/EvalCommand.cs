using AptLab.Evaluation.Standard;
using AptLab.Evaluation.Weights;
using System.CommandLine;
using System.Globalization;
using AptLab.Data.Media;
using AptLab.Evaluation;
using AptLab.Evaluation.Sync;

namespace AptLab.Cli;

/// <summary>
/// `aptlab eval --real DIR|stats.npz --fake DIR --metrics fid,fvd,sync`: the standard metrics with the public networks
/// (FID: pytorch-fid's Inception-v3, FVD: I3D, Sync-C/Sync-D: SyncNet; docs/evaluation.md), written to
/// OUT/metrics.csv, OUT/README.md and OUT/stats/*.npz.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var real = new Option<string?>("--real") { Description = "real images/videos (a folder) or statistics (.npz with mu, sigma, e.g. from pytorch-fid); not needed for sync alone" };
        var fake = new Option<string>("--fake") { Description = "generated images/videos (a folder, searched recursively; a run folder's samples)", Required = true };
        var metrics = new Option<string>("--metrics") { Description = "comma-separated: fid, fvd, sync", DefaultValueFactory = _ => "fid" };
        var audio = new Option<string?>("--audio") { Description = "sync: folder of audio files named like the videos (default: each video's own audio)" };
        var face = new Option<string?>("--face-box") { Description = "sync: x,y,size of the face square in the videos' pixels (default: the centred square)" };
        var weightsDir = new Option<string?>("--weights-dir") { Description = $"folder with pt_inception-2015-12-05-6726825d.pth, i3d_pretrained_400.pt, syncnet_v2.model (default {EvaluationWeights.DefaultDir})" };
        var random = new Option<bool>("--random-weights") { Description = "seeded random networks instead of the weights: a smoke test, numbers are labelled as not comparable" };
        var fvdFrames = new Option<int>("--fvd-frames") { Description = "frames per FVD clip", DefaultValueFactory = _ => AptLab.Evaluation.Fvd.FvdClips.Frames };
        var output = new Option<string?>("--out") { Description = "output folder (default results/eval/<timestamp>)" };
        var cmd = new Command("eval", "FID, FVD and Sync-C/Sync-D of generated images/videos with the standard networks and public weights");
        foreach (var o in new Option[] { real, fake, metrics, audio, face, weightsDir, random, fvdFrames, output }) cmd.Options.Add(o);
        cmd.SetAction(p => Run(p.GetValue(real), p.GetValue(fake)!, p.GetValue(metrics)!, p.GetValue(audio), p.GetValue(face),
            p.GetValue(weightsDir), p.GetValue(random), p.GetValue(fvdFrames), p.GetValue(output)));
        return cmd;
    }

    public static int Run(string? real, string fake, string metrics, string? audio, string? face, string? weightsDir, bool random,
        int fvdFrames, string? outDir)
    {
        try
        {
            var list = metrics.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => m.ToLowerInvariant()).ToList();
            if (list.Any(m => m != "sync") && real is null) throw new ArgumentException("--real is required for fid and fvd");
            var cfg = new EvaluationConfig { Metrics = list, WeightsDir = weightsDir ?? "", RandomWeights = random, FvdFrames = fvdFrames };
            outDir ??= Path.Combine("results", "eval", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            var rows = EvalRun.Run(new EvalOptions(real ?? "", fake, cfg, outDir, audio, face is null ? null : FaceBox.Parse(face)), Console.Error);
            foreach (var r in rows)
                Console.WriteLine($"{r.Metric,-7} {r.Value.ToString("G6", CultureInfo.InvariantCulture),12}" + (random ? $"   ({StandardMetrics.RandomLabel})" : ""));
            Console.WriteLine($"wrote {Path.Combine(outDir, "metrics.csv")} and README.md");
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException
                                       or MediaException or TorchException or ArithmeticException or AptLab.Config.ConfigException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
