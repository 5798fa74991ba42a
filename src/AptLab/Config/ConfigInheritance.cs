using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace AptLab.Config;

/// <summary>
/// Reads a config file into YAML events for the deserializer. <c>base: other.yaml</c> at the top of a config: the file
/// is read on top of <c>other.yaml</c> (a path relative to the file; bases may have bases). Mappings merge key by key,
/// recursively; a scalar or a list replaces the base's value. Every file is first checked by <see cref="YamlGuard"/>
/// (syntax, depth, alias expansion). The (merged) tree is replayed as YAML events that keep every node's own position,
/// with the positions of each file offset into a range of its own, so an error still names the file and line it came
/// from, and the dotted key at a position (<see cref="KeyAt"/>) or the line of a key (<see cref="Where"/>) can be found.
/// </summary>
internal sealed class ConfigInheritance
{
    public const string BaseKey = "base";
    private readonly List<(string file, long offset, long length)> files = new();
    private readonly List<string> texts = new();
    private readonly Dictionary<long, string> keyAt = new();                 // mark index of a key or value -> dotted key
    private readonly Dictionary<string, Mark> keyMarks = new(StringComparer.Ordinal);   // dotted key -> its key's mark

    /// <summary>The events of <paramref name="path"/> (merged with its bases) and the map of positions.</summary>
    public static (IParser parser, ConfigInheritance map) Read(string path, string text)
    {
        var map = new ConfigInheritance();
        var root = map.Read(path, text, new List<string>());
        var events = new List<ParsingEvent> { new StreamStart(), new DocumentStart() };
        map.Emit(root, "", events);
        events.Add(new DocumentEnd(true));
        events.Add(new StreamEnd());
        return (new Replay(events), map);
    }

    /// <summary>The file (and its line) that a position in the merged stream belongs to.</summary>
    public (string file, long line, long column) Locate(Mark mark)
    {
        foreach (var (file, offset, length) in files)
            if (mark.Index >= offset && mark.Index <= offset + length) return (file, mark.Line, mark.Column);
        return (files[0].file, mark.Line, mark.Column);
    }

    /// <summary>The dotted key (<c>teacher.num_heads</c>, <c>compare.methods[1].model</c>) whose key or value starts at
    /// <paramref name="mark"/>, or null.</summary>
    public string? KeyAt(Mark mark) => keyAt.TryGetValue(mark.Index, out var k) ? k : null;

    /// <summary>"file:line" of <paramref name="key"/> as written, or of its nearest written ancestor; null if none is.</summary>
    public string? Where(string key)
    {
        for (var k = key; k.Length > 0; k = Parent(k))
            if (keyMarks.TryGetValue(k, out var m))
            {
                var (file, line, _) = Locate(m);
                return $"{file}:{line}";
            }
        return null;
    }

    /// <summary>True when <paramref name="key"/> itself is written in the config (or a base).</summary>
    public bool IsWritten(string key) => keyMarks.ContainsKey(key);

    /// <summary>The source text between two marks of one file (a scalar as written), or null.</summary>
    public string? TextAt(Mark start, Mark end)
    {
        for (int i = 0; i < files.Count; i++)
        {
            var (_, offset, length) = files[i];
            if (start.Index < offset || end.Index > offset + length || end.Index < start.Index) continue;
            return texts[i].Substring((int)(start.Index - offset), (int)(end.Index - start.Index));
        }
        return null;
    }

    internal static string Parent(string key)
    {
        int cut = Math.Max(key.LastIndexOf('.'), key.EndsWith(']') ? key.LastIndexOf('[') : -1);
        return cut < 0 ? "" : key[..cut];
    }

    // The YAML tree with positions offset per file (YamlDotNet's nodes keep read-only positions).
    private abstract record Node(Mark Start, Mark End);
    private sealed record ScalarNode(string Value, TagName Tag, ScalarStyle Style, Mark Start, Mark End) : Node(Start, End);
    private sealed record ListNode(List<Node> Items, SequenceStyle Style, Mark Start, Mark End) : Node(Start, End);
    private sealed record MapNode(List<(ScalarNode Key, Node Value)> Items, MappingStyle Style, Mark Start, Mark End) : Node(Start, End)
    {
        public int IndexOf(string key) => Items.FindIndex(kv => kv.Key.Value == key);
    }

    private Node Read(string path, string text, List<string> chain)
    {
        var full = Path.GetFullPath(path);
        if (chain.Contains(full)) throw new ConfigException($"{path}: circular '{BaseKey}' chain ({string.Join(" -> ", chain.Append(full))})");
        chain.Add(full);
        YamlGuard.Check(text, path);
        var stream = new YamlStream();
        try { stream.Load(new StringReader(text)); }
        catch (YamlException e) { throw new ConfigException($"{path}:{e.Start.Line}:{e.Start.Column}: {e.Message}"); }
        long offset = files.Count == 0 ? 0 : files[^1].offset + files[^1].length + 1;
        files.Add((path, offset, text.Length));
        texts.Add(text);
        if (stream.Documents.Count == 0) throw new ConfigException($"{path}: the config is empty");
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException($"{path}: the config must be a mapping of keys");
        var node = (MapNode)Convert(root, offset, path);
        int at = node.IndexOf(BaseKey);
        if (at < 0) return node;
        var baseNode = node.Items[at].Value;
        if (baseNode is not ScalarNode { Value: { Length: > 0 } baseName })
            throw new ConfigException($"{path}:{baseNode.Start.Line}: '{BaseKey}' must be the path of another config");
        node.Items.RemoveAt(at);
        var basePath = Path.Combine(Path.GetDirectoryName(full)!, baseName);
        if (!File.Exists(basePath)) throw new ConfigException($"{path}:{baseNode.Start.Line}: base config not found: {basePath}");
        return Merge(Read(basePath, File.ReadAllText(basePath), chain), node);
    }

    private static Node Merge(Node under, Node over)
    {
        if (under is not MapNode u || over is not MapNode o) return over;
        var items = new List<(ScalarNode, Node)>();
        foreach (var (k, v) in u.Items)
        {
            int i = o.IndexOf(k.Value);
            items.Add(i < 0 ? (k, v) : (o.Items[i].Key, Merge(v, o.Items[i].Value)));
        }
        foreach (var (k, v) in o.Items) if (u.IndexOf(k.Value) < 0) items.Add((k, v));
        return new MapNode(items, o.Style, o.Start, o.End);
    }

    private static Node Convert(YamlNode node, long offset, string path)
    {
        Mark S(Mark m) => new(m.Index + offset, m.Line, m.Column);
        return node switch
        {
            YamlScalarNode s => new ScalarNode(s.Value ?? "", s.Tag, s.Style, S(s.Start), S(s.End)),
            YamlSequenceNode q => new ListNode(q.Children.Select(c => Convert(c, offset, path)).ToList(), q.Style, S(q.Start), S(q.End)),
            YamlMappingNode m => new MapNode(m.Children.Select(kv => (
                    (ScalarNode)Convert(kv.Key is YamlScalarNode ? kv.Key
                        : throw new ConfigException($"{path}:{kv.Key.Start.Line}: keys must be plain names"), offset, path),
                    Convert(kv.Value, offset, path))).ToList(), m.Style, S(m.Start), S(m.End)),
            _ => throw new ConfigException($"{path}:{node.Start.Line}: unsupported YAML node"),
        };
    }

    // Replays the tree as events, indexing each key's and value's position by its dotted key. Where a block mapping
    // starts at its first key, the deeper key wins (an unknown key is then found in its own section).
    private void Emit(Node node, string key, List<ParsingEvent> events)
    {
        if (key.Length > 0) keyAt[node.Start.Index] = key;
        switch (node)
        {
            case ScalarNode s:
                bool plain = s.Style is ScalarStyle.Plain or ScalarStyle.Any;
                events.Add(new Scalar(AnchorName.Empty, s.Tag, s.Value, s.Style, plain, !plain, s.Start, s.End));
                break;
            case ListNode q:
                events.Add(new SequenceStart(AnchorName.Empty, TagName.Empty, true, q.Style, q.Start, q.End));
                for (int i = 0; i < q.Items.Count; i++) Emit(q.Items[i], $"{key}[{i}]", events);
                events.Add(new SequenceEnd(q.End, q.End));
                break;
            case MapNode m:
                events.Add(new MappingStart(AnchorName.Empty, TagName.Empty, true, m.Style, m.Start, m.End));
                foreach (var (k, v) in m.Items)
                {
                    var child = key.Length == 0 ? k.Value : key + "." + k.Value;
                    keyMarks.TryAdd(child, k.Start);
                    Emit(k, child, events);
                    Emit(v, child, events);
                }
                events.Add(new MappingEnd(m.End, m.End));
                break;
        }
    }

    private sealed class Replay(List<ParsingEvent> events) : IParser
    {
        private int i = -1;
        public ParsingEvent? Current => i >= 0 && i < events.Count ? events[i] : null;
        public bool MoveNext() => ++i < events.Count;
    }
}
