namespace AptLab.Torch.IO;

/// <summary>Tensors that can be listed (names, dtypes, shapes) without reading their data, and read one at a time:
/// a <see cref="SafetensorsFile"/> or a <see cref="ShardedSafetensors"/> checkpoint.</summary>
public interface ITensorSource : IDisposable
{
    /// <summary>The file or index, for error messages.</summary>
    string Source { get; }
    IEnumerable<string> Names { get; }
    SafetensorsTensorInfo Info(string name);
    /// <summary>Reads one tensor (a new CPU tensor owned by the current dispose scope, if any).</summary>
    Tensor Load(string name);
}
