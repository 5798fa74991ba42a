using AptLab.Data.Media;

namespace AptLab.Notebooks;

/// <summary>
/// Where Jupyter and the .NET Interactive kernel come from: Debian's python3 with nbconvert (python3-nbconvert,
/// python3-nbclient, jupyter-client, python3-ipykernel) and the <c>Microsoft.dotnet-interactive</c> local tool
/// (pinned in .config/dotnet-tools.json, restored by <c>dotnet tool restore</c>, registered as the
/// <c>.net-csharp</c> kernel by <c>dotnet interactive jupyter install</c>). `make deps` sets all of it up.
/// </summary>
public static class NotebookKernel
{
    /// <summary>The python3 with nbconvert: <c>APTLAB_PYTHON</c>, else Debian's /usr/bin/python3 (the packages are
    /// installed for it, whatever python3 comes first on PATH), else python3 on PATH.</summary>
    public static string Python()
    {
        if (Environment.GetEnvironmentVariable("APTLAB_PYTHON") is { Length: > 0 } p) return p;
        if (File.Exists("/usr/bin/python3")) return "/usr/bin/python3";
        return ToolProcess.FindOnPath("python3") ?? throw new FileNotFoundException("python3 not found: install Debian's python3-nbconvert (make deps)");
    }

    /// <summary>Null when nbconvert and the .net-csharp kernel are installed, else what is missing and how to install it.</summary>
    public static string? Missing()
    {
        string python;
        try { python = Python(); }
        catch (FileNotFoundException e) { return e.Message; }
        var probe = "import nbconvert, jupyter_client.kernelspec as k; print(k.KernelSpecManager().get_kernel_spec('" + NotebookRunner.KernelName + "').resource_dir)";
        var r = ToolProcess.Run(python, ["-c", probe], "the Jupyter setup", timeout: TimeSpan.FromMinutes(1), checkExitCode: false);
        if (r.ExitCode == 0) return null;
        return r.Stderr.Contains("No module named")
            ? $"{python} has no nbconvert: install Debian's python3-nbconvert python3-nbclient jupyter-client python3-ipykernel (make deps)"
            : $"the {NotebookRunner.KernelName} Jupyter kernel is not installed: run `make deps` (dotnet tool restore; dotnet interactive jupyter install)";
    }
}
