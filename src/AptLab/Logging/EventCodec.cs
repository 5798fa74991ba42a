using Google.Protobuf;

namespace AptLab.Logging;

/// <summary>
/// Serialises <see cref="TbEvent"/> to TensorBoard's Event message and back, by hand with Google.Protobuf's
/// coded streams. Field numbers (see tensorboard_events.proto): Event{wall_time 1, step 2, file_version 3,
/// summary 5}; Summary{value 1}; Value{tag 1, simple_value 2, image 4, histo 5, audio 6, tensor 8,
/// metadata 9}; Image{height 1, width 2, colorspace 3, encoded_image_string 4}; Audio{sample_rate 1,
/// num_channels 2, length_frames 3, encoded_audio_string 4, content_type 5}; HistogramProto{min 1, max 2,
/// num 3, sum 4, sum_squares 5, bucket_limit 6, bucket 7}; TensorProto{dtype 1, tensor_shape 2,
/// tensor_content 4, float_val 5, double_val 6, string_val 8}; TensorShapeProto{dim 2}; Dim{size 1};
/// SummaryMetadata{plugin_data 1, display_name 2, summary_description 3, data_class 4};
/// PluginData{plugin_name 1, content 2}.
/// </summary>
public static class EventCodec
{
    public static byte[] Encode(TbEvent e)
    {
        var w = new ProtoWriter().Double(1, e.WallTime).Int64(2, e.Step);
        if (e.FileVersion is not null) w.String(3, e.FileVersion, always: true);
        if (e.Values.Count > 0)
        {
            var summary = new ProtoWriter();
            foreach (var v in e.Values) summary.Message(1, EncodeValue(v));
            w.Message(5, summary);
        }
        return w.ToArray();
    }

    private static ProtoWriter EncodeValue(TbValue v)
    {
        var w = new ProtoWriter().String(1, v.Tag);
        if (v.SimpleValue is float f) w.Float(2, f, always: true);
        if (v.Image is { } img)
            w.Message(4, new ProtoWriter().Int32(1, img.Height).Int32(2, img.Width).Int32(3, img.Colorspace).Bytes(4, img.EncodedImage));
        if (v.Histogram is { } h)
            w.Message(5, new ProtoWriter().Double(1, h.Min).Double(2, h.Max).Double(3, h.Num).Double(4, h.Sum).Double(5, h.SumSquares)
                                          .PackedDoubles(6, h.BucketLimit).PackedDoubles(7, h.Bucket));
        if (v.Audio is { } a)
            w.Message(6, new ProtoWriter().Float(1, a.SampleRate).Int64(2, a.NumChannels).Int64(3, a.LengthFrames)
                                          .Bytes(4, a.EncodedAudio).String(5, a.ContentType));
        if (v.Tensor is { } t)
        {
            var shape = new ProtoWriter();
            foreach (var d in t.Shape) shape.Message(2, new ProtoWriter().Int64(1, d));
            var tw = new ProtoWriter().Int32(1, (int)t.DType).Message(2, shape).Bytes(4, t.TensorContent)
                                      .PackedFloats(5, t.FloatVal).PackedDoubles(6, t.DoubleVal);
            foreach (var s in t.StringVal) tw.Bytes(8, s, always: true);
            w.Message(8, tw);
        }
        if (v.Metadata is { } m)
            w.Message(9, new ProtoWriter().Message(1, new ProtoWriter().String(1, m.PluginName).Bytes(2, m.Content))
                                          .String(2, m.DisplayName).String(3, m.SummaryDescription).Int32(4, m.DataClass));
        return w;
    }

    /// <summary>Parses one Event; fields the project does not model are skipped.</summary>
    public static TbEvent Decode(byte[] data)
    {
        double wall = 0; long step = 0; string? version = null;
        var values = new List<TbValue>();
        var input = new CodedInputStream(data);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: wall = input.ReadDouble(); break;
                case 2: step = input.ReadInt64(); break;
                case 3: version = input.ReadString(); break;
                case 5:
                    var summary = new CodedInputStream(input.ReadBytes().ToByteArray());
                    uint st;
                    while ((st = summary.ReadTag()) != 0)
                        if (WireFormat.GetTagFieldNumber(st) == 1) values.Add(DecodeValue(summary.ReadBytes().ToByteArray()));
                        else summary.SkipLastField();
                    break;
                default: input.SkipLastField(); break;
            }
        }
        return new TbEvent(wall, step, version, values);
    }

    private static TbValue DecodeValue(byte[] data)
    {
        var v = new TbValue("");
        var input = new CodedInputStream(data);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            v = WireFormat.GetTagFieldNumber(tag) switch
            {
                1 => v with { Tag = input.ReadString() },
                2 => v with { SimpleValue = input.ReadFloat() },
                4 => v with { Image = DecodeImage(Sub(input)) },
                5 => v with { Histogram = DecodeHistogram(Sub(input)) },
                6 => v with { Audio = DecodeAudio(Sub(input)) },
                8 => v with { Tensor = DecodeTensor(Sub(input)) },
                9 => v with { Metadata = DecodeMetadata(Sub(input)) },
                _ => Skip(input, v),
            };
        }
        return v;
    }

    private static TbImage DecodeImage(CodedInputStream s)
    {
        int h = 0, w = 0, cs = 0; byte[] enc = [];
        ForEachField(s, f =>
        {
            switch (f) { case 1: h = s.ReadInt32(); break; case 2: w = s.ReadInt32(); break; case 3: cs = s.ReadInt32(); break; case 4: enc = s.ReadBytes().ToByteArray(); break; default: s.SkipLastField(); break; }
        });
        return new TbImage(h, w, cs, enc);
    }

    private static TbAudio DecodeAudio(CodedInputStream s)
    {
        float rate = 0; long ch = 0, frames = 0; byte[] enc = []; string type = "";
        ForEachField(s, f =>
        {
            switch (f)
            {
                case 1: rate = s.ReadFloat(); break; case 2: ch = s.ReadInt64(); break; case 3: frames = s.ReadInt64(); break;
                case 4: enc = s.ReadBytes().ToByteArray(); break; case 5: type = s.ReadString(); break; default: s.SkipLastField(); break;
            }
        });
        return new TbAudio(rate, ch, frames, enc, type);
    }

    private static TbHistogram DecodeHistogram(CodedInputStream s)
    {
        var d = new double[5]; var limits = new List<double>(); var buckets = new List<double>();
        ForEachField(s, (f, tag) =>
        {
            if (f is >= 1 and <= 5) d[f - 1] = s.ReadDouble();
            else if (f == 6) ReadDoubles(s, tag, limits);
            else if (f == 7) ReadDoubles(s, tag, buckets);
            else s.SkipLastField();
        });
        return new TbHistogram(d[0], d[1], d[2], d[3], d[4], limits.ToArray(), buckets.ToArray());
    }

    private static TbTensor DecodeTensor(CodedInputStream s)
    {
        int dtype = 0; var shape = new List<long>(); var strings = new List<byte[]>(); var floats = new List<double>();
        var doubles = new List<double>(); byte[] content = [];
        ForEachField(s, (f, tag) =>
        {
            switch (f)
            {
                case 1: dtype = s.ReadEnum(); break;
                case 2:
                    var sh = Sub(s);
                    ForEachField(sh, g => { if (g == 2) { var dim = Sub(sh); ForEachField(dim, k => { if (k == 1) shape.Add(dim.ReadInt64()); else dim.SkipLastField(); }); } else sh.SkipLastField(); });
                    break;
                case 4: content = s.ReadBytes().ToByteArray(); break;
                case 5: ReadFloats(s, tag, floats); break;
                case 6: ReadDoubles(s, tag, doubles); break;
                case 8: strings.Add(s.ReadBytes().ToByteArray()); break;
                default: s.SkipLastField(); break;
            }
        });
        return new TbTensor((TbDataType)dtype, shape.ToArray())
        {
            StringVal = strings.ToArray(), FloatVal = floats.Select(x => (float)x).ToArray(), DoubleVal = doubles.ToArray(), TensorContent = content,
        };
    }

    private static TbPluginMetadata DecodeMetadata(CodedInputStream s)
    {
        string plugin = "", display = "", description = ""; byte[] content = []; int dataClass = 0;
        ForEachField(s, f =>
        {
            switch (f)
            {
                case 1:
                    var pd = Sub(s);
                    ForEachField(pd, g => { if (g == 1) plugin = pd.ReadString(); else if (g == 2) content = pd.ReadBytes().ToByteArray(); else pd.SkipLastField(); });
                    break;
                case 2: display = s.ReadString(); break;
                case 3: description = s.ReadString(); break;
                case 4: dataClass = s.ReadEnum(); break;
                default: s.SkipLastField(); break;
            }
        });
        return new TbPluginMetadata(plugin, content) { DisplayName = display, SummaryDescription = description, DataClass = dataClass };
    }

    // ---- helpers ----
    private static CodedInputStream Sub(CodedInputStream s) => new(s.ReadBytes().ToByteArray());

    private static TbValue Skip(CodedInputStream s, TbValue v) { s.SkipLastField(); return v; }

    private static void ForEachField(CodedInputStream s, Action<int> onField) => ForEachField(s, (f, _) => onField(f));

    private static void ForEachField(CodedInputStream s, Action<int, uint> onField)
    {
        uint tag;
        while ((tag = s.ReadTag()) != 0) onField(WireFormat.GetTagFieldNumber(tag), tag);
    }

    // Repeated doubles arrive packed (length-delimited) or, from older writers, one fixed64 per element.
    private static void ReadDoubles(CodedInputStream s, uint tag, List<double> into)
    {
        if (WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited) { into.Add(s.ReadDouble()); return; }
        var b = s.ReadBytes().Span;
        for (int i = 0; i + 8 <= b.Length; i += 8) into.Add(BitConverter.ToDouble(b[i..]));
    }

    private static void ReadFloats(CodedInputStream s, uint tag, List<double> into)
    {
        if (WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited) { into.Add(s.ReadFloat()); return; }
        var b = s.ReadBytes().Span;
        for (int i = 0; i + 4 <= b.Length; i += 4) into.Add(BitConverter.ToSingle(b[i..]));
    }
}
