using AptLab.Torch.IO;

namespace AptLab.Wan.Vae;

public sealed partial class WanVAE
{
    /// <summary>Prefix of DiffSynth's internal VAE key names (<c>model.encoder.conv1.weight</c>).</summary>
    public const string DiffSynthPrefix = "model.";

    /// <summary>
    /// Builds the VAE (default: Wan 2.1's config) and strictly loads <paramref name="path"/>: the official
    /// <c>Wan2.1_VAE.pth</c>, a safetensors copy, or DiffSynth's names (a <c>model.</c> prefix on every key, which
    /// is stripped). Missing, unexpected or mis-shaped keys raise one error naming the file.
    /// </summary>
    public static WanVAE FromCheckpoint(string path, WanVaeConfig? config = null, LatentStats? stats = null)
    {
        var vae = new WanVAE(config ?? WanVaeConfig.Wan21, stats);
        try
        {
            using var sd = Checkpoint.Load(path);
            bool prefixed = sd.Count > 0 && sd.Keys.All(k => k.StartsWith(DiffSynthPrefix, StringComparison.Ordinal));
            if (prefixed)
            {
                var stripped = sd.ToDictionary(kv => kv.Key[DiffSynthPrefix.Length..], kv => kv.Value);
                vae.load_state_dict(stripped, strict: true, source: Path.GetFullPath(path));
            }
            else vae.load_state_dict(sd, strict: true, source: Path.GetFullPath(path));
            return vae;
        }
        catch
        {
            vae.Dispose();
            throw;
        }
    }
}
