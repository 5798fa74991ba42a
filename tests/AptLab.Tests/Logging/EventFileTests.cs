using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using AptLab.Data.Media;
using AptLab.Logging;

namespace AptLab.Tests.Logging;

public class EventFileTests
{
    private const double FixedTime = 1700000000.5;

    private static SummaryWriterOptions Fixed(int flushEvery = 1) => new()
    {
        Clock = () => FixedTime, HostName = "golden", ProcessId = 42, FlushEveryRecords = flushEvery, FlushEverySeconds = 0,
    };

    /// <summary>The run stored as Fixtures/Logging/golden.tfevents (independently checked with crcmod + protoc,
    /// see check_tfevents.py). Set APTLAB_REGEN_GOLDEN=1 to rewrite the fixture.</summary>
    private static string WriteGoldenRun(string dir)
    {
        using var w = new SummaryWriter(dir, Fixed());
        w.AddScalar("loss", 0.25, 3);
        w.AddText("notes", "**hello** APT", 4);
        w.AddHistogram("w", [0.5, 1.5, 1.5, 2.5, 5.0], 5, [0, 1, 2, 3, 4, 5]);
        w.AddHparams(new Dictionary<string, object> { ["lr"] = 1e-4, ["teacher"] = "wan2.1-t2v-1.3b", ["ema"] = true },
                     new Dictionary<string, double> { ["eval/fid"] = 12.5 }, 6);
        return w.FilePath;
    }

    [Fact]
    public void GoldenBytes()
    {
        using var tmp = TestPaths.Temp();
        var bytes = File.ReadAllBytes(WriteGoldenRun(tmp.Path));
        var golden = TestPaths.Fixture("Logging/golden.tfevents");
        if (Environment.GetEnvironmentVariable("APTLAB_REGEN_GOLDEN") == "1") File.WriteAllBytes(golden, bytes);
        Assert.Equal(File.ReadAllBytes(golden), bytes);
    }

    [Fact]
    public void FirstRecordMatchesHandAssembledBytes()
    {
        using var tmp = TestPaths.Temp();
        string path;
        using (var w = new SummaryWriter(tmp.Path, Fixed())) path = w.FilePath;
        var file = File.ReadAllBytes(path);

        // Event{wall_time (field 1, fixed64) = 1700000000.5, file_version (field 3, string) = "brain.Event:2"}
        var ev = new List<byte> { 0x09 };
        ev.AddRange(BitConverter.GetBytes(FixedTime));
        ev.Add(0x1A); ev.Add(13);
        ev.AddRange(Encoding.ASCII.GetBytes("brain.Event:2"));
        var expected = new List<byte>();
        var len = BitConverter.GetBytes((ulong)ev.Count);
        expected.AddRange(len);
        expected.AddRange(BitConverter.GetBytes(Crc32C.Mask(Crc32C.Compute(len))));
        expected.AddRange(ev);
        expected.AddRange(BitConverter.GetBytes(Crc32C.Mask(Crc32C.Compute(ev.ToArray()))));
        Assert.Equal(16 + 24, file.Length);
        Assert.Equal(expected.ToArray(), file);
    }

    [Fact]
    public void FileNameFollowsTheConvention()
    {
        using var tmp = TestPaths.Temp();
        using var a = new SummaryWriter(tmp.Path, Fixed());
        using var b = new SummaryWriter(tmp.Path, Fixed());
        var m = Regex.Match(Path.GetFileName(a.FilePath), @"^events\.out\.tfevents\.(\d{10})\.golden\.42\.(\d+)$");
        Assert.True(m.Success, a.FilePath);
        Assert.Equal("1700000000", m.Groups[1].Value);
        var n = Regex.Match(Path.GetFileName(b.FilePath), @"\.(\d+)$");
        Assert.Equal(int.Parse(m.Groups[2].Value) + 1, int.Parse(n.Groups[1].Value));   // one new file per writer
        Assert.Equal(2, EventFileReader.FindEventFiles(tmp.Path).Count);
    }

    [Fact]
    public void WriteThenReadEveryKind()
    {
        using var tmp = TestPaths.Temp();
        var image = new RgbImage(5, 3);
        for (int i = 0; i < image.Pixels.Length; i++) image.Pixels[i] = (byte)(i * 17);
        var audio = Enumerable.Range(0, 800).Select(i => 0.5f * MathF.Sin(2 * MathF.PI * 440 * i / 8000f)).ToArray();
        double t = 1000;
        using (var w = new SummaryWriter(tmp.Path, new SummaryWriterOptions { Clock = () => t += 0.5, FlushEveryRecords = 100 }))
        {
            for (int s = 0; s < 5; s++) w.AddScalar("train/loss", 1.0 / (s + 1), s * 10);
            w.AddImage("samples/apt_1step", image, 40);
            w.AddHistogram("weights/w", [0.5, 1.5, 1.5, 2.5, 5.0], 41, [0, 1, 2, 3, 4, 5]);
            w.AddText("config", "# run\nlr = 1e-4 — ünïcode", 42);
            w.AddAudio("audio/clip", audio, 8000, 43);
            w.AddScalars([new("a", 1.5), new("b", -2)], 44);
        }
        var events = EventFileReader.ReadRun(tmp.Path);
        Assert.Equal(SummaryWriter.FileVersion, events[0].FileVersion);
        Assert.Equal(1000.5, events[0].WallTime);
        Assert.Equal(11, events.Count);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.Second.WallTime == p.First.WallTime + 0.5));

        var loss = EventFileReader.Scalars(events, "train/loss");
        Assert.Equal([0L, 10, 20, 30, 40], loss.Steps);
        for (int s = 0; s < 5; s++) Assert.Equal((double)(float)(1.0 / (s + 1)), loss.Values[s]);

        var img = events.SelectMany(e => e.Values).Single(v => v.Tag == "samples/apt_1step").Image!;
        Assert.Equal((3, 5, 3), (img.Height, img.Width, img.Colorspace));
        Assert.Equal(image.Pixels, Png.Decode(img.EncodedImage).Pixels);

        var h = events.SelectMany(e => e.Values).Single(v => v.Tag == "weights/w").Histogram!;
        Assert.Equal([0.0, 1, 2, 3, 4, 5], h.BucketLimit);
        Assert.Equal([0.0, 1, 2, 1, 0, 1], h.Bucket);
        Assert.Equal((0.5, 5.0, 5.0, 11.0, 36.0), (h.Min, h.Max, h.Num, h.Sum, h.SumSquares));

        var text = events.Single(e => e.Step == 42).Values.Single();
        Assert.Equal("text", text.Metadata!.PluginName);
        Assert.Empty(text.Metadata.Content);
        Assert.Equal(TbDataType.String, text.Tensor!.DType);
        Assert.Equal([1L], text.Tensor.Shape);
        Assert.Equal("# run\nlr = 1e-4 — ünïcode", Encoding.UTF8.GetString(text.Tensor.StringVal.Single()));

        var au = events.Single(e => e.Step == 43).Values.Single().Audio!;
        Assert.Equal((8000f, 1L, 800L, "audio/wav"), (au.SampleRate, au.NumChannels, au.LengthFrames, au.ContentType));
        var wav = Wav.Decode(au.EncodedAudio);
        Assert.Equal(800, wav.Frames);
        Assert.True(wav.Samples.Zip(audio).Max(p => Math.Abs(p.First - p.Second)) < 1.0 / 32767);

        var pair = events.Single(e => e.Step == 44).Values;
        Assert.Equal(["a", "b"], pair.Select(v => v.Tag));
        Assert.Equal([1.5f, -2f], pair.Select(v => v.SimpleValue!.Value));
    }

    [Fact]
    public void HparamsSummariesCarryThePluginData()
    {
        using var tmp = TestPaths.Temp();
        WriteGoldenRun(tmp.Path);
        var events = EventFileReader.ReadRun(tmp.Path);
        var hp = events.SelectMany(e => e.Values).Where(v => v.Metadata?.PluginName == "hparams").ToList();
        Assert.Equal([HparamsData.ExperimentTag, HparamsData.SessionStartTag, HparamsData.SessionEndTag], hp.Select(v => v.Tag));
        // HParamsPluginData{session_end_info (4) = SessionEndInfo{status (1) = 1, end_time_secs (2) = FixedTime}}
        var end = new List<byte> { 0x08, 0x01, 0x11 };
        end.AddRange(BitConverter.GetBytes(FixedTime));
        Assert.Equal(new byte[] { 0x22, (byte)end.Count }.Concat(end).ToArray(), hp[2].Metadata!.Content);
        var start = Encoding.UTF8.GetString(hp[1].Metadata!.Content);
        Assert.Contains("teacher", start);
        Assert.Contains("wan2.1-t2v-1.3b", start);
        Assert.Equal(12.5, EventFileReader.Scalars(events, "eval/fid").Values.Single());
    }

    [Fact]
    public void CorruptedBytesAreDetected()
    {
        using var tmp = TestPaths.Temp();
        var path = WriteGoldenRun(tmp.Path);
        var good = File.ReadAllBytes(path);
        int secondRecord = 16 + (int)BinaryPrimitives.ReadUInt64LittleEndian(good);

        var data = (byte[])good.Clone();
        data[secondRecord + 12 + 3] ^= 0x01;                          // a byte inside the second record's payload
        File.WriteAllBytes(path, data);
        var e = Assert.Throws<InvalidDataException>(() => EventFileReader.Read(path).ToList());
        Assert.Contains("data CRC", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Contains($"byte {secondRecord}", e.Message);

        data = (byte[])good.Clone();
        data[secondRecord] ^= 0x40;                                   // the length field
        File.WriteAllBytes(path, data);
        Assert.Contains("length CRC", Assert.Throws<InvalidDataException>(() => EventFileReader.Read(path).ToList()).Message);

        data = good[..^5];                                            // a writer cut off mid-record
        File.WriteAllBytes(path, data);
        Assert.Equal(5, EventFileReader.Read(path).Count());
        Assert.Throws<InvalidDataException>(() => EventFileReader.Read(path, tolerateTruncatedTail: false).ToList());
    }

    [Fact]
    public void FlushPolicyEveryNRecordsAndOnDispose()
    {
        using var tmp = TestPaths.Temp();
        var w = new SummaryWriter(tmp.Path, Fixed(flushEvery: 3));
        Assert.Single(EventFileReader.Read(w.FilePath));              // the file_version record is flushed at once
        w.AddScalar("x", 1, 1);
        w.AddScalar("x", 2, 2);
        Assert.Single(EventFileReader.Read(w.FilePath));              // two records still buffered
        w.AddScalar("x", 3, 3);                                       // third record: flush
        Assert.Equal(4, EventFileReader.Read(w.FilePath).Count());
        w.AddScalar("x", 4, 4);
        Assert.Equal(4, EventFileReader.Read(w.FilePath).Count());
        w.Dispose();
        Assert.Equal([1.0, 2, 3, 4], EventFileReader.Scalars(EventFileReader.Read(w.FilePath), "x").Values);
        Assert.Throws<ObjectDisposedException>(() => w.AddScalar("x", 5, 5));
    }
}
