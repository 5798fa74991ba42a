using System.Diagnostics;
using System.Text.Json;
using AptLab.Data.Media;

namespace AptLab.Tests.Wan.Pipelines;

/// <summary>`aptlab sample` as a user runs it (the CLI's build output, from the repository root): the tiny config
/// writes a decodable mp4 with the requested frames and size and a PNG contact sheet; bad input is one error line.</summary>
public class SampleCommandTests
{
    internal static (int code, string stdout, string stderr) Aptlab(params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet")
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.Repo,
        };
        psi.ArgumentList.Add(Distributed.RankProcess.CliDll);
        psi.ArgumentList.Add("sample");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), "aptlab sample did not exit");   // hang guard, not a timing check
        return (p.ExitCode, output, err.Result);
    }

    [Fact]
    public void Tiny_config_writes_an_mp4_with_the_requested_frames_and_size_and_a_contact_sheet()
    {
        Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");
        using var dir = TestPaths.Temp();
        var (code, stdout, stderr) = Aptlab("--config", "configs/sample-tiny.yaml", "--prompt", "a red circle moving left",
            "--frames", "5", "--size", "64x32", "--steps", "2", "--sampler", "euler", "--seed", "3", "--out", dir.Path);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("step 2/2", stderr);
        Assert.Contains("sample.mp4", stdout);

        var info = Ffmpeg.Probe(dir.File("sample.mp4"));
        Assert.Equal((64, 32), (info.Video!.Width, info.Video.Height));
        var decoded = Ffmpeg.ReadVideo(dir.File("sample.mp4"));
        Assert.Equal(5, decoded.Frames.Count);
        Assert.Equal(8.0, decoded.Fps, 3);                                     // sample.fps of the config

        var sheet = Png.Read(dir.File("sample.png"));
        Assert.True(sheet.Width >= 4 * 64 && sheet.Height >= 2 * 32, $"contact sheet {sheet.Width}x{sheet.Height} cannot hold 5 frames of 64x32 in rows of 4");
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("sample.json")));
        Assert.Equal(2, json.RootElement.GetProperty("Steps").GetInt32());
        Assert.Equal("Euler", json.RootElement.GetProperty("sampler").GetString());
        Assert.Equal(3UL, json.RootElement.GetProperty("Seed").GetUInt64());
    }

    [Fact]
    public void Tiny_i2v_config_takes_an_image_and_clip_features_and_follows_the_image_aspect()
    {
        Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");
        using var dir = TestPaths.Temp();
        File.WriteAllText(dir.File("i2v.yaml"), "model: tiny\ntask: i2v\nsample: {steps: 1, frames: 5, fps: 8}\n");
        var image = new RgbImage(40, 60);                                       // portrait, h/w = 1.5
        for (int y = 0; y < 60; y++) for (int x = 0; x < 40; x++) image.SetPixel(x, y, (byte)(6 * x), (byte)(4 * y), 128);
        Png.Write(dir.File("first.png"), image);
        using (var clip = torch.randn(1, 5, new AptLab.Wan.Pipelines.TinyModelConfig().ClipDim))
            AptLab.Torch.IO.Checkpoint.Save(dir.File("clip.safetensors"), new Dictionary<string, Tensor> { ["clip_fea"] = clip });
        var (code, _, stderr) = Aptlab("--config", dir.File("i2v.yaml"), "--prompt", "a cat", "--size", "48x32",
            "--image", dir.File("first.png"), "--clip-features", dir.File("clip.safetensors"), "--out", dir.File("out"));
        Assert.True(code == 0, $"exit {code}: {stderr}");
        var info = Ffmpeg.Probe(Path.Combine(dir.File("out"), "sample.mp4"));
        // area 48·32 = 1536 with h/w = 1.5: lat_h = 2⌊⌊√2304/8⌋/2⌋ = 6, lat_w = 2⌊⌊√1024/8⌋/2⌋ = 4 → 32 wide, 48 high
        Assert.Equal((32, 48), (info.Video!.Width, info.Video.Height));
        Assert.Equal(5, Ffmpeg.ReadVideo(Path.Combine(dir.File("out"), "sample.mp4")).Frames.Count);
    }

    [Theory]
    [InlineData(new[] { "--config", "configs/no-such.yaml", "--prompt", "x" }, "config file not found")]
    [InlineData(new[] { "--config", "configs/sample-tiny.yaml", "--prompt", "x", "--frames", "6" }, "frames = 6 must be 1 + 4k")]
    [InlineData(new[] { "--config", "configs/sample-tiny.yaml", "--prompt", "x", "--size", "50x32" }, "width = 50 must be a positive multiple of 16")]
    [InlineData(new[] { "--config", "configs/sample-tiny.yaml", "--prompt", "x", "--sampler", "ddim" }, "sampler 'ddim' is not one of")]
    [InlineData(new[] { "--config", "configs/sample-wan2.1-t2v-1.3b.yaml", "--prompt", "x" }, "config 'dit': file or folder not found")]
    [InlineData(new[] { "--config", "configs/sample-tiny.yaml", "--prompt", "x", "--image", "a.png" }, "need an i2v config")]
    public void Bad_input_is_one_clear_error(string[] args, string expected)
    {
        var (code, _, stderr) = Aptlab(args);
        Assert.Equal(2, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var error = Assert.Single(lines, l => l.StartsWith("error: "));
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", stderr);                            // no stack trace
    }
}
