using System.Globalization;

namespace AptLab.Training;

/// <summary>Durations as a progress line shows them, hours included: "42 s", "3 m 07 s", "2 h 05 m", "1 d 03 h".</summary>
public static class Eta
{
    public static string Format(TimeSpan t)
    {
        if (t < TimeSpan.Zero || double.IsNaN(t.TotalSeconds)) return "?";
        long s = (long)Math.Round(t.TotalSeconds);
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        string D2(long v) => v.ToString("00", CultureInfo.InvariantCulture);
        if (s < 60) return $"{I(s)} s";
        if (s < 3600) return $"{I(s / 60)} m {D2(s % 60)} s";
        long m = (s + 30) / 60;                                             // whole minutes from here on
        if (m < 24 * 60) return $"{I(m / 60)} h {D2(m % 60)} m";
        long h = (m + 30) / 60;
        return $"{I(h / 24)} d {D2(h % 24)} h";
    }

    /// <summary>The time left for <paramref name="remaining"/> more steps at the mean time per step so far
    /// (<paramref name="elapsed"/> over <paramref name="done"/> steps); unknown before the first step.</summary>
    public static TimeSpan? Remaining(TimeSpan elapsed, int done, int remaining) =>
        done <= 0 ? null : TimeSpan.FromSeconds(elapsed.TotalSeconds / done * Math.Max(0, remaining));
}
