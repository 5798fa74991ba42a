using AptLab.Torch.IO;
using static AptLab.Tests.Engine.IO.SafetensorsTestFiles;

namespace AptLab.Tests.Engine.IO;

/// <summary>Each violation of the safetensors rules gives one InvalidDataException naming the file (and the tensor),
/// and creates no tensor.</summary>
public class SafetensorsCorruptionTests
{
    private static readonly byte[] Twenty = new byte[20];

    private static InvalidDataException Rejects(string path)
    {
        long before = TestPaths.SettledLiveTensors();
        var e = Assert.Throws<InvalidDataException>(() => { using var sd = Checkpoint.Load(path); });
        Assert.Contains(path, e.Message);
        Assert.Equal(before, torch.live_tensors());
        return e;
    }

    [Fact]
    public void Well_formed_two_tensor_file_loads()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("ok.safetensors");
        var data = new byte[20];
        BitConverter.GetBytes(1.5f).CopyTo(data, 8);
        Write(path, TwoTensors(0, 8, 8, 20), data);
        using var _ = torch.NewScope();
        using var sd = Checkpoint.Load(path);
        Assert.Equal(new float[] { 1.5f, 0, 0 }, sd["b"].data<float>());
    }

    [Fact]
    public void Truncated_file_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("trunc.safetensors");
        Write(path, TwoTensors(0, 8, 8, 20), Twenty[..15]);
        var e = Rejects(path);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("'b'", e.Message);

        File.WriteAllBytes(path, new byte[5]);
        Assert.Contains("truncated", Rejects(path).Message);
    }

    [Fact]
    public void Header_length_past_end_of_file_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("len.safetensors");
        Write(path, TwoTensors(0, 8, 8, 20), Twenty, declaredLength: 10_000);
        Assert.Contains("header length 10000 runs past the end", Rejects(path).Message);

        Write(path, TwoTensors(0, 8, 8, 20), Twenty, declaredLength: 100_000_008);
        Assert.Contains("exceeds the limit", Rejects(path).Message);
    }

    [Fact]
    public void Overlapping_offsets_are_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("overlap.safetensors");
        Write(path, TwoTensors(0, 8, 4, 16), Twenty[..16]);
        var e = Rejects(path);
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains("overlap", e.Message);
    }

    [Fact]
    public void Gap_between_tensors_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("gap.safetensors");
        Write(path, TwoTensors(0, 8, 12, 24), new byte[24]);
        var e = Rejects(path);
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains("gap of 4 bytes", e.Message);
    }

    [Fact]
    public void Size_not_matching_shape_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("size.safetensors");
        Write(path, TwoTensors(0, 8, 8, 20, bShape: "[2, 2]"), Twenty);
        var e = Rejects(path);
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains("needs 16", e.Message);
    }

    [Fact]
    public void Unused_bytes_after_the_last_tensor_are_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("tail.safetensors");
        Write(path, TwoTensors(0, 8, 8, 20), new byte[28]);
        Assert.Contains("8 unused bytes", Rejects(path).Message);
    }

    [Fact]
    public void Duplicate_keys_are_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("dup.safetensors");
        Write(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", new byte[16]);
        Assert.Contains("duplicate key 'a'", Rejects(path).Message);
    }

    [Fact]
    public void Non_json_header_is_rejected()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("json.safetensors");
        Write(path, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], ", new byte[8]);
        Assert.Contains("not valid UTF-8 JSON", Rejects(path).Message);

        Write(path, "[1, 2, 3]", []);
        Assert.Contains("not an object", Rejects(path).Message);
    }

    [Fact]
    public void Unknown_dtype_is_invalid_and_known_unsupported_dtype_is_refused_by_name()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("dtype.safetensors");
        Write(path, "{\"a\":{\"dtype\":\"F13\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]);
        Assert.Contains("unknown dtype 'F13'", Rejects(path).Message);

        // F8_E4M3 is a valid safetensors dtype the engine cannot hold: the file validates, loading refuses it.
        Write(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[4,8]}}", new byte[8]);
        using var f = Safetensors.Open(path);
        Assert.Null(f.Info("q").ScalarType);
        long before = TestPaths.SettledLiveTensors();
        var e = Assert.Throws<NotSupportedException>(() => f.LoadAll());
        Assert.Contains("'q'", e.Message);
        Assert.Contains("F8_E4M3", e.Message);
        Assert.Equal(before, torch.live_tensors());
    }

    [Fact]
    public void Missing_shard_names_the_shard_and_the_index()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var t = new Dictionary<string, Tensor> { ["a"] = torch.ones(100), ["b"] = torch.ones(100) };
        var index = Safetensors.SaveSharded(dir.Path, "model", t, maxShardBytes: 400);
        File.Delete(dir.File("model-00002-of-00002.safetensors"));
        var e = Rejects(index);
        Assert.Contains("missing shard 'model-00002-of-00002.safetensors'", e.Message);
        Assert.Contains("model.safetensors.index.json", e.Message);
    }

    [Fact]
    public void Index_naming_a_tensor_its_shard_lacks_is_rejected()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        Safetensors.Save(dir.File("s1.safetensors"), new Dictionary<string, Tensor> { ["a"] = torch.ones(2) });
        File.WriteAllText(dir.File("m.safetensors.index.json"), "{\"weight_map\": {\"a\": \"s1.safetensors\", \"ghost\": \"s1.safetensors\"}}");
        var e = Rejects(dir.File("m.safetensors.index.json"));
        Assert.Contains("'ghost'", e.Message);
    }
}
