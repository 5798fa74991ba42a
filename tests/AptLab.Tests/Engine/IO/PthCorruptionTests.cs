using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>Damaged torch.save archives fail with one InvalidDataException naming the file, before any tensor exists.</summary>
public class PthCorruptionTests
{
    // The archive with its content damaged; the entries' CRCs are recomputed unless the damage is to the archive
    // itself, so each test reaches the check it is about (the CRC check has a test of its own, in HostilePthTests).
    private static string Damaged(TempDir dir, string fixture, Func<byte[], byte[]> damage, bool keepCrcs = false)
    {
        var path = dir.File("damaged-" + fixture);
        var bytes = damage(File.ReadAllBytes(PthFixtureTests.Fixture(fixture)));
        File.WriteAllBytes(path, keepCrcs ? bytes : ZipCrcs.Refresh(bytes));
        return path;
    }

    private static InvalidDataException Rejects(string path)
    {
        long before = TestPaths.SettledLiveTensors();
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Equal(before, torch.live_tensors());
        return e;
    }

    private static byte[] Replace(byte[] b, byte[] from, byte[] to, bool all = false)
    {
        var s = Convert.ToHexString(b);
        var f = Convert.ToHexString(from);
        int i = s.IndexOf(f, StringComparison.Ordinal);
        Assert.True(i >= 0 && i % 2 == 0, "pattern not found in fixture");
        var r = all ? s.Replace(f, Convert.ToHexString(to)) : s[..i] + Convert.ToHexString(to) + s[(i + f.Length)..];
        return Convert.FromHexString(r);
    }

    [Fact]
    public void Truncated_archive_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var e = Rejects(Damaged(dir, "plain.pt", b => b[..(b.Length / 2)], keepCrcs: true));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Storage_size_lie_is_rejected()
    {
        using var dir = TestPaths.Temp();
        // The first persistent id claims 21 floats; the entry holds 20.
        var e = Rejects(Damaged(dir, "shared.pt", b => Replace(b, "cpuq\x06K\x14t"u8.ToArray(), "cpuq\x06K\x15t"u8.ToArray())));
        Assert.Contains("'shared/data/0' has 80 bytes but 21 x float32 needs 84", e.Message);
    }

    [Fact]
    public void View_outside_its_storage_is_rejected()
    {
        using var dir = TestPaths.Temp();
        // view = base[1:, ::2] claims size (3, 9): it would read past the 20-element storage.
        var e = Rejects(Damaged(dir, "shared.pt", b => Replace(b, "QK\x05K\x03K\x03"u8.ToArray(), "QK\x05K\x03K\x09"u8.ToArray())));
        Assert.Contains("lies outside its storage '0'", e.Message);
    }

    [Fact]
    public void Missing_storage_entry_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var e = Rejects(Damaged(dir, "shared.pt", b => Replace(b, "shared/data/0"u8.ToArray(), "shared/data/9"u8.ToArray(), all: true), keepCrcs: true));
        Assert.Contains("storage entry 'shared/data/0' is missing", e.Message);
    }

    [Fact]
    public void Not_a_checkpoint_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("text.pt");
        File.WriteAllText(path, "hello, not a zip");
        Assert.Contains("not a torch.save zip archive", Rejects(path).Message);
    }
}
