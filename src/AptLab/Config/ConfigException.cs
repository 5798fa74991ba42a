namespace AptLab.Config;

/// <summary>A configuration error: names the file (and line, when known) and the key (dotted path) at fault.</summary>
public sealed class ConfigException(string message) : Exception(message)
{
    /// <summary>The dotted key at fault, when the error is about one key (<see cref="For"/>).</summary>
    public string? Key { get; private init; }
    /// <summary>What is wrong with it, without the location.</summary>
    public string? Problem { get; private init; }

    public static ConfigException For(string? file, string key, string problem) =>
        new($"{file ?? "<config>"}: '{key}': {problem}") { Key = key, Problem = problem };

    /// <summary>The same error located at "file:line" (the line the key was written on).</summary>
    internal ConfigException At(string where) =>
        Key is null ? this : new($"{where}: '{Key}': {Problem}") { Key = Key, Problem = Problem };

    /// <summary>Requires a finite number greater than zero (a learning rate, a scale): NaN and infinities are refused
    /// with the key named.</summary>
    public static void RequirePositive(double value, string? file, string key)
    {
        if (!double.IsFinite(value)) throw For(file, key, $"must be a finite number, got {Show(value)}");
        if (!(value > 0)) throw For(file, key, $"must be > 0, got {value:G6}");
    }

    public static string Show(double v) =>
        double.IsNaN(v) ? ".nan" : double.IsPositiveInfinity(v) ? ".inf" : double.IsNegativeInfinity(v) ? "-.inf" : v.ToString("G6");
}

/// <summary>A typed config section that checks its own values. <paramref name="key"/> is the section's dotted
/// path, used to name the offending key in errors.</summary>
public interface IValidatable
{
    void Validate(string key, string? file);
}
