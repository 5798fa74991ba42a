namespace AptLab.Logging;

// The TensorBoard messages the project writes and reads, as plain records (field numbers in EventCodec and
// tensorboard_events.proto). Names follow tensorboard/compat/proto.

/// <summary>One Event: wall time in Unix seconds, step, and either the file version or summary values.</summary>
public sealed record TbEvent(double WallTime, long Step = 0, string? FileVersion = null, IReadOnlyList<TbValue>? Values = null)
{
    public IReadOnlyList<TbValue> Values { get; init; } = Values ?? [];
}

/// <summary>One Summary.Value: a tag and exactly one payload (or none, for hparams metadata-only values).</summary>
public sealed record TbValue(string Tag)
{
    public float? SimpleValue { get; init; }
    public TbImage? Image { get; init; }
    public TbHistogram? Histogram { get; init; }
    public TbAudio? Audio { get; init; }
    public TbTensor? Tensor { get; init; }
    public TbPluginMetadata? Metadata { get; init; }
}

/// <summary>Summary.Image: encoded PNG plus its size; colorspace 1 gray, 3 RGB.</summary>
public sealed record TbImage(int Height, int Width, int Colorspace, byte[] EncodedImage);

/// <summary>Summary.Audio: encoded WAV bytes.</summary>
public sealed record TbAudio(float SampleRate, long NumChannels, long LengthFrames, byte[] EncodedAudio, string ContentType = "audio/wav");

/// <summary>HistogramProto: Bucket[i] counts values up to BucketLimit[i] (from the previous limit).</summary>
public sealed record TbHistogram(double Min, double Max, double Num, double Sum, double SumSquares, double[] BucketLimit, double[] Bucket);

/// <summary>TensorProto, reduced to what summaries use.</summary>
public sealed record TbTensor(TbDataType DType, long[] Shape)
{
    public byte[][] StringVal { get; init; } = [];
    public float[] FloatVal { get; init; } = [];
    public double[] DoubleVal { get; init; } = [];
    public byte[] TensorContent { get; init; } = [];
}

/// <summary>SummaryMetadata: which plugin reads the value, with the plugin's serialised data.</summary>
public sealed record TbPluginMetadata(string PluginName, byte[] Content)
{
    public string DisplayName { get; init; } = "";
    public string SummaryDescription { get; init; } = "";
    public int DataClass { get; init; }                      // 0 unknown, 1 scalar, 2 tensor, 3 blob sequence
}

/// <summary>tensorflow DataType values used by summaries.</summary>
public enum TbDataType { Invalid = 0, Float = 1, Double = 2, Int32 = 3, UInt8 = 4, String = 7, Int64 = 9, Bool = 10, BFloat16 = 14, Half = 19 }
