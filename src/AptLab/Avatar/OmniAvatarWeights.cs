using AptLab.Torch.IO;
using AptLab.Torch.nn;

namespace AptLab.Avatar;

/// <summary>What <see cref="OmniAvatarWeights.SmartLoad"/> did with each model key (docs/omniavatar.md#checkpoints).</summary>
/// <param name="Loaded">same shape: taken from the checkpoint</param>
/// <param name="CornerCopied">model larger in every dim: the checkpoint filled the leading corner, the rest kept</param>
/// <param name="Skipped">checkpoint larger in some dim (or of another rank): model value kept</param>
/// <param name="Missing">model keys absent from the checkpoint (untouched)</param>
/// <param name="Ignored">checkpoint keys the model does not have</param>
public sealed record SmartLoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> CornerCopied,
    IReadOnlyList<string> Skipped, IReadOnlyList<string> Missing, IReadOnlyList<string> Ignored)
{
    public override string ToString() =>
        $"{Loaded.Count} loaded, {CornerCopied.Count} corner-copied ({string.Join(", ", CornerCopied)}), {Skipped.Count} skipped, " +
        $"{Missing.Count} missing, {Ignored.Count} checkpoint keys ignored";
}

/// <summary>Loading an OmniAvatar <c>pytorch_model.pt</c>: which file keys were used, which were not.</summary>
public sealed record OmniAvatarLoadReport(string Source, IReadOnlyList<string> Consumed, IReadOnlyList<string> Unexpected, IReadOnlyList<string> NotInFile)
{
    public override string ToString() =>
        $"{Source}: {Consumed.Count} tensors loaded, {Unexpected.Count} unexpected keys ignored" +
        (Unexpected.Count > 0 ? $" ({string.Join(", ", Unexpected.Take(5))}{(Unexpected.Count > 5 ? ", ..." : "")})" : "") +
        $", {NotInFile.Count} model keys kept from the base weights";
}

/// <summary>
/// Weight handling of the OmniAvatar DiT: the training-mode init (docs/omniavatar.md#training), <c>smart_load_weights</c> of Wan's 16-channel
/// checkpoints into the 33-channel model (docs/omniavatar.md#checkpoints), and the OmniAvatar checkpoint (LoRA + audio + patch embedding, docs/omniavatar.md#checkpoints).
/// </summary>
public static class OmniAvatarWeights
{
    /// <summary>
    /// ModelManager's training init (docs/omniavatar.md#training), applied to EVERY parameter before the base weights are loaded:
    /// <c>dim &gt; 1 → xavier_uniform_(gain 0.05)</c>, else zeros. Consequences: AudioPack's LayerNorm weight is 0, so
    /// the audio injection starts as an exact no-op; patch_embedding channels 16..32 keep their xavier(0.05) values.
    /// </summary>
    public static void InitForTraining(Module model, Generator? generator = null)
    {
        using var _ = torch.no_grad();
        foreach (var (_, p) in model.named_parameters())
        {
            if (p.dim() > 1) init.xavier_uniform_(p, 0.05, generator);
            else init.zeros_(p);
        }
    }

    /// <summary>
    /// <c>smart_load_weights</c> (docs/omniavatar.md#checkpoints): for each model key present in <paramref name="checkpoint"/>, the same shape is
    /// copied; a model tensor at least as large in every dim gets the checkpoint in its leading corner
    /// (<c>patch_embedding.weight</c> [D, 33, 1, 2, 2] ← Wan's [D, 16, 1, 2, 2]: input channels 0..15); otherwise it
    /// is skipped. Checkpoint-only keys are ignored. Values are converted to the model's dtype.
    /// </summary>
    public static SmartLoadReport SmartLoad(Module model, IReadOnlyDictionary<string, Tensor> checkpoint) =>
        SmartLoad(model, checkpoint.Keys, k => checkpoint[k].shape, k => checkpoint[k]);

    /// <summary><see cref="SmartLoad(Module, IReadOnlyDictionary{string, Tensor})"/> from files: Wan's safetensors (one
    /// file, a sharded index, a folder, or several shard files, e.g. the comma-separated <c>dit_path</c> of the 14B
    /// config). Safetensors are streamed one tensor at a time.</summary>
    public static SmartLoadReport LoadWanBase(Module model, IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new ArgumentException("LoadWanBase: no checkpoint path given");
        var loaded = new List<string>(); var corner = new List<string>(); var skipped = new List<string>();
        var ignored = new List<string>();
        var found = new HashSet<string>();
        foreach (var path in paths)
        {
            using var lazy = Checkpoint.OpenLazy(path);
            SmartLoadReport r;
            if (lazy is not null)
                r = SmartLoad(model, lazy.Names.ToList(), k => lazy.Info(k).Shape, lazy.Load);
            else
            {
                using var sd = Checkpoint.Load(path);
                r = SmartLoad(model, sd);
            }
            loaded.AddRange(r.Loaded); corner.AddRange(r.CornerCopied); skipped.AddRange(r.Skipped); ignored.AddRange(r.Ignored);
            found.UnionWith(r.Loaded); found.UnionWith(r.CornerCopied); found.UnionWith(r.Skipped);
        }
        var missing = model.state_dict().Keys.Where(k => !found.Contains(k)).ToList();
        return new SmartLoadReport(loaded, corner, skipped, missing, ignored);
    }

    private static SmartLoadReport SmartLoad(Module model, IEnumerable<string> names, Func<string, long[]> shapeOf,
        Func<string, Tensor> load)
    {
        var available = names.ToHashSet(StringComparer.Ordinal);
        var own = model.state_dict();
        var loaded = new List<string>(); var corner = new List<string>(); var skipped = new List<string>(); var missing = new List<string>();
        using var _ = torch.no_grad();
        foreach (var (key, p) in own)
        {
            if (!available.Contains(key)) { missing.Add(key); continue; }
            var cs = shapeOf(key);
            var ms = p.shape;
            bool same = cs.SequenceEqual(ms);
            bool fits = cs.Length == ms.Length && cs.Zip(ms).All(z => z.First <= z.Second);
            if (!same && !fits) { skipped.Add(key); continue; }
            using var scope = torch.NewScope();
            var src = load(key);                                                  // (a lazily read tensor belongs to this scope)
            if (same) { p.copy_(src); loaded.Add(key); }
            else
            {
                Tensor view = p;                                                  // the leading corner

                for (int d = 0; d < cs.Length; d++) view = view.narrow(d, 0, cs[d]);
                view.copy_(src);
                corner.Add(key);
            }
        }
        var ignored = available.Where(k => !own.ContainsKey(k)).ToList();
        return new SmartLoadReport(loaded, corner, skipped, missing, ignored);
    }

    /// <summary>True for the tensors an OmniAvatar checkpoint must provide: LoRA, audio modules, patch embedding.</summary>
    public static bool IsTrainedKey(string key) =>
        Lora.IsLoraKey(key) || key.StartsWith("audio_proj.", StringComparison.Ordinal) ||
        key.StartsWith("audio_cond_projs.", StringComparison.Ordinal) || key.StartsWith("patch_embedding.", StringComparison.Ordinal);

    /// <summary>
    /// Loads <c>pytorch_model.pt</c> (docs/omniavatar.md#checkpoints) into a model that already holds the Wan base weights and its LoRA adapters
    /// (inject them first, with the checkpoint's rank): a non-strict load that reports the file keys it did not use,
    /// and fails, naming them, when any LoRA, audio or patch-embedding tensor of the model is absent from the file or
    /// has another shape. PEFT spellings (<c>base_model.model.</c>, <c>.base_layer.</c>) are accepted.
    /// </summary>
    public static OmniAvatarLoadReport LoadOmniAvatar(OmniAvatarModel model, string path, Lora? lora = null)
    {
        var full = Path.GetFullPath(path);
        using var sd = Checkpoint.Load(full);
        return LoadOmniAvatar(model, sd, full, lora);
    }

    public static OmniAvatarLoadReport LoadOmniAvatar(OmniAvatarModel model, IReadOnlyDictionary<string, Tensor> file, string source, Lora? lora = null)
    {
        bool remerge = lora?.Merged ?? false;
        lora?.Unmerge();
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, t) in file) state[Lora.NormalizeKey(k)] = t;
        var own = model.state_dict();
        var required = own.Keys.Where(IsTrainedKey).ToList();
        var absent = required.Where(k => !state.ContainsKey(k)).ToList();
        var mismatched = own.Where(kv => state.TryGetValue(kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key}: file [{string.Join(", ", state[kv.Key].shape)}], model [{string.Join(", ", kv.Value.shape)}]").ToList();
        if (absent.Count > 0 || mismatched.Count > 0)
            throw new InvalidDataException($"{source}: not an OmniAvatar checkpoint for this model" +
                (absent.Count > 0 ? $"\n  missing ({absent.Count}): {string.Join(", ", absent.Take(10))}{(absent.Count > 10 ? ", ..." : "")}" +
                    (absent.Any(Lora.IsLoraKey) && !state.Keys.Any(Lora.IsLoraKey) ? " (the file has no LoRA weights)" :
                     absent.Any(Lora.IsLoraKey) ? " (inject LoRA with the file's targets first)" : "") : "") +
                (mismatched.Count > 0 ? "\n  shape mismatch: " + string.Join("\n  shape mismatch: ", mismatched.Take(10)) : ""));
        var consumed = new List<string>();
        using (torch.no_grad())
            foreach (var (k, p) in own)
                if (state.TryGetValue(k, out var t)) { p.copy_(t); consumed.Add(k); }
        if (remerge) lora!.Merge();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var notInFile = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        return new OmniAvatarLoadReport(source, consumed, unexpected, notInFile);
    }
}
