using AptLab.Torch.IO;

namespace AptLab.Wan.Pipelines;

/// <summary>
/// CLIP image features for I2V (<c>clip_fea</c>, [1, N_img, width]: [1, 257, 1280] for ViT-H/14) stored in a file, so
/// that a run can reuse them instead of encoding the image again (docs/wan-clip.md). AptLab's own encoder is
/// <see cref="AptLab.Wan.Clip.ClipImageEncoder"/>; features written by another tool load too: a safetensors or .pth
/// file holding one tensor, or a tensor named <c>clip_fea</c>.
/// </summary>
public static class ClipFeatures
{
    public const string Key = "clip_fea";

    /// <summary>Loads the features as [1, N_img, width] float32; errors name the file.</summary>
    public static Tensor Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CLIP features file not found: {Path.GetFullPath(path)}", path);
        using var sd = Checkpoint.Load(path);
        Tensor t;
        if (sd.ContainsKey(Key)) t = sd[Key];
        else if (sd.Count == 1) t = sd.Values.First();
        else throw new InvalidDataException($"{path}: expected one tensor or one named '{Key}', found {sd.Count}: {string.Join(", ", sd.Keys.Take(8))}");
        if (t.dim() == 2) t = t.unsqueeze(0);
        if (t.dim() != 3 || t.size(0) != 1)
            throw new InvalidDataException($"{path}: CLIP features must be [1, N_img, width] or [N_img, width], got [{string.Join(", ", t.shape)}]");
        return t.to(ScalarType.Float32).clone();
    }

    /// <summary>Writes features [1, N_img, width] as float32 under <see cref="Key"/> (format by extension, atomically).</summary>
    public static void Save(string path, Tensor clipFea)
    {
        using var scope = torch.NewScope();
        Checkpoint.Save(path, new Dictionary<string, Tensor> { [Key] = clipFea.detach().to(ScalarType.Float32).cpu().contiguous() });
    }
}
