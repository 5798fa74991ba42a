using AptLab.Evaluation.Standard;
using AptLab.Data.Media;
using AptLab.Evaluation;
using AptLab.Tests.Distributed;

namespace AptLab.Tests.Evaluation;

/// <summary>`aptlab eval` as a user runs it, on small folders of generated images and videos, with random networks.</summary>
public class EvalCliTests
{
    private static (int Exit, string All) Cli(params string[] args)
    {
        using var p = RankProcess.Start(args, new Dictionary<string, string?>());
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), p.Describe("aptlab eval"));
        return (p.ExitCode, p.Describe("aptlab eval"));
    }

    // A moving gradient square on a coloured background; `hue` separates the two sets.
    private static List<RgbImage> Frames(int n, int size, int hue, int seed)
    {
        var rng = new Random(seed);
        var frames = new List<RgbImage>();
        for (int t = 0; t < n; t++)
        {
            var img = RgbImage.Solid(size, size, (byte)(40 + hue), 60, (byte)(200 - hue));
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                    if (Math.Abs(x - (8 + t) % size) < 5 && Math.Abs(y - size / 2) < 5)
                    {
                        int i = 3 * (y * size + x);
                        img.Pixels[i] = (byte)rng.Next(150, 256); img.Pixels[i + 1] = (byte)(x * 7); img.Pixels[i + 2] = 30;
                    }
            frames.Add(img);
        }
        return frames;
    }

    [Fact]
    public void Eval_writes_fid_fvd_and_sync_with_random_weights_labelled()
    {
        using var tmp = TestPaths.Temp();
        string real = tmp.File("real"), fake = tmp.File("fake"), audio = tmp.File("audio");
        Directory.CreateDirectory(audio);
        for (int i = 0; i < 2; i++)
        {
            Ffmpeg.WriteImage(Path.Combine(real, "images", $"r{i}.png"), Frames(1, 32, 0, i)[0]);
            Ffmpeg.WriteImage(Path.Combine(fake, "images", $"f{i}.png"), Frames(1, 32, 90, 10 + i)[0]);
        }
        // FID on the images only: the videos live in their own folders.
        var (exit, all) = Cli("eval", "--real", Path.Combine(real, "images"), "--fake", Path.Combine(fake, "images"), "--metrics", "fid",
            "--random-weights", "--out", tmp.File("out-fid"));
        Assert.True(exit == 0, all);
        Assert.Contains("not comparable to published numbers", all);
        var fid = Rows(tmp.File("out-fid"));
        Assert.Equal("FID", fid[0][0]);
        Assert.Equal(["2", "2"], fid[0][2..4]);
        double value = double.Parse(fid[0][1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(value > 0 && double.IsFinite(value), $"FID {value}");
        Assert.Equal(StandardMetrics.RandomLabel, fid[0][5]);
        // The saved statistics are the ones the distance was computed from.
        var sr = GaussianStatistics.Load(Path.Combine(tmp.File("out-fid"), "stats", "fid_real.npz"));
        var sf = GaussianStatistics.Load(Path.Combine(tmp.File("out-fid"), "stats", "fid_fake.npz"));
        Assert.Equal(2048, sr.Dim);
        Assert.Equal(2, sf.Count);
        Assert.Contains(StandardMetrics.RandomLabel, File.ReadAllText(Path.Combine(tmp.File("out-fid"), "README.md")));

        // FVD and Sync on short clips (9 frames, the fewest I3D takes, to keep the test fast; the protocol's 16 is the
        // default); the generated clips' audio comes from --audio.
        for (int i = 0; i < 2; i++)
        {
            Ffmpeg.WriteVideo(Path.Combine(real, "videos", $"r{i}.mp4"), Frames(10, 32, 0, i), 25);
            Ffmpeg.WriteVideo(Path.Combine(fake, "videos", $"f{i}.mp4"), Frames(10, 32, 90, 10 + i), 25);
            var tone = Enumerable.Range(0, 10 * 640).Select(s => (float)(0.3 * Math.Sin(2 * Math.PI * (220 + 110 * i) * s / 16000.0))).ToArray();
            Wav.Write(Path.Combine(audio, $"f{i}.wav"), tone, 16000, 1);
        }
        (exit, all) = Cli("eval", "--real", Path.Combine(real, "videos"), "--fake", Path.Combine(fake, "videos"), "--metrics", "fvd,sync",
            "--audio", audio, "--fvd-frames", "9", "--random-weights", "--out", tmp.File("out-fvd"));
        Assert.True(exit == 0, all);
        var rows = Rows(tmp.File("out-fvd"));
        Assert.Equal(["FVD", "Sync-C", "Sync-D"], rows.Select(r => r[0]));
        Assert.All(rows, r => Assert.Equal(StandardMetrics.RandomLabel, r[5]));
        Assert.All(rows, r => Assert.True(double.IsFinite(double.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture))));
        var sync = File.ReadAllLines(Path.Combine(tmp.File("out-fvd"), "sync.csv"));
        Assert.Equal(3, sync.Length);                                        // header + 2 videos
        Assert.EndsWith(",5", sync[1]);                                      // 10 frames -> 5 windows
    }

    [Fact]
    public void A_missing_weights_file_is_one_error_naming_it_and_writes_nothing()
    {
        using var tmp = TestPaths.Temp();
        Directory.CreateDirectory(tmp.File("x"));
        Ffmpeg.WriteImage(Path.Combine(tmp.File("x"), "a.png"), RgbImage.Solid(8, 8, 1, 2, 3));
        var (exit, all) = Cli("eval", "--real", tmp.File("x"), "--fake", tmp.File("x"), "--metrics", "fid", "--weights-dir", tmp.File("w"),
            "--out", tmp.File("out"));
        Assert.Equal(2, exit);
        Assert.Contains("pt_inception-2015-12-05-6726825d.pth", all);
        Assert.Contains(Path.Combine(tmp.File("w"), "pt_inception-2015-12-05-6726825d.pth"), all);
        Assert.Contains("Download it from", all);
        Assert.False(Directory.Exists(tmp.File("out")));
    }

    private static List<string[]> Rows(string dir)
    {
        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        Assert.Equal(EvalRun.CsvHeader, lines[0]);
        return lines.Skip(1).Select(SplitCsv).ToList();
    }

    private static string[] SplitCsv(string line)
    {
        var parts = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted) { if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; } else if (c == '"') quoted = false; else cur.Append(c); }
            else if (c == '"') quoted = true;
            else if (c == ',') { parts.Add(cur.ToString()); cur.Clear(); }
            else cur.Append(c);
        }
        parts.Add(cur.ToString());
        return parts.ToArray();
    }
}
