using System.Text;
using AptLab.Torch.IO;

namespace AptLab.Wan.Clip;

/// <summary>
/// Loading the vision tower from a CLIP checkpoint as it ships (docs/wan-clip.md). Accepted layouts:
/// <list type="bullet">
/// <item>the released <c>models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth</c> (an <c>XLMRobertaCLIP</c>
/// state dict: <c>visual.*</c>, <c>textual.*</c>, <c>log_scale</c>), fp32, bf16 or fp16, or a safetensors copy;</item>
/// <item>the same with every key prefixed by <c>model.</c> (DiffSynth's naming), with or without the text tower;</item>
/// <item>a bare vision-tower state dict (<c>patch_embedding.weight</c>, ...), e.g. a reference case's weights.</item>
/// </list>
/// The text tower's keys and <c>log_scale</c> are recognised by name and shape (from the <see cref="ClipConfig"/>)
/// and skipped without being read. Anything else that does not match (unknown keys, missing or mis-shaped vision
/// keys) is one error naming the file, the keys and their shapes; nothing is copied then.
/// </summary>
public static class ClipCheckpoint
{
    /// <summary>Prefix of DiffSynth's key names for the CLIP model.</summary>
    public const string DiffSynthPrefix = "model.";

    private const int ListedKeys = 12;

    /// <summary>Checks <paramref name="path"/> against <paramref name="encoder"/>'s tower and <paramref name="config"/>'s
    /// text tower from the key names and shapes alone, then reads and copies only the vision tensors.</summary>
    public static void LoadVisual(ClipImageEncoder encoder, string path, ClipConfig config)
    {
        var full = Path.GetFullPath(path);
        var shapes = Checkpoint.ReadShapes(full);                              // names and shapes, no data read
        var layout = Layout.Detect(shapes.Keys);
        var own = encoder.visual.state_dict();
        var skipped = layout.HasTextTower ? config.NonVisualShapes().ToDictionary(e => e.Key, e => e.Shape) : [];

        var unexpected = new List<string>();
        var mismatched = new List<string>();
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, shape) in shapes)
        {
            if (layout.VisualKey(key) is string vk && own.TryGetValue(vk, out var t))
            {
                found.Add(vk);
                if (!t.shape.SequenceEqual(shape)) mismatched.Add($"{key}: checkpoint has {Fmt(shape)}, the model expects {Fmt(t.shape)}");
            }
            else if (layout.Inner(key) is string ik && skipped.TryGetValue(ik, out var expected))
            {
                if (!expected.SequenceEqual(shape)) mismatched.Add($"{key}: checkpoint has {Fmt(shape)}, the text tower of this config has {Fmt(expected)}");
            }
            else unexpected.Add($"{key} {Fmt(shape)}");
        }
        var missing = own.Where(kv => !found.Contains(kv.Key)).Select(kv => $"{layout.Prefix}{kv.Key} {Fmt(kv.Value.shape)}").ToList();
        if (missing.Count > 0 || unexpected.Count > 0 || mismatched.Count > 0)
        {
            var sb = new StringBuilder($"{full}: not the CLIP checkpoint this config expects (vision tower dim {config.Vision.Dim}, {config.Vision.NumLayers} blocks, patch {config.Vision.PatchSize}):");
            Append(sb, "missing vision keys", missing);
            Append(sb, "unexpected keys", unexpected);
            Append(sb, "size mismatches", mismatched);
            throw new InvalidDataException(sb.ToString());
        }

        using var sd = Checkpoint.Load(full, keep: k => layout.VisualKey(k) is not null);
        var visual = sd.ToDictionary(kv => layout.VisualKey(kv.Key)!, kv => kv.Value);
        encoder.visual.load_state_dict(visual, strict: true, source: full);
    }

    private static void Append(StringBuilder sb, string what, List<string> items)
    {
        if (items.Count == 0) return;
        sb.Append($"\n  {what} ({items.Count}): ").Append(string.Join(", ", items.Take(ListedKeys)));
        if (items.Count > ListedKeys) sb.Append($", ... and {items.Count - ListedKeys} more");
    }

    private static string Fmt(long[] s) => "[" + string.Join(", ", s) + "]";

    /// <summary>How a file names its keys: an optional outer <c>model.</c> prefix, then either the full CLIP model
    /// (<c>visual.</c> + tower key, text tower beside it) or the bare tower.</summary>
    private sealed record Layout(string Outer, string Visual)
    {
        public string Prefix => Outer + Visual;
        public bool HasTextTower => Visual.Length > 0;

        public static Layout Detect(IEnumerable<string> keys)
        {
            var list = keys.ToList();
            string outer = list.Count > 0 && list.All(k => k.StartsWith(DiffSynthPrefix, StringComparison.Ordinal)) ? DiffSynthPrefix : "";
            bool full = list.Any(k => k.StartsWith(outer + ClipConfig.VisualPrefix, StringComparison.Ordinal));
            return new Layout(outer, full ? ClipConfig.VisualPrefix : "");
        }

        /// <summary>The key without the outer prefix, or null when it lacks it.</summary>
        public string? Inner(string key) => key.StartsWith(Outer, StringComparison.Ordinal) ? key[Outer.Length..] : null;

        /// <summary>The tower's own key for a checkpoint key of the vision part, else null.</summary>
        public string? VisualKey(string key) =>
            Inner(key) is string k && k.StartsWith(Visual, StringComparison.Ordinal) && (Visual.Length > 0 || !k.StartsWith(ClipConfig.TextualPrefix, StringComparison.Ordinal))
                ? k[Visual.Length..] : null;
    }
}
