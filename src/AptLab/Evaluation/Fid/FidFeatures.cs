namespace AptLab.Evaluation.Fid;

/// <summary>pool3 features of many images, in batches of images of one size (pytorch-fid's loop; docs/evaluation.md).</summary>
public static class FidFeatures
{
    /// <summary>pytorch-fid's default batch size.</summary>
    public const int BatchSize = 50;

    /// <summary>Features [N, 2048] (float64, CPU) of <paramref name="images"/>, each [3, H, W] in [0, 1] (RGB); the
    /// images are disposed once used.</summary>
    public static Tensor Compute(FidInceptionV3 net, IEnumerable<Tensor> images, int batchSize = BatchSize)
    {
        var device = net.blocks[0].parameters().First().device;
        var rows = new List<Tensor>();
        var batch = new List<Tensor>();
        void Flush()
        {
            if (batch.Count == 0) return;
            using var scope = torch.NewScope();
            var x = torch.stack(batch, 0).to(device, ScalarType.Float32);      // [B, 3, H, W]
            rows.Add(scope.Keep(net.Features(x).to(Device.CPU, ScalarType.Float64)));
            foreach (var img in batch) img.Dispose();                         // the images are handed over to this method
            batch.Clear();
        }
        foreach (var img in images)
        {
            if (img.dim() != 3 || img.shape[0] != 3) throw new ArgumentException($"FID: an image must be [3, H, W]; got [{string.Join(", ", img.shape)}]");
            if (batch.Count > 0 && (batch[0].shape[1] != img.shape[1] || batch[0].shape[2] != img.shape[2])) Flush();
            batch.Add(img);
            if (batch.Count == batchSize) Flush();
        }
        Flush();
        if (rows.Count == 0) throw new ArgumentException("FID: no images");
        var all = torch.cat(rows, 0);
        foreach (var r in rows) r.Dispose();
        return all;
    }
}
