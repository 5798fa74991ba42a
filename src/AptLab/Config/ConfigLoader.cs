using System.Collections;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace AptLab.Config;

/// <summary>
/// Loads typed configs from YAML: keys are snake_case (<c>num_heads</c> binds <c>NumHeads</c>). Every mistake is one
/// <see cref="ConfigException"/> naming the file, the line and the key (docs/reliability.md): malformed YAML, an
/// unknown key (with the keys the section knows), a value of the wrong type (with what was expected), a number that is
/// NaN or infinite, and, after binding, any value a section's own <see cref="IValidatable.Validate"/> refuses. A file may
/// start from another with <c>base: other.yaml</c> and override only what differs (<see cref="ConfigInheritance"/>);
/// aliases and nesting are bounded before anything is built (<see cref="YamlGuard"/>).
/// </summary>
public static class ConfigLoader
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithEnforceRequiredMembers()
        .Build();

    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.Preserve)
        .Build();

    public static T Load<T>(string path) where T : class
    {
        if (Directory.Exists(path)) throw new ConfigException($"{path}: is a folder, not a config file");
        if (!File.Exists(path)) throw new ConfigException($"config file not found: {path}");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigException($"{path}: cannot read it ({e.Message})"); }
        return Bind<T>(text, path);
    }

    public static T Parse<T>(string yaml, string? file = null) where T : class => Bind<T>(yaml, file ?? "<config>");

    private static T Bind<T>(string text, string file) where T : class
    {
        var (parser, map) = ConfigInheritance.Read(file, text);
        T? value;
        try { value = Deserializer.Deserialize<T>(parser); }
        catch (YamlException e) { throw Describe(e, map, typeof(T)); }
        if (value is null) throw new ConfigException($"{file}: the config is empty");
        try
        {
            CheckFinite(value, file, map.IsWritten);
            Validate(value, "", file);
        }
        catch (ConfigException e) when (e.Key is not null && map.Where(e.Key) is { } where) { throw e.At(where); }
        return value;
    }

    /// <summary>The config as YAML (for the run folder's resolved config).</summary>
    public static string ToYaml(object config) => Serializer.Serialize(config);

    /// <summary>Validates <paramref name="value"/> and every nested section, depth first. A section whose check fails
    /// with something other than a <see cref="ConfigException"/> (e.g. a division by a count set to 0) is reported as a
    /// config error naming the section.</summary>
    public static void Validate(object value, string key, string? file)
    {
        foreach (var p in value.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || p.PropertyType.IsValueType || p.PropertyType == typeof(string)) continue;   // sections are classes (parsed enums are read after the checks)
            var child = p.GetValue(value);
            var childKey = (key.Length == 0 ? "" : key + ".") + ConfigSchema.Snake(p.Name);
            if (child is IValidatable) Validate(child, childKey, file);
            else if (child is IList list)
                for (int i = 0; i < list.Count; i++)
                    if (list[i] is IValidatable) Validate(list[i]!, $"{childKey}[{i}]", file);
        }
        if (value is not IValidatable v) return;
        var section = key.Length == 0 ? "(root)" : key;
        try { v.Validate(section, file); }
        catch (ArithmeticException e)
        {
            var zeros = ConfigSchema.Settable(value.GetType())
                .Where(p => p.GetValue(value) is 0 or 0L).Select(p => ConfigSchema.Snake(p.Name)).ToList();
            if (zeros.Count == 1) throw ConfigException.For(file, $"{(key.Length == 0 ? "" : key + ".")}{zeros[0]}", "must be >= 1 (the section divides by it)");
            throw ConfigException.For(file, section, zeros.Count > 0
                ? $"{string.Join(", ", zeros)} are 0, and the section divides by one of them: use positive counts"
                : $"the values make its checks fail ({e.Message})");
        }
        catch (Exception e) when (e is InvalidOperationException or NullReferenceException or IndexOutOfRangeException or FormatException)
        {
            throw ConfigException.For(file, section, $"the values make its checks fail ({e.Message})");
        }
    }

    // Every number bound from a config must be finite: a NaN or infinite learning rate, scale or weight would only show
    // up hours later as a diverged run. Walks the bound sections (AptLab types), lists included.
    private static void CheckFinite(object root, string file, Func<string, bool> written)
    {
        var bad = new List<(string key, double value)>();
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        void Walk(object o, string key)
        {
            if (!seen.Add(o)) return;
            foreach (var p in ConfigSchema.Settable(o.GetType()).Where(p => p.CanRead))
            {
                var k = (key.Length == 0 ? "" : key + ".") + ConfigSchema.Snake(p.Name);
                object? v;
                try { v = p.GetValue(o); } catch (System.Reflection.TargetInvocationException) { continue; }
                switch (v)
                {
                    case double d when !double.IsFinite(d): bad.Add((k, d)); break;
                    case float f when !float.IsFinite(f): bad.Add((k, f)); break;
                    case string or null: break;
                    case IList list:
                        for (int i = 0; i < list.Count; i++)
                            if (list[i] is double ld && !double.IsFinite(ld)) bad.Add(($"{k}[{i}]", ld));
                            else if (list[i] is float lf && !float.IsFinite(lf)) bad.Add(($"{k}[{i}]", lf));
                            else if (list[i] is { } item && IsSection(item.GetType())) Walk(item, $"{k}[{i}]");
                        break;
                    default:
                        if (IsSection(v.GetType())) Walk(v, k);
                        break;
                }
            }
        }
        Walk(root, "");
        if (bad.Count == 0) return;
        var (badKey, badValue) = bad.FirstOrDefault(b => written(b.key), bad[0]);
        throw ConfigException.For(file, badKey, $"must be a finite number, got {ConfigException.Show(badValue)}");
    }

    private static bool IsSection(Type t) => t.IsClass && t.Namespace?.StartsWith("AptLab", StringComparison.Ordinal) == true;

    // A YamlDotNet binding error as a message naming the key and what it expects.
    private static ConfigException Describe(YamlException e, ConfigInheritance map, Type root)
    {
        var (file, line, column) = map.Locate(e.Start);
        var key = map.KeyAt(e.Start);
        Exception cause = e;
        while (cause.InnerException is not null) cause = cause.InnerException;
        var msg = cause.Message;
        if (msg.StartsWith("Property '") && msg.Contains("not found on type"))
        {
            var name = msg.Split('\'')[1];
            var section = key is null ? "" : key == name || key.EndsWith("." + name) ? ConfigInheritance.Parent(key) : key;
            var type = ConfigSchema.TypeAt(root, section);
            var known = type is null ? "" : "; known keys: " + string.Join(", ", ConfigSchema.Keys(type));
            return new ConfigException($"unknown key '{name}' {(section.Length == 0 ? "at the top level" : $"in section '{section}'")} " +
                                       $"({file}:{line}){known}");
        }
        if (key is not null && ConfigSchema.TypeAt(root, key) is { } target)
        {
            var written = map.TextAt(e.Start, e.End);
            return new ConfigException($"{file}:{line}:{column}: '{key}' must be {ConfigSchema.Expectation(target)}" +
                                       (string.IsNullOrEmpty(written) ? $" ({msg})" : $", got '{written}'"));
        }
        return new ConfigException($"{file}:{line}:{column}: " + (key is null ? msg : $"'{key}': {msg}"));
    }
}
