using System.IO.Compression;
using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>
/// Hostile torch.save archives, built here byte by byte, give one clear InvalidDataException naming the file and leave
/// the process alive (the test host would die of a stack overflow otherwise): a list that contains itself (a 4-byte
/// pickle), 200k nested lists or tuples, a dict that is its own state_dict, a graph with 2^40 paths, and entries whose
/// bytes do not match their recorded CRC-32. Nothing is leaked (live tensor count).
/// </summary>
public class HostilePthTests
{
    /// <summary>A torch.save-shaped zip (archive/data.pkl + optional storages), entries stored, as the reader expects.</summary>
    internal static string WritePth(TempDir dir, string name, byte[] pickle, params (string entry, byte[] data)[] storages)
    {
        var path = dir.File(name);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            foreach (var (entry, data) in storages.Prepend(("data.pkl", pickle)).Append(("byteorder", "little"u8.ToArray())))
            {
                using var s = zip.CreateEntry("archive/" + entry, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        }
        return path;
    }

    private static InvalidDataException Rejects(string path)
    {
        long before = TestPaths.SettledLiveTensors();
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Equal(before, TestPaths.SettledLiveTensors());
        return e;
    }

    [Fact]
    public void A_list_that_contains_itself_is_refused_without_a_crash()
    {
        using var dir = TestPaths.Temp();
        // EMPTY_LIST, DUP, APPEND, STOP: l = []; l.append(l)
        var path = WritePth(dir, "self.pth", "]2a."u8.ToArray());
        var root = Assert.IsType<List<object?>>(PthFile.Load(path));
        Assert.Same(root, Assert.Single(root));                                   // the cycle is rebuilt, not unrolled
        Assert.Contains("holds a list, not a dict of tensors", Rejects(path).Message);
    }

    [Theory]
    [InlineData("lists")]
    [InlineData("tuples")]
    public void Nesting_200k_deep_is_refused_with_the_limit_named(string kind)
    {
        using var dir = TestPaths.Temp();
        const int depth = 200_000;
        var pkl = new MemoryStream();
        if (kind == "lists")
        {
            for (int i = 0; i < depth; i++) pkl.WriteByte((byte)']');              // EMPTY_LIST x depth
            for (int i = 1; i < depth; i++) pkl.WriteByte((byte)'a');              // APPEND each into the one below
        }
        else
        {
            pkl.WriteByte((byte)')');                                              // EMPTY_TUPLE
            for (int i = 1; i < depth; i++) pkl.WriteByte(0x85);                   // TUPLE1: (x,) around it
        }
        pkl.WriteByte((byte)'.');
        var path = WritePth(dir, kind + ".pth", pkl.ToArray());
        var e = Rejects(path);
        Assert.Contains($"nests containers deeper than {PthFile.MaxNesting} levels", e.Message);
    }

    [Fact]
    public void A_dict_that_is_its_own_state_dict_is_refused()
    {
        using var dir = TestPaths.Temp();
        // d = {}; d["state_dict"] = d: EMPTY_DICT, BINPUT 0, SHORT_BINUNICODE "state_dict", BINGET 0, SETITEM, STOP
        var pkl = new List<byte> { (byte)'}', (byte)'q', 0, 0x8c, 10 };
        pkl.AddRange("state_dict"u8.ToArray());
        pkl.AddRange(new byte[] { (byte)'h', 0, (byte)'s', (byte)'.' });
        Assert.Contains("contains itself", Rejects(WritePth(dir, "loop.pth", [.. pkl])).Message);
    }

    [Fact]
    public void A_graph_with_exponentially_many_paths_is_walked_once_per_container()
    {
        using var dir = TestPaths.Temp();
        // x0 = [t]; x(k+1) = [xk, xk]; {"state_dict": {"w": t}, "extra": x40}: 2^40 paths to t through 41 lists.
        var pkl = new List<byte> { 0x80, 2, (byte)'}', (byte)'(' };
        void Str(string s) { pkl.Add(0x8c); pkl.Add((byte)s.Length); pkl.AddRange(System.Text.Encoding.ASCII.GetBytes(s)); }
        Str("state_dict");
        pkl.Add((byte)'}'); Str("w"); pkl.AddRange(TensorPickle()); pkl.AddRange(new byte[] { (byte)'q', 1, (byte)'s' });   // {"w": t}, t memo 1
        Str("extra");
        pkl.Add((byte)']'); pkl.AddRange(new byte[] { (byte)'h', 1, (byte)'a' });                                              // x0 = [t]
        for (int k = 0; k < 40; k++) pkl.AddRange(new byte[] { (byte)'q', 2, (byte)']', (byte)'h', 2, (byte)'a', (byte)'h', 2, (byte)'a' });
        pkl.AddRange(new byte[] { (byte)'u', (byte)'.' });
        var path = WritePth(dir, "dag.pth", [.. pkl], ("data/0", BitConverter.GetBytes(1.5f)));
        long before = TestPaths.SettledLiveTensors();
        var load = Task.Run(() =>
        {
            using var sd = Checkpoint.Load(path);
            Assert.Equal(1.5f, sd["w"].item<float>());
            Assert.IsType<List<object?>>(sd.Extra["extra"]);
        });
        Assert.True(load.Wait(TimeSpan.FromMinutes(1)), "loading a 41-list graph did not finish (a walk that follows every path)");   // hang guard
        Assert.Equal(before, TestPaths.SettledLiveTensors());
    }

    // torch._utils._rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', 1), 0, (), (), False, OrderedDict())
    private static byte[] TensorPickle()
    {
        var b = new List<byte>();
        void Global(string module, string name) { b.Add((byte)'c'); b.AddRange(System.Text.Encoding.ASCII.GetBytes($"{module}\n{name}\n")); }
        void Str(string s) { b.Add(0x8c); b.Add((byte)s.Length); b.AddRange(System.Text.Encoding.ASCII.GetBytes(s)); }
        Global("torch._utils", "_rebuild_tensor_v2");
        b.Add((byte)'(');                                                          // MARK for the argument tuple
        b.Add((byte)'(');
        Str("storage"); Global("torch", "FloatStorage"); Str("0"); Str("cpu"); b.AddRange(new byte[] { (byte)'K', 1 });
        b.AddRange(new byte[] { (byte)'t', (byte)'Q' });                           // TUPLE, BINPERSID
        b.AddRange(new byte[] { (byte)'K', 0, (byte)')', (byte)')', 0x89 });       // offset 0, size (), stride (), False
        Global("collections", "OrderedDict"); b.AddRange(new byte[] { (byte)')', (byte)'R' });
        b.AddRange(new byte[] { (byte)'t', (byte)'R' });                           // TUPLE, REDUCE
        return [.. b];
    }

    [Theory]
    [InlineData("archive/data/0")]
    [InlineData("archive/data.pkl")]
    public void An_entry_whose_bytes_do_not_match_its_crc_is_named(string entry)
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var path = dir.File("model.pth");
        PthWriter.Save(path, new Dictionary<string, Tensor> { ["w"] = torch.arange(64, ScalarType.Float32) });
        using (var sd = Checkpoint.Load(path)) Assert.Equal(2016.0, sd["w"].sum().item<double>());   // intact: loads

        // flip one bit inside the entry's data (found through .NET's own zip reader)
        var bytes = File.ReadAllBytes(path);
        long offset = EntryDataOffset(path, entry);
        bytes[offset + 5] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        var e = Rejects(path);
        Assert.Contains($"entry '{entry}' fails its CRC-32 check", e.Message);
    }

    // The data offset of an entry: its local header (found by name) + 30 + name + extra.
    private static long EntryDataOffset(string path, string entry)
    {
        var b = File.ReadAllBytes(path);
        var name = System.Text.Encoding.ASCII.GetBytes(entry);
        for (int i = 0; i + 30 + name.Length <= b.Length; i++)
            if (b[i] == 'P' && b[i + 1] == 'K' && b[i + 2] == 3 && b[i + 3] == 4
                && BitConverter.ToUInt16(b, i + 26) == name.Length && b.AsSpan(i + 30, name.Length).SequenceEqual(name))
                return i + 30 + name.Length + BitConverter.ToUInt16(b, i + 28);
        throw new InvalidOperationException($"entry {entry} not found");
    }
}
