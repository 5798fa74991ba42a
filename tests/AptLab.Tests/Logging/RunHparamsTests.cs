using AptLab.Logging;
using AptLab.Tests.Experiments;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace AptLab.Tests.Logging;

/// <summary>A finished demo-smoke run's hparams for TensorBoard's HParams tab, decoded back from the event file:
/// the plugin's three summaries, the config values in session_start_info, and the final metrics as scalars.</summary>
[Collection("demo-smoke")]
public class RunHparamsTests(DemoSmokeRun demo)
{
    // The fields of one protobuf message: (field number, wire type, value bytes or varint).
    private static List<(int Field, byte[] Bytes, ulong Varint)> Fields(byte[] message)
    {
        var input = new CodedInputStream(message);
        var fields = new List<(int, byte[], ulong)>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int field = WireFormat.GetTagFieldNumber(tag);
            switch (WireFormat.GetTagWireType(tag))
            {
                case WireFormat.WireType.LengthDelimited: fields.Add((field, input.ReadBytes().ToByteArray(), 0)); break;
                case WireFormat.WireType.Varint: fields.Add((field, [], input.ReadUInt64())); break;
                case WireFormat.WireType.Fixed64: fields.Add((field, BitConverter.GetBytes(input.ReadFixed64()), 0)); break;
                default: input.SkipLastField(); break;
            }
        }
        return fields;
    }

    [Fact]
    public void HparamsAndFinalMetricsReadBackFromTheEventFile()
    {
        using var tmp = TestPaths.Temp();
        var dir = Path.Combine(tmp.Path, "demo-smoke", "copy");                 // a copy: the shared run stays as it is
        Directory.CreateDirectory(dir);
        foreach (var f in new[] { "config.yaml", "metrics.csv", "comparison.csv" }) File.Copy(demo.Run.File(f), Path.Combine(dir, f));
        RunHparams.Write(dir, step: 7);

        var events = EventFileReader.ReadRun(Path.Combine(dir, "events"));
        var plugin = events.SelectMany(e => e.Values).Where(v => v.Metadata?.PluginName == "hparams").ToList();
        Assert.Equal(["_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"], plugin.Select(v => v.Tag));

        // session_start_info (HParamsPluginData field 3): hparams map<string, Value> (field 1)
        var start = Fields(Fields(plugin[1].Metadata!.Content).Single(f => f.Field == 3).Bytes);
        var hparams = start.Where(f => f.Field == 1).Select(f => Fields(f.Bytes))
            .ToDictionary(e => e.Single(x => x.Field == 1).Bytes is var k ? System.Text.Encoding.UTF8.GetString(k) : "",
                          e => Value.Parser.ParseFrom(e.Single(x => x.Field == 2).Bytes));
        Assert.Equal(demo.Config.Apt.Image.R1Lambda, hparams["apt.image.r1_lambda"].NumberValue);
        Assert.Equal(demo.Config.Apt.Video.Updates, hparams["apt.video.updates"].NumberValue);
        Assert.Equal("demo", hparams["experiment"].StringValue);
        // experiment (field 2): one hparam_info (4) per hparam, one metric_info (5) per metric
        var experiment = Fields(Fields(plugin[0].Metadata!.Content).Single(f => f.Field == 2).Bytes);
        Assert.Equal(hparams.Count, experiment.Count(f => f.Field == 4));
        var (_, metrics) = RunHparams.Collect(dir);
        Assert.Equal(metrics.Count, experiment.Count(f => f.Field == 5));
        Assert.Equal(1UL, Fields(Fields(plugin[2].Metadata!.Content).Single(f => f.Field == 4).Bytes).Single(f => f.Field == 1).Varint);   // status success

        var run = RunReader.Open(dir);
        var lossD = EventFileReader.Scalars(events, "hparams/apt_image/loss_d");
        Assert.Equal([7L], lossD.Steps);
        Assert.Equal((float)run.Series("apt_image/loss_d").Values[^1], (float)lossD.Values[0]);
        var fd = EventFileReader.Scalars(events, "hparams/fd/image/APT 1 step");
        var c = run.Comparison();
        int row = Enumerable.Range(0, (int)c.Rows.Count).Single(i => (string)c["kind"][i] == "image" && (string)c["method"][i] == "APT 1 step");
        Assert.Equal((float)(double)c["frechet_distance"][row], (float)fd.Values[0]);
    }
}
