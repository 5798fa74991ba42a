using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fvd;

/// <summary>
/// I3D (Inception-v1 inflated to 3D), the FVD network, with the official module names so that converted Kinetics-400
/// checkpoints load as they are (docs/evaluation.md, "FVD"). Input clips [B, 3, T, H, W] in [-1, 1]; the final
/// average pool [2, 7, 7] has no padding, so ceil(T/8) >= 2 and ceil(H/32) = ceil(W/32) = 7 (FVD clips: 16 frames of
/// 224x224, giving one time step).
/// </summary>
public sealed class InceptionI3d : Module<Tensor, Tensor>
{
    public const int FeatureDims = 1024;

    public readonly long numClasses;
    public readonly Unit3D logits;
    private readonly List<(string name, Module<Tensor, Tensor> layer)> endpoints = new();

    /// <summary>The endpoints in the official order and with its channel counts; <c>logits</c> maps 1024 -> numClasses.</summary>
    public InceptionI3d(long numClasses = 400, long inChannels = 3, Device? device = null)
    {
        this.numClasses = numClasses;
        logits = RegisterModule("logits", new Unit3D(FeatureDims, numClasses, [1, 1, 1], batchNorm: false, bias: true, activation: false, device: device));
        void Add(string name, Module<Tensor, Tensor> layer) { RegisterModule(name, layer); endpoints.Add((name, layer)); }
        InceptionModule Mixed(long cin, params long[] oc) => new(cin, oc, device);
        Add("Conv3d_1a_7x7", new Unit3D(inChannels, 64, [7, 7, 7], [2, 2, 2], device: device));
        Add("MaxPool3d_2a_3x3", new MaxPool3dSamePadding([1, 3, 3], [1, 2, 2]));
        Add("Conv3d_2b_1x1", new Unit3D(64, 64, [1, 1, 1], device: device));
        Add("Conv3d_2c_3x3", new Unit3D(64, 192, [3, 3, 3], device: device));
        Add("MaxPool3d_3a_3x3", new MaxPool3dSamePadding([1, 3, 3], [1, 2, 2]));
        Add("Mixed_3b", Mixed(192, 64, 96, 128, 16, 32, 32));
        Add("Mixed_3c", Mixed(256, 128, 128, 192, 32, 96, 64));
        Add("MaxPool3d_4a_3x3", new MaxPool3dSamePadding([3, 3, 3], [2, 2, 2]));
        Add("Mixed_4b", Mixed(480, 192, 96, 208, 16, 48, 64));
        Add("Mixed_4c", Mixed(512, 160, 112, 224, 24, 64, 64));
        Add("Mixed_4d", Mixed(512, 128, 128, 256, 24, 64, 64));
        Add("Mixed_4e", Mixed(512, 112, 144, 288, 32, 64, 64));
        Add("Mixed_4f", Mixed(528, 256, 160, 320, 32, 128, 128));
        Add("MaxPool3d_5a_2x2", new MaxPool3dSamePadding([2, 2, 2], [2, 2, 2]));
        Add("Mixed_5b", Mixed(832, 256, 160, 320, 32, 128, 128));
        Add("Mixed_5c", Mixed(832, 384, 192, 384, 48, 128, 128));
        eval();
    }

    /// <summary>Logits [B, classes, T'] (pre-softmax), the official <c>forward</c>.</summary>
    public override Tensor forward(Tensor video)
    {
        var (features, l) = Run(video);
        features.Dispose();
        return l;
    }

    /// <summary>The pooled pre-logits features [B, 1024, T', 1, 1] (the official <c>extract_features</c>).</summary>
    public Tensor extract_features(Tensor video)
    {
        var (features, l) = Run(video);
        l.Dispose();
        return features;
    }

    /// <summary>
    /// Both outputs from one pass: pooled features [B, 1024, T', 1, 1] and logits [B, classes, T'] (dropout is the
    /// identity in eval mode). <paramref name="tap"/> sees each endpoint's output (it must copy what it keeps).
    /// </summary>
    public (Tensor features, Tensor logits) Run(Tensor video, Action<string, Tensor>? tap = null)
    {
        CheckInput(video);
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var x = video;
        foreach (var (name, layer) in endpoints)
        {
            var next = layer.forward(x);
            if (!ReferenceEquals(x, video)) x.Dispose();
            x = next;
            tap?.Invoke(name, x);
        }
        var pooled = F.avg_pool(x, [2, 7, 7], [1, 1, 1]);                     // [B, 1024, T', 1, 1]
        var l = logits.forward(pooled).squeeze(3).squeeze(3);                 // [B, classes, T']
        return (scope.Keep(pooled), scope.Keep(l));
    }

    /// <summary>The clip-size rule of the final pool, checked before any work (an error naming the sizes).</summary>
    public static void CheckInput(Tensor video)
    {
        if (video.dim() != 5 || video.shape[1] != 3)
            throw new ArgumentException($"I3D takes clips [B, 3, T, H, W]; got [{string.Join(", ", video.shape)}]");
        long t = video.shape[2], h = video.shape[3], w = video.shape[4];
        long tt = Reduce(t, 3), hh = Reduce(h, 5), ww = Reduce(w, 5);
        if (tt < 2 || hh != 7 || ww != 7)
            throw new ArgumentException($"I3D needs ceil(T/8) >= 2 and H, W in 193..224 (FVD uses 16 frames of 224x224); got T={t}, H={h}, W={w}");
    }

    private static long Reduce(long size, int halvings)
    {
        for (int i = 0; i < halvings; i++) size = SamePadding.OutSize(size, 2);
        return size;
    }
}
