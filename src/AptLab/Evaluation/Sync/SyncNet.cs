using AptLab.Torch.nn;

namespace AptLab.Evaluation.Sync;

/// <summary>
/// SyncNet (joonson/syncnet_python's <c>S(num_layers_in_fc_layers=1024)</c>): an audio tower on 13 x 20 MFCC windows
/// and a lip tower on 5-frame colour crops, each ending in a 1024-d embedding; in sync, the two embeddings of one
/// window are close (docs/evaluation.md, "Sync-C and Sync-D"). Keys <c>netcnnaud.*</c>, <c>netfcaud.*</c>,
/// <c>netcnnlip.*</c>, <c>netfclip.*</c>, those of <c>syncnet_v2.model</c>.
/// </summary>
public sealed class SyncNet : Module
{
    public readonly Sequential netcnnaud, netfcaud, netcnnlip, netfclip;

    public SyncNet(long embeddingDims = 1024, Device? device = null)
    {
        netcnnaud = RegisterModule("netcnnaud", AudioTower.Build(device));
        netfcaud = RegisterModule("netfcaud", EmbeddingHead.Build(embeddingDims, device));
        netcnnlip = RegisterModule("netcnnlip", LipTower.Build(device));
        netfclip = RegisterModule("netfclip", EmbeddingHead.Build(embeddingDims, device));
        eval();
    }

    /// <summary>Audio embeddings [N, 1024] of MFCC windows [N, 1, 13, 20]. <paramref name="tap"/> sees
    /// <c>netcnnaud.&lt;i&gt;</c> outputs and <c>netcnnaud</c> (the tower's output).</summary>
    public Tensor forward_aud(Tensor mfcc, Action<string, Tensor>? tap = null) => Embed(netcnnaud, netfcaud, "netcnnaud", mfcc, tap);

    /// <summary>Lip embeddings [N, 1024] of frame windows [N, 3, 5, 224, 224]. <paramref name="tap"/> sees
    /// <c>netcnnlip.&lt;i&gt;</c> outputs and <c>netcnnlip</c>.</summary>
    public Tensor forward_lip(Tensor frames, Action<string, Tensor>? tap = null) => Embed(netcnnlip, netfclip, "netcnnlip", frames, tap);

    private static Tensor Embed(Sequential cnn, Sequential fc, string name, Tensor x, Action<string, Tensor>? tap)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var h = x;
        for (int i = 0; i < cnn.Count; i++)
        {
            var next = cnn[i].forward(h);
            if (!ReferenceEquals(h, x)) h.Dispose();
            h = next;
            tap?.Invoke($"{name}.{i}", h);
        }
        tap?.Invoke(name, h);
        return scope.Keep(fc.forward(h.view(h.shape[0], -1)));               // [N, 512] -> [N, 1024]
    }
}
