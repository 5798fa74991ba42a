using System.Diagnostics;
using System.Text.Json.Nodes;

namespace AptLab.Bench;

public static class Timing
{
    /// <summary>Best mean seconds per call over <paramref name="repeats"/> runs of <paramref name="inner"/> calls.</summary>
    public static double BestOf(Action fn, int repeats, int inner)
    {
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < inner; i++) fn();
            best = Math.Min(best, sw.Elapsed.TotalSeconds / inner);
        }
        return best;
    }

    /// <summary>Runs a Python benchmark script through Debian's python3-torch, or returns null if unavailable.</summary>
    public static JsonObject? Python(string script, params string[] args)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "python", script);
        try
        {
            var psi = new ProcessStartInfo(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(path);
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                Console.Error.WriteLine($"bench: python comparison unavailable ({stderr.Result.Trim().Split('\n').LastOrDefault()})");
                return null;
            }
            return JsonNode.Parse(stdout.Trim().Split('\n').Last())!.AsObject();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine("bench: python3 not found; no PyTorch comparison");
            return null;
        }
    }

    /// <summary>C# time / Python time for "lower is better" figures, Python / C# for rates: above 1 means C# is slower.</summary>
    public static double Ratio(double csharp, double python, bool rate = false) =>
        Math.Round(rate ? python / csharp : csharp / python, 3);
}
