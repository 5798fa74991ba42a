using System.Diagnostics;
using System.Text.Json.Nodes;

namespace AptLab.Bench;

/// <summary>A Python benchmark script kept running and driven one command line at a time (stdin → one JSON line
/// on stdout), so that C# and PyTorch measurements can alternate in the same run.</summary>
public sealed class PythonWorker : IDisposable
{
    private readonly Process process;
    private readonly Task<string> stderr;

    private PythonWorker(Process p)
    {
        process = p;
        stderr = p.StandardError.ReadToEndAsync();
    }

    /// <summary>Starts python/<paramref name="script"/> under Debian's python3, or returns null (with a note on
    /// stderr) when python3 or its torch is missing.</summary>
    public static PythonWorker? Start(string script, params string[] args)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "python", script);
        try
        {
            var psi = new ProcessStartInfo(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            psi.ArgumentList.Add(path);
            foreach (var a in args) psi.ArgumentList.Add(a);
            // the same OpenMP wait policy as this process (see OpenMpPolicy), so both sides run alike
            if (OpenMpPolicy.WaitPolicy.Length > 0) psi.Environment[OpenMpPolicy.Variable] = OpenMpPolicy.WaitPolicy;
            return new PythonWorker(Process.Start(psi)!);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine("bench: python3 not found; no PyTorch comparison");
            return null;
        }
    }

    /// <summary>Sends one command and returns its JSON reply, or null if the worker died (its last error line is
    /// printed).</summary>
    public JsonObject? Ask(string command)
    {
        try
        {
            process.StandardInput.WriteLine(command);
            process.StandardInput.Flush();
            var line = process.StandardOutput.ReadLine();
            if (line is not null) return JsonNode.Parse(line)!.AsObject();
        }
        catch (IOException) { }
        process.WaitForExit(5000);
        Console.Error.WriteLine($"bench: python comparison unavailable ({stderr.Result.Trim().Split('\n').LastOrDefault()})");
        return null;
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.StandardInput.WriteLine("quit");
                process.StandardInput.Flush();
                if (!process.WaitForExit(10000)) process.Kill();
            }
        }
        catch (IOException) { }
        process.Dispose();
    }
}
