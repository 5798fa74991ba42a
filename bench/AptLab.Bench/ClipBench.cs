using System.Diagnostics;
using System.Text.Json.Nodes;
using AptLab.Wan.Clip;

namespace AptLab.Bench;

/// <summary>
/// The released CLIP ViT-H/14 vision tower (docs/wan-clip.md) with random weights, fp32 on the CPU: seconds to build
/// it (632 M parameters), milliseconds per image encode (preprocessing + 31 of 32 blocks, 257 tokens) and the
/// achieved GFLOP/s of its counted matmuls (<see cref="Flops"/>). Best of <see cref="Rounds"/>.
/// </summary>
public static class ClipBench
{
    private const int Rounds = 2;

    /// <summary>
    /// Multiply-adds of the patch convolution, the projections, the attention products and the MLP of the blocks that
    /// run, 2 FLOPs each (norms, softmax, GELU and the resize not counted). T tokens, N patches, D = dim, M = mlp_dim,
    /// p = patch, B = blocks run:
    /// <code>
    /// 2·N·3p²·D + B·[ 2·T·D·3D + 2·T·D·D + 4·T²·D + 4·T·D·M ]
    /// </code>
    /// </summary>
    public static double Flops(ClipVisionConfig c, int blocks)
    {
        double t = c.NumTokens, n = c.NumPatches, d = c.Dim, m = c.MlpDim, p = c.PatchSize;
        return 2 * n * 3 * p * p * d + blocks * (2 * t * d * 3 * d + 2 * t * d * d + 4 * t * t * d + 4 * t * d * m);
    }

    public static JsonNode Run(int threads)
    {
        using var scope = torch.NewScope();
        var c = ClipVisionConfig.VitH14;
        var sw = Stopwatch.StartNew();
        using var g = new Generator(0);
        using var enc = new ClipImageEncoder(c, generator: g);
        double build = sw.Elapsed.TotalSeconds;
        var image = torch.rand([3, 480, 832], ScalarType.Float32, Device.CPU, g) * 2 - 1;   // a 480p frame in [-1, 1]
        enc.Encode(image).Dispose();                                                          // warm-up
        double best = double.MaxValue;
        for (int r = 0; r < Rounds; r++)
        {
            sw.Restart();
            enc.Encode(image).Dispose();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        double flops = Flops(c, c.NumLayers - 1);
        return new JsonObject
        {
            ["config"] = "ViT-H/14 (released CLIP vision tower), 224 px, 257 tokens x 1280, 31 of 32 blocks, random weights, fp32, one 832x480 image",
            ["parameters"] = enc.num_parameters(),
            ["build_s"] = Math.Round(build, 2),
            ["encode_ms"] = Math.Round(best * 1e3, 1),
            ["gflop_encode"] = Math.Round(flops / 1e9, 2),
            ["encode_gflops"] = Math.Round(flops / best / 1e9, 1),
            ["rounds"] = Rounds,
            ["load_average_1min"] = DitBench.LoadAverage(),   // the machine is shared
        };
    }
}
