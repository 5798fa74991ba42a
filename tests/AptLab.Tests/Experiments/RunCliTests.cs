using System.Diagnostics;
using AptLab.Experiments;

namespace AptLab.Tests.Experiments;

/// <summary>`aptlab run` as a user runs it: a live progress bar on a terminal (under script(1), a real pty), the
/// console saved as run.log, and a config whose input path does not resolve failing before any run folder exists.</summary>
public class RunCliTests
{
    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";

    private static (int Code, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, string cwd)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        psi.Environment["TERM"] = "xterm-256color";
        psi.Environment["COLUMNS"] = "160";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), "aptlab run did not exit");       // hang guard, not a timing check
        return (p.ExitCode, output, err.Result);
    }

    // A config outside the checkout: relative paths in it are relative to its own folder.
    private static string Config(TempDir tmp, string text)
    {
        var path = tmp.File("run.yaml");
        File.WriteAllText(path, $"base: {Path.Combine(TestPaths.Repo, "configs", "demo-smoke.yaml")}\nresults: results\n{text}");
        return path;
    }

    [Fact]
    public void OnATerminalTheRunShowsLiveBarsAndSavesThePlainConsoleAsRunLog()
    {
        using var tmp = TestPaths.Temp();
        var config = Config(tmp, $"text: {{tokenizer: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}}}\n");
        var command = $"'{Dotnet}' '{Distributed.RankProcess.CliDll}' run '{config}' --run-id tty";
        var (code, stdout, stderr) = Run("script", ["-qfec", command, "/dev/null"], tmp.Path);   // stdout is a pty
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("\u001b[", stdout);                                                      // ANSI: the live display
        Assert.Contains("━", stdout);                                                            // Spectre's bar
        Assert.Contains("[apt_image] 3/3", stdout);

        var run = Path.Combine(tmp.Path, "results", "demo-smoke", "tty");
        var log = File.ReadAllText(Path.Combine(run, "run.log"));
        Assert.DoesNotContain('\u001b', log);                                                    // plain text
        Assert.Contains("[vae] done in", log);
        Assert.Contains("[apt_image] step 3/3", log);                                           // the bars' periodic plain lines
        Assert.Contains("## APT vs consistency distillation", log);
        Assert.Contains($"results: {run}", log);
    }

    [Fact]
    public void ABadInputPathFailsBeforeAnyRunFolderIsCreated()
    {
        using var tmp = TestPaths.Temp();
        var config = Config(tmp, "text: {tokenizer: nope/spiece.model}\n");
        var (code, _, stderr) = Run(Dotnet, [Distributed.RankProcess.CliDll, "run", config], TestPaths.Repo);
        Assert.Equal(2, code);
        Assert.Contains($"{config}: 'text.tokenizer': file not found: {Path.Combine(tmp.Path, "nope", "spiece.model")}", stderr);
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, "results")), "a run folder was created");

        var badCheckpoint = Config(tmp, "experiment: distill\ndistill: {from: results/demo-teacher/latest}\n" +
                                        $"text: {{tokenizer: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}}}\n");
        (code, _, stderr) = Run(Dotnet, [Distributed.RankProcess.CliDll, "run", badCheckpoint], TestPaths.Repo);
        Assert.Equal(2, code);
        Assert.Contains("config key 'distill.from': no run under", stderr);
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, "results", "demo-smoke")), "a run folder was created");
    }

    [Fact]
    public void RelativePathsAreRelativeToTheRepositoryRootWhereverAptlabStarts()
    {
        Assert.Equal(TestPaths.Repo, ExperimentPaths.BaseOf(Path.Combine(TestPaths.Repo, "configs", "demo.yaml")));
        using var tmp = TestPaths.Temp();
        Assert.Equal(tmp.Path, ExperimentPaths.BaseOf(tmp.File("c.yaml")));
        var cfg = DemoSmokeRun.Load("demo-smoke.yaml");
        cfg.Text.Tokenizer = "configs/demo/spiece.model";
        cfg.Apt.Student = "/abs/cd.safetensors";
        ExperimentPaths.Resolve(cfg, TestPaths.Repo);
        Assert.Equal(Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model"), cfg.Text.Tokenizer);
        Assert.Equal(Path.Combine(TestPaths.Repo, "results"), cfg.Results);
        Assert.Equal("/abs/cd.safetensors", cfg.Apt.Student);
        Assert.Equal("", cfg.Distill.From);                                                     // empty stays "none"
    }
}
