using AptLab.Tests.Distributed;

namespace AptLab.Tests.Reliability;

/// <summary>
/// The `aptlab` command meets a user's mistakes with ONE line, <c>error: ...</c>, naming the key and file (or the option
/// and path), no stack trace, exit code 2, nothing created and nothing of the user's touched (byte-compared): the cases
/// of issue 17, each of which used to end in an unhandled exception, a wasted run or a deleted file. The commands run as
/// the user runs them (the CLI's build output), all at once (<see cref="CliMistakeRuns"/>), one test case per mistake.
/// </summary>
public class CliMistakeTests(CliMistakeRuns runs) : IClassFixture<CliMistakeRuns>
{
    public static TheoryData<string> Mistakes => new(CliMistakeRuns.Cases.Keys.Where(k => k != CliMistakeRuns.CheckRun));

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void A_mistake_is_one_error_line_naming_what_is_wrong(string mistake)
    {
        var (p, expected) = runs.Result(mistake);
        var lines = p.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(p.ExitCode == 2 && lines.Length == 1 && lines[0].StartsWith("error: "), p.Describe(mistake));
        foreach (var part in expected) Assert.Contains(part, lines[0]);
        Assert.DoesNotContain("   at ", p.Stderr);                                   // no stack trace
        Assert.Equal("", p.Stdout.Trim());                                           // nothing ran: no model was built
        Assert.False(Directory.Exists(runs.File("results")), "a run folder was created");
        runs.AssertUserFilesIntact();
    }

    [Fact]
    public void Run_check_prints_the_resolved_config_and_creates_nothing()
    {
        var (p, _) = runs.Result(CliMistakeRuns.CheckRun);
        Assert.True(p.ExitCode == 0, p.Describe("run --check"));
        Assert.StartsWith("experiment: demo\n", p.Stdout);
        Assert.Contains("\nthreads: 1\n", p.Stdout);                                 // the count it would run with (OMP_NUM_THREADS=1)
        Assert.Contains($"results: {runs.File("results")}\n", p.Stdout);
        Assert.Contains("nothing was created", p.Stderr);
        Assert.False(Directory.Exists(runs.File("results")));
    }
}

/// <summary>Writes the mistaken inputs and the user's files, starts every command at once, waits for all.</summary>
public sealed class CliMistakeRuns : IDisposable
{
    public const string CheckRun = "run --check";
    private readonly TempDir dir = TestPaths.Temp();
    private readonly Dictionary<string, RankProcess> processes = new();
    private readonly Dictionary<string, byte[]> userFiles = new();

    public string File(string name) => dir.File(name);

    /// <summary>Mistake -> (its config, or null; the command line; what the error line must contain). {dir} is the
    /// test folder.</summary>
    public static readonly Dictionary<string, (string? yaml, string[] args, string[] expected)> Cases = new()
    {
        ["num_heads: 0"] = ("teacher:\n  num_heads: 0\n", ["run", "{cfg}"], ["{cfg}:4:", "'teacher.num_heads'", ">= 1"]),
        ["unclosed {"] = ("teacher: {dim: 4\nseed: 1\n", ["run", "{cfg}"], ["{cfg}:3:", "'{' opened at line 3, column 10"]),
        ["wrong type"] = ("teacher:\n  dim: abc\n", ["run", "{cfg}"], ["{cfg}:4:8:", "'teacher.dim' must be an integer", "'abc'"]),
        ["seed: -1"] = ("seed: -1\n", ["run", "{cfg}"], ["{cfg}:3:7:", "'seed' must be a non-negative integer, got '-1'"]),
        ["unknown key"] = ("teacher:\n  dimm: 3\n", ["run", "{cfg}"], ["unknown key 'dimm' in section 'teacher' ({cfg}:4); known keys: dim, ffn_dim, num_heads"]),
        ["infinite lr"] = ("distill:\n  lr: .inf\n", ["run", "{cfg}"], ["{cfg}:4:", "'distill.lr': must be a finite number, got .inf"]),
        ["NaN lr"] = ("apt:\n  video:\n    lr: .nan\n", ["run", "{cfg}"], ["{cfg}:5:", "'apt.video.lr': must be a finite number, got .nan"]),
        ["avatar --output an existing notes.txt"] = (null, ["avatar", "--config", "{dir}/tiny.yaml", "--image", "{dir}/ref.png", "--audio", "{dir}/speech.wav",
            "--prompt", "x", "--output", "{dir}/notes.txt"], ["--output {dir}/notes.txt", "'.txt' is not a video file extension"]),
        ["avatar --output a folder"] = (null, ["avatar", "--config", "{dir}/tiny.yaml", "--image", "{dir}/ref.png", "--audio", "{dir}/speech.wav",
            "--prompt", "x", "--output", "{dir}/videos"], ["--output {dir}/videos", "is a folder"]),
        ["avatar --output an existing video"] = (null, ["avatar", "--config", "{dir}/tiny.yaml", "--image", "{dir}/ref.png", "--audio", "{dir}/speech.wav",
            "--prompt", "x", "--output", "{dir}/videos/take1.mp4"], ["{dir}/videos/take1.mp4", "the file exists", "--overwrite"]),
        ["sample --out an existing file"] = (null, ["sample", "--config", "{repo}/configs/sample-tiny.yaml", "--prompt", "x", "--out", "{dir}/notes.txt"],
            ["--out {dir}/notes.txt", "is a file, not a folder"]),
        ["sample --out a folder with a sample"] = (null, ["sample", "--config", "{repo}/configs/sample-tiny.yaml", "--prompt", "x", "--out", "{dir}/videos"],
            ["--out {dir}/videos", "already holds sample.mp4"]),
        ["notebook run --out a folder with that notebook"] = (null, ["notebook", "run", "{repo}/notebooks/explore-run.ipynb", "--run", "{dir}/videos", "--out", "{dir}/nb"],
            ["--out {dir}/nb", "already holds explore-run.ipynb"]),
        // checked before the first model is built (they used to be met after models loaded, or stages ran)
        ["apt.world_size 2 on one process"] = ("text:\n  tokenizer: {repo}/configs/demo/spiece.model\napt:\n  world_size: 2\n", ["run", "{cfg}"], ["apt.world_size is 2", "1 rank(s)", "--nproc 2"]),
        ["sample --frames 6"] = (null, ["sample", "--config", "{repo}/configs/sample-tiny.yaml", "--prompt", "x", "--frames", "6", "--out", "{dir}/s1"],
            ["frames = 6 must be 1 + 4k"]),
        ["avatar --audio without sound"] = (null, ["avatar", "--config", "{dir}/tiny.yaml", "--image", "{dir}/ref.png", "--audio", "{dir}/ref.png",
            "--prompt", "x", "--output", "{dir}/new.mp4"], ["{dir}/ref.png", "--audio: has no audio stream"]),
        [CheckRun] = ("", ["run", "--check", "{cfg}"], []),
    };

    public CliMistakeRuns()
    {
        // the user's files, compared byte for byte after every command
        Directory.CreateDirectory(File("videos"));
        Directory.CreateDirectory(File("nb"));
        foreach (var (name, bytes) in new (string, byte[])[]
        {
            ("notes.txt", "my notes\n"u8.ToArray()), ("videos/take1.mp4", "not really a video"u8.ToArray()),
            ("videos/sample.mp4", "an earlier sample"u8.ToArray()), ("app.cs", "// my app\n"u8.ToArray()), ("nb/explore-run.ipynb", "{}"u8.ToArray()),
        })
        {
            System.IO.File.WriteAllBytes(File(name), bytes);
            userFiles[File(name)] = bytes;
        }
        // inputs that are fine: the avatar config, image and audio (never reached: the output is checked first)
        var tiny = System.IO.File.ReadAllText(Path.Combine(TestPaths.Repo, "configs", "omniavatar-tiny.yaml"))
            .Replace("tokenizer_path: configs/demo/spiece.model", $"tokenizer_path: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}")
            .Replace("output_dir: results/avatar-tiny", $"output_dir: {File("results")}");
        System.IO.File.WriteAllText(File("tiny.yaml"), tiny);
        AptLab.Data.Media.Png.Write(File("ref.png"), AptLab.Data.Media.RgbImage.Solid(48, 32, 200, 30, 30));
        AptLab.Data.Media.Wav.Write(File("speech.wav"), new float[1600], 16000, 1);

        foreach (var (name, (yaml, args, _)) in Cases)
        {
            var cfg = File(Slug(name) + ".yaml");
            if (yaml is not null)
                System.IO.File.WriteAllText(cfg, $"base: {Path.Combine(TestPaths.Repo, "configs", "demo.yaml")}\nresults: {File("results")}\n{Expand(yaml, cfg)}");
            processes[name] = RankProcess.Start(args.Select(a => Expand(a, cfg)), new Dictionary<string, string?>());
        }
        foreach (var (name, p) in processes)
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), $"{name}: aptlab did not exit");   // hang guard
    }

    private string Expand(string s, string cfg) => s.Replace("{cfg}", cfg).Replace("{dir}", dir.Path).Replace("{repo}", TestPaths.Repo);

    private static string Slug(string name) => new(name.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

    internal (RankProcess process, string[] expected) Result(string name) =>
        (processes[name], Cases[name].expected.Select(e => Expand(e, File(Slug(name) + ".yaml"))).ToArray());

    public void AssertUserFilesIntact()
    {
        foreach (var (path, bytes) in userFiles) Assert.Equal(bytes, System.IO.File.ReadAllBytes(path));
        Assert.Equal(["sample.mp4", "take1.mp4"], Directory.GetFiles(File("videos")).Select(Path.GetFileName).Order());
    }

    public void Dispose()
    {
        foreach (var p in processes.Values) p.Dispose();
        dir.Dispose();
    }
}
