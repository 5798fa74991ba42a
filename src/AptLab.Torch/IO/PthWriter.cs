using System.Buffers.Binary;
using System.Text;

namespace AptLab.Torch.IO;

/// <summary>
/// Writes a state dict in PyTorch's torch.save zip format, loadable by <c>torch.load</c> (PyTorch >= 1.6):
/// <c>archive/data.pkl</c> (pickle protocol 2: an OrderedDict of <c>_rebuild_tensor_v2</c> calls),
/// <c>archive/data/N</c> (one contiguous little-endian storage per tensor), <c>archive/byteorder</c> and
/// <c>archive/version</c>, with 64-byte aligned entries. The file is written atomically.
/// </summary>
public static class PthWriter
{
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> stateDict, bool forceZip64 = false)
    {
        var items = stateDict.ToList();
        foreach (var (k, t) in items)
            if (StorageClass(t.dtype) is null)
                throw new NotSupportedException($"torch.save: tensor '{k}' has dtype {t.dtype.TorchName()}, which has no storage class here");
        try
        {
            AtomicFile.Write(path, stream =>
            {
                var zip = new ZipStoredWriter(stream, forceZip64);
                zip.Add("archive/data.pkl", Pickle(items));
                for (int i = 0; i < items.Count; i++)
                {
                    var t = items[i].Value;
                    zip.Add($"archive/data/{i}", t.numel() * t.element_size(), s => RawTensor.WriteTo(t, s));
                }
                zip.Add("archive/byteorder", "little"u8);
                zip.Add("archive/version", "3\n"u8);
                zip.Finish();
            });
        }
        catch (Exception e)
        {
            throw new IOException($"writing {Path.GetFullPath(path)} failed (any earlier file is intact): {e.Message}", e);
        }
    }

    private static string? StorageClass(ScalarType t) => t switch
    {
        ScalarType.Float32 => "FloatStorage", ScalarType.Float16 => "HalfStorage", ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Float64 => "DoubleStorage", ScalarType.Int64 => "LongStorage", ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage", ScalarType.Int8 => "CharStorage", ScalarType.UInt8 => "ByteStorage",
        ScalarType.Bool => "BoolStorage", _ => null,
    };

    /// <summary>The data.pkl of an OrderedDict of tensors, each on its own contiguous storage "i".</summary>
    internal static byte[] Pickle(IReadOnlyList<KeyValuePair<string, Tensor>> items)
    {
        var p = new PickleBuilder();
        p.Op(0x80).Op(2);                                              // PROTO 2
        p.Global("collections", "OrderedDict").Op(')').Op('R');        // OrderedDict()
        if (items.Count > 0)
        {
            p.Op('(');                                                 // MARK
            for (int i = 0; i < items.Count; i++)
            {
                var (name, t) = items[i];
                p.Str(name);
                p.Global("torch._utils", "_rebuild_tensor_v2").Op('(');
                p.Op('(').Str("storage").Global("torch", StorageClass(t.dtype)!).Str(i.ToString()).Str("cpu").Int(t.numel()).Op('t');
                p.Op('Q');                                             // BINPERSID
                p.Int(0);                                              // storage offset
                p.Tuple(t.shape);
                p.Tuple(ContiguousStrides(t.shape));
                p.Op(t.requires_grad ? 0x88 : 0x89);
                p.Global("collections", "OrderedDict").Op(')').Op('R'); // backward hooks
                p.Op('t').Op('R');
            }
            p.Op('u');                                                 // SETITEMS
        }
        p.Op('.');
        return p.ToArray();
    }

    private static long[] ContiguousStrides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= Math.Max(1, shape[i]); }
        return s;
    }

    private sealed class PickleBuilder
    {
        private readonly MemoryStream m = new();
        public PickleBuilder Op(int code) { m.WriteByte((byte)code); return this; }
        public PickleBuilder Op(char code) => Op((int)code);

        public PickleBuilder Str(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            Op('X');
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)b.Length);
            m.Write(n);
            m.Write(b);
            return this;
        }

        public PickleBuilder Global(string module, string name)
        {
            Op('c');
            m.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
            return this;
        }

        public PickleBuilder Int(long v)
        {
            Span<byte> b = stackalloc byte[8];
            if (v is >= 0 and < 256) { Op('K'); m.WriteByte((byte)v); }
            else if (v is >= 0 and < 65536) { Op('M'); BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); m.Write(b[..2]); }
            else if (v is >= int.MinValue and <= int.MaxValue) { Op('J'); BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); m.Write(b[..4]); }
            else { Op(0x8a); Op(8); BinaryPrimitives.WriteInt64LittleEndian(b, v); m.Write(b); }
            return this;
        }

        public PickleBuilder Tuple(long[] values)
        {
            switch (values.Length)
            {
                case 0: return Op(')');
                case 1: Int(values[0]); return Op(0x85);
                case 2: Int(values[0]); Int(values[1]); return Op(0x86);
                case 3: Int(values[0]); Int(values[1]); Int(values[2]); return Op(0x87);
                default: Op('('); foreach (var v in values) Int(v); return Op('t');
            }
        }

        public byte[] ToArray() => m.ToArray();
    }
}
