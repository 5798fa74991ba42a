namespace AptLab.Torch;

/// <summary>
/// The hook of the kill-and-resume tests (docs/reliability.md#5-resuming): with <c>APTLAB_TEST_KILL_AT=POINT</c> in the
/// environment, the process stops when it reaches POINT, prints <c>kill point reached: POINT</c> on stderr and waits
/// there, so a test can kill it with a real SIGKILL at a chosen moment. Points: <c>PHASE:STEP</c> after a training
/// step was logged and reported (<c>vae:2</c>, <c>apt_image:3</c>; reported by the progress reporter of every training
/// loop) and <c>commit:FILE</c> when an atomically written file (<c>commit:apt_image-step-000002.safetensors</c>) is
/// complete under its temporary name and not yet renamed. Without the variable a point costs one comparison.
/// </summary>
public static class KillPoint
{
    public const string Variable = "APTLAB_TEST_KILL_AT";

    private static readonly string? Target = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } v ? v : null;

    /// <summary>Stops here (forever) when <paramref name="point"/> is the configured kill point.</summary>
    public static void Reached(string point)
    {
        if (Target is null || !string.Equals(point, Target, StringComparison.Ordinal)) return;
        Console.Out.Flush();
        Console.Error.WriteLine($"kill point reached: {point}");
        Console.Error.Flush();
        Thread.Sleep(Timeout.Infinite);
    }

    /// <summary>The point <c>PHASE:STEP</c> (checked without building the string when no kill point is set).</summary>
    public static void Reached(string phase, long step)
    {
        if (Target is not null) Reached($"{phase}:{step}");
    }
}
