using System.Collections;
using System.Reflection;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace AptLab.Config;

/// <summary>
/// What a typed config expects at a key, found by reflection on the config class: the type bound at a dotted path
/// (<c>apt.image.lr</c>, <c>compare.methods[0].model</c>), the keys a section accepts, and a plain-words description of
/// a value type ("a non-negative integer"). Used to turn binding errors into messages that name the key and say what
/// was expected.
/// </summary>
internal static class ConfigSchema
{
    /// <summary>The section's settable keys (snake_case), in declaration order.</summary>
    public static IReadOnlyList<string> Keys(Type section) =>
        Settable(section).Select(p => Snake(p.Name)).ToList();

    /// <summary>The type bound at <paramref name="path"/> under <paramref name="root"/>, or null when the path leaves
    /// the typed part (a dictionary value, an unknown key).</summary>
    public static Type? TypeAt(Type root, string path)
    {
        var type = root;
        if (path.Length == 0 || path == "(root)") return type;
        foreach (var raw in path.Split('.'))
        {
            var part = raw;
            int bracket = part.IndexOf('[');
            int indexes = bracket < 0 ? 0 : part.Count(c => c == '[');
            if (bracket >= 0) part = part[..bracket];
            var p = Settable(type).FirstOrDefault(p => Snake(p.Name) == part);
            if (p is null) return null;
            type = Unwrap(p.PropertyType);
            for (int i = 0; i < indexes; i++)
                type = ElementType(type) is { } e ? Unwrap(e) : null!;
            if (type is null) return null;
        }
        return type;
    }

    /// <summary>"a non-negative integer", "a number", "true or false", "a list", ...: what YAML value binds to
    /// <paramref name="type"/>.</summary>
    public static string Expectation(Type type)
    {
        type = Unwrap(type);
        if (type == typeof(byte) || type == typeof(ushort) || type == typeof(uint) || type == typeof(ulong))
            return "a non-negative integer" + (type == typeof(ulong) ? "" : $" (at most {type.GetField("MaxValue")!.GetValue(null)})");
        if (type == typeof(sbyte) || type == typeof(short) || type == typeof(int) || type == typeof(long))
            return $"an integer (from {type.GetField("MinValue")!.GetValue(null)} to {type.GetField("MaxValue")!.GetValue(null)})";
        if (type == typeof(float) || type == typeof(double) || type == typeof(decimal)) return "a number";
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(string)) return "a string";
        if (type.IsEnum) return "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()));
        if (ElementType(type) is not null) return "a list";
        return "a mapping of keys";
    }

    /// <summary>Public instance properties a YAML key binds to (settable or init-only, not [YamlIgnore]).</summary>
    public static IEnumerable<PropertyInfo> Settable(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.SetMethod!.IsPublic && p.GetIndexParameters().Length == 0
                        && p.GetCustomAttribute<YamlIgnoreAttribute>() is null);

    public static string Snake(string name) => UnderscoredNamingConvention.Instance.Apply(name);

    public static Type Unwrap(Type t) => Nullable.GetUnderlyingType(t) ?? t;

    public static Type? ElementType(Type t)
    {
        if (t == typeof(string)) return null;
        if (t.IsArray) return t.GetElementType();
        var list = t.GetInterfaces().Append(t).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IList<>));
        return list?.GetGenericArguments()[0] ?? (typeof(IList).IsAssignableFrom(t) ? typeof(object) : null);
    }
}
