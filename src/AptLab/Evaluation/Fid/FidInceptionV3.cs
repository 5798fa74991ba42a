using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fid;

/// <summary>
/// The network behind FID, as pytorch-fid builds it for 2048-d features (docs/evaluation.md, "FID"): the input
/// [B, 3, H, W] in [0, 1] is resized to 299x299 (bilinear, align_corners = false, no antialiasing), mapped to
/// [-1, 1], and run through four blocks cut from Inception-v3 with the FID variants of blocks A, C and E; the
/// result is the 2048-d average pool ("pool3").
/// <para>
/// Parameters live under the wrapper's names <c>blocks.&lt;b&gt;.&lt;i&gt;.*</c>; <see cref="CheckpointNames"/> maps each
/// entry to its name in the FID checkpoint <c>pt_inception-2015-12-05-6726825d.pth</c> (torchvision's Inception3:
/// <c>Conv2d_1a_3x3</c>, <c>Mixed_5b</c>, ...), which <see cref="FidWeights"/> loads as it is.
/// </para>
/// </summary>
public sealed class FidInceptionV3 : Module<Tensor, Tensor>
{
    /// <summary>The side the input is resized to.</summary>
    public const int InputSize = 299;
    /// <summary>Feature dimension (pool3).</summary>
    public const int Dims = 2048;

    /// <summary>blocks[b] = Sequential of the layers below, in the wrapper's order.</summary>
    public readonly ModuleList<Sequential> blocks;

    /// <summary>The FID checkpoint's name of each wrapper entry (null: a pooling layer without parameters).</summary>
    public static readonly string?[][] CheckpointNames =
    [
        ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", null],
        ["Conv2d_3b_1x1", "Conv2d_4a_3x3", null],
        ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"],
        ["Mixed_7a", "Mixed_7b", "Mixed_7c", null],
    ];

    public FidInceptionV3(Device? device = null)
    {
        var d = device;
        blocks = RegisterModule("blocks", new ModuleList<Sequential>());
        blocks.Add(new Sequential(                                            // 299 -> 149 -> 147 -> 147 -> 73
            BasicConv2d.Square(3, 32, 3, s: 2, device: d),
            BasicConv2d.Square(32, 32, 3, device: d),
            BasicConv2d.Square(32, 64, 3, p: 1, device: d),
            new MaxPool2d([3], [2])));
        blocks.Add(new Sequential(                                            // 73 -> 73 -> 71 -> 35
            BasicConv2d.Square(64, 80, 1, device: d),
            BasicConv2d.Square(80, 192, 3, device: d),
            new MaxPool2d([3], [2])));
        blocks.Add(new Sequential(                                            // 35 -> 17
            new FidInceptionA(192, 32, d), new FidInceptionA(256, 64, d), new FidInceptionA(288, 64, d),
            new InceptionB(288, d),
            new FidInceptionC(768, 128, d), new FidInceptionC(768, 160, d), new FidInceptionC(768, 160, d), new FidInceptionC(768, 192, d)));
        blocks.Add(new Sequential(                                            // 17 -> 8 -> 1
            new InceptionD(768, d), new FidInceptionE(1280, false, d), new FidInceptionE(2048, true, d),
            new AdaptiveAvgPool2d(1, 1)));
        eval();
    }

    /// <summary>pool3 features [B, 2048] of images [B, 3, H, W] in [0, 1].</summary>
    public override Tensor forward(Tensor images) => Features(images);

    /// <summary>
    /// pool3 features [B, 2048] of <paramref name="images"/> [B, 3, H, W] in [0, 1]. <paramref name="tap"/>, when
    /// given, sees the output of every named layer (<see cref="CheckpointNames"/>) as it is computed; it must copy
    /// what it keeps.
    /// </summary>
    public Tensor Features(Tensor images, Action<string, Tensor>? tap = null)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"FID Inception takes images [B, 3, H, W]; got [{string.Join(", ", images.shape)}]");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var x = F.interpolate(images, [InputSize, InputSize], F.InterpolateMode.Bilinear, align_corners: false);
        x = x * 2 - 1;                                                        // [B, 3, 299, 299] in [-1, 1]
        for (int b = 0; b < blocks.Count; b++)
            for (int i = 0; i < blocks[b].Count; i++)
            {
                var next = blocks[b][i].forward(x);
                x.Dispose();
                x = next;
                if (tap is not null && CheckpointNames[b][i] is { } name) tap(name, x);
            }
        return scope.Keep(x.flatten(1));                                      // [B, 2048, 1, 1] -> [B, 2048]
    }
}
