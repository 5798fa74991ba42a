namespace AptLab.Config;

/// <summary>A configuration error: names the file and the key (dotted path) at fault.</summary>
public sealed class ConfigException(string message) : Exception(message)
{
    public static ConfigException For(string? file, string key, string problem) =>
        new($"{file ?? "<config>"}: '{key}': {problem}");
}

/// <summary>A typed config section that checks its own values. <paramref name="key"/> is the section's dotted
/// path, used to name the offending key in errors.</summary>
public interface IValidatable
{
    void Validate(string key, string? file);
}
