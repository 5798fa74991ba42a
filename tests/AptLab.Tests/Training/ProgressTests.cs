using AptLab.Training;

namespace AptLab.Tests.Training;

/// <summary>Progress lines and the console session: ETA with hours, the plain lines a redirected output gets, and the
/// run log (every line, plain text, also the lines written before the log file was named).</summary>
public class ProgressTests
{
    [Theory]
    [InlineData(0, "0 s")]
    [InlineData(42.4, "42 s")]
    [InlineData(187, "3 m 07 s")]
    [InlineData(3599, "59 m 59 s")]
    [InlineData(2 * 3600 + 5 * 60 + 10, "2 h 05 m")]                 // was printed as "05:10" (hours dropped)
    [InlineData(10 * 3600 + 59 * 60 + 50, "11 h 00 m")]
    [InlineData(27 * 3600 + 20 * 60, "1 d 03 h")]
    [InlineData(60, "1 m 00 s")]                                      // each unit's first value, not the previous unit's last
    [InlineData(3600, "1 h 00 m")]
    [InlineData(24 * 3600, "1 d 00 h")]
    [InlineData(-1, "?")]
    public void EtaKeepsHoursAndDays(double seconds, string expected) => Assert.Equal(expected, Eta.Format(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void EtaIsTheMeanStepTimeTimesTheStepsLeft()
    {
        Assert.Null(Eta.Remaining(TimeSpan.FromSeconds(5), 0, 10));
        Assert.Equal(TimeSpan.FromSeconds(2 * 3600 + 5 * 60), Eta.Remaining(TimeSpan.FromSeconds(125), 1, 60));
    }

    [Fact]
    public void ARedirectedOutputGetsTheFirstEveryKthAndLastStep()
    {
        var output = new StringWriter();
        var now = TimeSpan.Zero;
        var progress = new ProgressReporter("apt_image", 25, output, every: 10, clock: () => now);
        for (int step = 1; step <= 25; step++)
        {
            now = TimeSpan.FromSeconds(300 * step);                          // 5 minutes a step
            progress.Report(step, new Dictionary<string, double> { ["D"] = 1.0 / step }, batchSamples: 4);
        }
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["[apt_image] step 1/25", "[apt_image] step 10/25", "[apt_image] step 20/25", "[apt_image] step 25/25"],
                     lines.Select(l => l[..l.IndexOf("  ", StringComparison.Ordinal)]));
        Assert.Equal("[apt_image] step 1/25  D 1  0.0 samples/s  ETA 2 h 00 m", lines[0]);   // 24 steps x 5 min left
        Assert.EndsWith("ETA 1 h 15 m", lines[1]);                                         // 15 steps x 5 min
        Assert.EndsWith("ETA 25 m 00 s", lines[2]);
        Assert.EndsWith("ETA 0 s", lines[3]);
    }

    [Fact]
    public void TheSessionLogsEveryLineAsPlainTextOnceItKnowsTheFile()
    {
        using var tmp = TestPaths.Temp();
        var terminal = new StringWriter();
        using (var session = new ConsoleSession(terminal, interactive: false))
        {
            Assert.False(session.IsLive);
            session.WriteLine("[vae] starting");                              // before the run folder exists
            session.LogTo(tmp.File("run.log"));
            var progress = new ProgressReporter("vae", 2, session, every: 1);
            progress.Report(1, "mse 0.5");
            session.Write("partial ");
            session.Write("line\n");
            session.LogOnly("only in the log");
            Assert.Null(session.StartBar("x", 3));                             // no bars without a terminal
        }
        var log = File.ReadAllLines(tmp.File("run.log"));
        Assert.Equal("[vae] starting", log[0]);
        Assert.StartsWith("[vae] step 1/2  mse 0.5", log[1]);
        Assert.Equal("partial line", log[2]);
        Assert.Equal("only in the log", log[3]);
        Assert.Equal(log.Take(3), terminal.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
