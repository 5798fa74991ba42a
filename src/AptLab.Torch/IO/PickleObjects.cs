namespace AptLab.Torch.IO;

/// <summary>A torch storage named by a pickle persistent id: <c>('storage', &lt;Type&gt;Storage, key, location, numel)</c>.
/// Its bytes are the archive entry <c>data/&lt;key&gt;</c>.</summary>
public sealed record TorchStorageRef(string Key, ScalarType Dtype, long Numel, string Location);

/// <summary>A tensor as the pickle describes it (<c>torch._utils._rebuild_tensor_v2</c>, optionally wrapped by
/// <c>_rebuild_parameter</c>), before its storage is read: a strided view of <see cref="Storage"/>.</summary>
public sealed class PickledTensor
{
    public required TorchStorageRef Storage { get; init; }
    /// <summary>Storage offset in elements.</summary>
    public required long Offset { get; init; }
    public required long[] Size { get; init; }
    public required long[] Stride { get; init; }
    public bool RequiresGrad { get; set; }
    /// <summary>Rebuilt through <c>torch._utils._rebuild_parameter</c> (an nn.Parameter).</summary>
    public bool IsParameter { get; set; }

    /// <summary>One past the largest storage element the view touches (0 for an empty view).</summary>
    public long Extent()
    {
        long last = Offset;
        for (int i = 0; i < Size.Length; i++)
        {
            if (Size[i] == 0) return 0;
            last = checked(last + (Size[i] - 1) * Stride[i]);
        }
        return last + 1;
    }
}

/// <summary>A whitelisted Python global (a class or function reference in the pickle).</summary>
internal sealed record PickleGlobal(string Module, string Name, PickleGlobal.Kinds Kind, ScalarType StorageDtype = default)
{
    internal enum Kinds { OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState, Storage }
    public override string ToString() => $"{Module}.{Name}";
}
