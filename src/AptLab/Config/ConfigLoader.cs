using System.Collections;
using System.Reflection;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace AptLab.Config;

/// <summary>
/// Loads typed configs from YAML: keys are snake_case (<c>num_heads</c> binds <c>NumHeads</c>); an unknown key, a
/// value of the wrong type or malformed YAML is an error naming the file, line and key; after binding every
/// <see cref="IValidatable"/> section validates itself, recursively. A file may start from another with
/// <c>base: other.yaml</c> and override only what differs (<see cref="ConfigInheritance"/>).
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
        if (!File.Exists(path)) throw new ConfigException($"config file not found: {path}");
        var text = File.ReadAllText(path);
        if (ConfigInheritance.TryMerge(path, text) is not var (parser, map)) return Parse<T>(text, path);
        T? value;
        try { value = Deserializer.Deserialize<T>(parser); }
        catch (YamlException e)
        {
            var (file, line, column) = map.Locate(e.Start);
            throw new ConfigException($"{file}:{line}:{column}: {Describe(e)}");
        }
        if (value is null) throw new ConfigException($"{path}: the config is empty");
        Validate(value, "", path);
        return value;
    }

    public static T Parse<T>(string yaml, string? file = null) where T : class
    {
        T? value;
        try
        {
            value = Deserializer.Deserialize<T>(yaml);
        }
        catch (YamlException e)
        {
            throw new ConfigException($"{file ?? "<config>"}:{e.Start.Line}:{e.Start.Column}: {Describe(e)}");
        }
        if (value is null) throw new ConfigException($"{file ?? "<config>"}: the config is empty");
        Validate(value, "", file);
        return value;
    }

    /// <summary>The config as YAML (for the run folder's resolved config).</summary>
    public static string ToYaml(object config) => Serializer.Serialize(config);

    /// <summary>Validates <paramref name="value"/> and every nested section, depth first.</summary>
    public static void Validate(object value, string key, string? file)
    {
        foreach (var p in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || p.PropertyType.IsPrimitive || p.PropertyType == typeof(string)) continue;
            var child = p.GetValue(value);
            var childKey = (key.Length == 0 ? "" : key + ".") + UnderscoredNamingConvention.Instance.Apply(p.Name);
            if (child is IValidatable) Validate(child, childKey, file);
            else if (child is IList list)
                for (int i = 0; i < list.Count; i++)
                    if (list[i] is IValidatable) Validate(list[i]!, $"{childKey}[{i}]", file);
        }
        if (value is IValidatable v) v.Validate(key.Length == 0 ? "(root)" : key, file);
    }

    private static string Describe(YamlException e)
    {
        // YamlDotNet nests the useful message (e.g. "Property 'foo' not found on type ...") in inner exceptions.
        var msg = e.InnerException?.Message ?? e.Message;
        if (msg.StartsWith("Property '") && msg.Contains("not found on type"))
        {
            var name = msg.Split('\'')[1];
            var type = msg[(msg.LastIndexOf(' ') + 1)..].TrimEnd('.').Split('.').Last();
            return $"unknown key '{name}' (not a setting of {type})";
        }
        return msg;
    }
}
