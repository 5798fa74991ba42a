using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace AptLab.Config;

/// <summary>
/// Checks a YAML text before anything is built from it, in one streaming pass over the parser's events (no tree, no
/// recursion): the syntax (errors name file, line and column, including the unclosed-<c>{</c> case where YamlDotNet
/// throws a bare InvalidOperationException), the nesting depth, and the size the document has once its aliases are
/// expanded. A 385-byte "billion laughs" document of nested aliases expands to billions of nodes; configs are a few
/// hundred, so anything beyond <see cref="MaxExpandedNodes"/> is refused before any expansion happens.
/// </summary>
internal static class YamlGuard
{
    /// <summary>Nodes (scalars, lists, mappings) a config may have with every alias expanded.</summary>
    public const long MaxExpandedNodes = 100_000;
    /// <summary>How deep lists and mappings may nest.</summary>
    public const int MaxDepth = 64;

    public static void Check(string text, string file)
    {
        var parser = new Parser(new StringReader(text));
        var anchors = new Dictionary<string, long>(StringComparer.Ordinal);   // anchor -> expanded size of its node
        var open = new Stack<(string? anchor, long size)>();                  // collections being read
        var flows = new Stack<(Mark at, char bracket)>();                      // open '{' / '[' collections
        long total = 0;
        Mark last = Mark.Empty;

        void Add(long size, Mark at)
        {
            if (open.Count > 0)
            {
                var (a, s) = open.Pop();
                open.Push((a, s + size));
            }
            else total += size;
            long pending = total + open.Sum(f => f.size);
            if (size > MaxExpandedNodes || pending > MaxExpandedNodes)
                throw new ConfigException($"{file}:{at.Line}:{at.Column}: the YAML aliases expand this config beyond {MaxExpandedNodes:N0} values " +
                                          "(nested '*' references, as in a \"billion laughs\" document); AptLab refuses it");
        }

        try
        {
            while (parser.MoveNext())
            {
                var e = parser.Current!;
                last = e.End;
                switch (e)
                {
                    case Scalar s:
                        if (!s.Anchor.IsEmpty) anchors[s.Anchor.Value] = 1;
                        Add(1, s.Start);
                        break;
                    case AnchorAlias a:
                        if (!anchors.TryGetValue(a.Value.Value, out var size))
                            throw new ConfigException($"{file}:{a.Start.Line}:{a.Start.Column}: alias '*{a.Value.Value}' refers to no anchor defined before it");
                        Add(size, a.Start);
                        break;
                    case NodeEvent n and (SequenceStart or MappingStart):
                        if (open.Count >= MaxDepth)
                            throw new ConfigException($"{file}:{n.Start.Line}:{n.Start.Column}: lists and mappings nest deeper than {MaxDepth} levels");
                        open.Push((n.Anchor.IsEmpty ? null : n.Anchor.Value, 1));
                        bool flow = n is MappingStart { Style: MappingStyle.Flow } || n is SequenceStart { Style: SequenceStyle.Flow };
                        flows.Push(flow ? (n.Start, n is MappingStart ? '{' : '[') : (Mark.Empty, ' '));
                        break;
                    case SequenceEnd or MappingEnd:
                        flows.Pop();
                        var (anchor, closed) = open.Pop();
                        if (anchor is not null) anchors[anchor] = closed;
                        Add(closed, e.Start);
                        break;
                }
            }
        }
        catch (YamlException e)
        {
            (Mark at, char bracket) = flows.FirstOrDefault(f => f.bracket != ' ', (at: Mark.Empty, bracket: ' '));
            var opened = bracket == ' ' ? "" : $" (the '{bracket}' opened at line {at.Line}, column {at.Column})";
            throw new ConfigException($"{file}:{e.Start.Line}:{e.Start.Column}: {e.Message}{opened}");
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner fails this way on some unterminated flow collections and quoted scalars
            (Mark at, char bracket) = flows.FirstOrDefault(f => f.bracket != ' ', (at: Mark.Empty, bracket: ' '));
            if (bracket != ' ')
                throw new ConfigException($"{file}:{at.Line}:{at.Column}: malformed YAML: the '{bracket}' opened at line {at.Line}, column {at.Column} is never closed");
            throw new ConfigException($"{file}:{last.Line}:{last.Column}: malformed YAML after this point (an unclosed quote?)");
        }
    }
}
