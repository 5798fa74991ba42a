using AptLab.Human.Data;

namespace AptLab.Tests.Human;

/// <summary>The study's clips written by several workers are the ones one worker writes: the manifest in index order
/// byte for byte, every mp4 / wav / keypoints file the same bytes (x264 with one encoder per file is deterministic), and
/// an existing manifest is never rewritten. Catches a parallel writer that shuffles rows or clips.</summary>
public class TalkingFacesWriteTests
{
    [Fact]
    public void Parallel_writers_produce_the_single_writer_files()
    {
        using var tmp = TestPaths.Temp();
        var faces = new TalkingFaces(16, 5, seed: 3);
        string one = faces.Write(tmp.File("one"), 7, audioQualified: 0.6, withPose: 0.5, workers: 1);
        string two = faces.Write(tmp.File("two"), 7, audioQualified: 0.6, withPose: 0.5, workers: 3);
        var lines = File.ReadAllLines(one);
        Assert.Equal(lines, File.ReadAllLines(two));
        Assert.Equal(8, lines.Length);
        for (int i = 0; i < 7; i++) Assert.StartsWith($"clip{i:D4}.mp4,clip{i:D4}.wav,", lines[i + 1]);
        Assert.Contains(lines.Skip(1), l => l.Contains(".pose.json"));
        Assert.Contains(lines.Skip(1), l => !l.Contains(".pose.json"));
        var files = Directory.GetFiles(tmp.File("one")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(files, Directory.GetFiles(tmp.File("two")).Select(Path.GetFileName).Order().ToList());
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(tmp.File("one"), f!)).SequenceEqual(File.ReadAllBytes(Path.Combine(tmp.File("two"), f!))), f);

        File.WriteAllText(one, "user's manifest\n");
        Assert.Equal(one, faces.Write(tmp.File("one"), 7, 0.6, 0.5, workers: 2));
        Assert.Equal("user's manifest\n", File.ReadAllText(one));
        Assert.Throws<ArgumentOutOfRangeException>(() => faces.Write(tmp.File("three"), 7, 0.6, 0.5, workers: 0));
    }
}
