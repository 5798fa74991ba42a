namespace AptLab.Tests;

/// <summary>Where tests find the repository, the shared reference cases and scratch space.</summary>
public static class TestPaths
{
    /// <summary>The repository root (the folder holding AptLab.sln).</summary>
    public static string Repo { get; } = FindRepo();

    /// <summary>The numerical reference cases (made by running the official code): ../shared/reference beside the
    /// clone, or the folder named by APTLAB_REFERENCE_DIR (another case set made by the same generators, e.g. other
    /// seeds and shapes: the reference tests read every shape and setting from the case files and must pass on it).</summary>
    public static string Reference =>
        Environment.GetEnvironmentVariable("APTLAB_REFERENCE_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.GetFullPath(Path.Combine(Repo, "..", "shared", "reference"));

    public static string ReferenceFile(string name)
    {
        var p = Path.Combine(Reference, name);
        if (!File.Exists(p))
            throw new FileNotFoundException($"reference case file not found: {p} (shared/ must sit beside the clone, or APTLAB_REFERENCE_DIR name the case folder)");
        return p;
    }

    /// <summary>A config of the repository's configs/ folder.</summary>
    public static string Config(string name) => Path.Combine(Repo, "configs", name);

    /// <summary>Small fixtures committed with the tests (tests/AptLab.Tests/Fixtures).</summary>
    public static string Fixture(string name) => Path.Combine(Repo, "tests", "AptLab.Tests", "Fixtures", name);

    /// <summary>The shim's live-tensor count once every earlier test's unreachable tensors are finalized: tensors
    /// that were never disposed are freed by the finalizer thread at a time of its choosing, which would otherwise
    /// move a before/after comparison.</summary>
    public static long SettledLiveTensors()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return torch.live_tensors();
    }

    /// <summary>A fresh temporary directory, deleted by the caller's using.</summary>
    public static TempDir Temp() => new();

    private static string FindRepo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "AptLab.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("AptLab.sln not found above " + AppContext.BaseDirectory);
    }
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "aptlab-test-" + Guid.NewGuid().ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
