using YamlDotNet.RepresentationModel;

namespace AptLab.Config;

/// <summary>One setting that differs between two configs: its dotted key and both values as YAML scalars (null when
/// the key is absent on that side).</summary>
public sealed record ConfigChange(string Key, string? Recorded, string? Given)
{
    public override string ToString() => $"{Key}: {Recorded ?? "(unset)"} -> {Given ?? "(unset)"}";
}

/// <summary>
/// The settings in which two typed configs differ, key by key (lists item by item), e.g. to refuse a <c>--resume</c>
/// whose config no longer matches the run's recorded <c>config.yaml</c> (a changed seed, learning rate or update count
/// would otherwise be applied silently while the record keeps the old values).
/// </summary>
public static class ConfigDiff
{
    /// <param name="ignore">Keys (and their sub-keys) not to compare, e.g. inputs resolved at launch or <c>threads</c>.</param>
    public static IReadOnlyList<ConfigChange> Changes(object recorded, object given, IEnumerable<string>? ignore = null)
    {
        var skip = (ignore ?? []).ToList();
        var a = Flatten(ConfigLoader.ToYaml(recorded));
        var b = Flatten(ConfigLoader.ToYaml(given));
        bool Ignored(string key) => skip.Any(s => key == s || key.StartsWith(s + ".", StringComparison.Ordinal) || key.StartsWith(s + "[", StringComparison.Ordinal));
        return a.Keys.Union(b.Keys).Where(k => !Ignored(k))
            .Select(k => new ConfigChange(k, a.GetValueOrDefault(k), b.GetValueOrDefault(k)))
            .Where(c => c.Recorded != c.Given).OrderBy(c => c.Key, StringComparer.Ordinal).ToList();
    }

    private static Dictionary<string, string?> Flatten(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var flat = new Dictionary<string, string?>(StringComparer.Ordinal);
        var work = new Stack<(YamlNode node, string key)>();
        if (stream.Documents.Count > 0) work.Push((stream.Documents[0].RootNode, ""));
        while (work.Count > 0)
        {
            var (node, key) = work.Pop();
            switch (node)
            {
                case YamlMappingNode m:
                    foreach (var (k, v) in m.Children) work.Push((v, key.Length == 0 ? ((YamlScalarNode)k).Value! : $"{key}.{((YamlScalarNode)k).Value}"));
                    break;
                case YamlSequenceNode s:
                    flat[key + ".count"] = s.Children.Count.ToString();
                    for (int i = 0; i < s.Children.Count; i++) work.Push((s.Children[i], $"{key}[{i}]"));
                    break;
                case YamlScalarNode v:
                    flat[key] = v.Value;
                    break;
            }
        }
        return flat;
    }
}
