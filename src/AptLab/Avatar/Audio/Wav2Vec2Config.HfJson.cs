using System.Text.Json;

namespace AptLab.Avatar.Audio;

public sealed partial record Wav2Vec2Config
{
    /// <summary>Reads a Hugging Face <c>config.json</c> (the one beside <c>pytorch_model.bin</c>). Keys this model does
    /// not use (vocab_size, dropouts, CTC settings, ...) are ignored; absent keys take transformers' defaults; a key of
    /// the wrong type is an error naming the key and the file. The result is validated.</summary>
    public static Wav2Vec2Config FromHfConfigFile(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"wav2vec2 config not found: {full}", full);
        return FromHfConfigJson(File.ReadAllText(full), full);
    }

    /// <summary>As <see cref="FromHfConfigFile"/>, from the JSON text (<paramref name="source"/> names it in errors).</summary>
    public static Wav2Vec2Config FromHfConfigJson(string json, string source = "<config.json>")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e); }
        using var _ = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: expected a JSON object");

        // Defaults are transformers' Wav2Vec2Config defaults (which are wav2vec2-base's values).
        var d = Base960h;
        var cfg = new Wav2Vec2Config(
            conv_dim: Ints(root, "conv_dim", d.conv_dim, source),
            conv_kernel: Ints(root, "conv_kernel", d.conv_kernel, source),
            conv_stride: Ints(root, "conv_stride", d.conv_stride, source),
            conv_bias: Bool(root, "conv_bias", d.conv_bias, source),
            feat_extract_norm: Str(root, "feat_extract_norm", d.feat_extract_norm, source),
            feat_extract_activation: Str(root, "feat_extract_activation", d.feat_extract_activation, source),
            hidden_size: Int(root, "hidden_size", d.hidden_size, source),
            num_hidden_layers: Int(root, "num_hidden_layers", d.num_hidden_layers, source),
            num_attention_heads: Int(root, "num_attention_heads", d.num_attention_heads, source),
            intermediate_size: Int(root, "intermediate_size", d.intermediate_size, source),
            hidden_act: Str(root, "hidden_act", d.hidden_act, source),
            layer_norm_eps: Num(root, "layer_norm_eps", d.layer_norm_eps, source),
            num_conv_pos_embeddings: Int(root, "num_conv_pos_embeddings", d.num_conv_pos_embeddings, source),
            num_conv_pos_embedding_groups: Int(root, "num_conv_pos_embedding_groups", d.num_conv_pos_embedding_groups, source),
            do_stable_layer_norm: Bool(root, "do_stable_layer_norm", d.do_stable_layer_norm, source),
            mask_time_prob: Num(root, "mask_time_prob", d.mask_time_prob, source));
        if (Num(root, "mask_feature_prob", 0, source) > 0 && cfg.mask_time_prob == 0)
            cfg = cfg with { mask_time_prob = Num(root, "mask_feature_prob", 0, source) };  // HF: either creates masked_spec_embed
        try { return cfg.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{source}: {e.Message}", e); }
    }

    private static InvalidDataException TypeError(string source, string key, string expected, JsonElement v) =>
        new($"{source}: key '{key}' must be {expected}, got {v.ValueKind} {v.GetRawText()}");

    private static int Int(JsonElement o, string key, int dflt, string source)
    {
        if (!o.TryGetProperty(key, out var v)) return dflt;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw TypeError(source, key, "an integer", v);
    }

    private static double Num(JsonElement o, string key, double dflt, string source)
    {
        if (!o.TryGetProperty(key, out var v)) return dflt;
        return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw TypeError(source, key, "a number", v);
    }

    private static bool Bool(JsonElement o, string key, bool dflt, string source)
    {
        if (!o.TryGetProperty(key, out var v)) return dflt;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw TypeError(source, key, "true or false", v),
        };
    }

    private static string Str(JsonElement o, string key, string dflt, string source)
    {
        if (!o.TryGetProperty(key, out var v)) return dflt;
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw TypeError(source, key, "a string", v);
    }

    private static int[] Ints(JsonElement o, string key, int[] dflt, string source)
    {
        if (!o.TryGetProperty(key, out var v)) return dflt;
        if (v.ValueKind != JsonValueKind.Array) throw TypeError(source, key, "a list of integers", v);
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i) ? i
            : throw TypeError(source, key, "a list of integers", v)).ToArray();
    }
}
