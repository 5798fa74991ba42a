using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace AptLab.Torch.IO;

/// <summary>
/// A whitelist unpickler for torch.save's <c>data.pkl</c> (pickle protocols 2 to 4). It builds plain .NET values
/// (<c>null</c>, <c>bool</c>, <c>long</c>/<see cref="BigInteger"/>, <c>double</c>, <c>string</c>, <c>byte[]</c>,
/// <c>List&lt;object?&gt;</c> for lists, <c>object?[]</c> for tuples, <c>OrderedDictionary&lt;object, object?&gt;</c> for
/// dicts) and <see cref="PickledTensor"/> placeholders. Only these globals are accepted, and none is ever executed:
/// <c>collections.OrderedDict</c>, <c>torch._utils._rebuild_tensor_v2</c> (and the older <c>_rebuild_tensor</c>), <c>torch._utils._rebuild_parameter</c>
/// (and <c>_rebuild_parameter_with_state</c>), and the storage classes <c>torch.{Float,Half,BFloat16,Double,Long,Int,
/// Short,Char,Byte,Bool}Storage</c>. Any other global is refused with an error naming it: as safe as
/// <c>torch.load(weights_only=True)</c>.
/// </summary>
public static class TorchPickle
{
    private static readonly Dictionary<string, PickleGlobal> Allowed = BuildWhitelist();

    private static Dictionary<string, PickleGlobal> BuildWhitelist()
    {
        var d = new Dictionary<string, PickleGlobal>(StringComparer.Ordinal);
        void Add(PickleGlobal g) => d[g.Module + " " + g.Name] = g;
        Add(new("collections", "OrderedDict", PickleGlobal.Kinds.OrderedDict));
        Add(new("torch._utils", "_rebuild_tensor_v2", PickleGlobal.Kinds.RebuildTensorV2));
        Add(new("torch._utils", "_rebuild_tensor", PickleGlobal.Kinds.RebuildTensor));
        Add(new("torch._utils", "_rebuild_parameter", PickleGlobal.Kinds.RebuildParameter));
        Add(new("torch._utils", "_rebuild_parameter_with_state", PickleGlobal.Kinds.RebuildParameterWithState));
        foreach (var (name, t) in new[]
        {
            ("FloatStorage", ScalarType.Float32), ("HalfStorage", ScalarType.Float16), ("BFloat16Storage", ScalarType.BFloat16),
            ("DoubleStorage", ScalarType.Float64), ("LongStorage", ScalarType.Int64), ("IntStorage", ScalarType.Int32),
            ("ShortStorage", ScalarType.Int16), ("CharStorage", ScalarType.Int8), ("ByteStorage", ScalarType.UInt8),
            ("BoolStorage", ScalarType.Bool),
        })
            Add(new("torch", name, PickleGlobal.Kinds.Storage, t));
        return d;
    }

    /// <summary>Unpickles <paramref name="data"/>; <paramref name="source"/> names it in errors.</summary>
    public static object? Load(ReadOnlySpan<byte> data, string source)
    {
        try { return new Reader(data.ToArray(), source).Run(); }
        catch (TruncatedException e) { throw new InvalidDataException(e.Message, e); }
    }

    /// <summary>Unpickles the pickle starting at <paramref name="pos"/> of <paramref name="data"/> and moves
    /// <paramref name="pos"/> past its STOP (the legacy torch.save format is several pickles in a row).</summary>
    internal static object? LoadAt(byte[] data, ref int pos, string source)
    {
        var r = new Reader(data, source, pos);
        var result = r.Run();
        pos = r.Position;
        return result;
    }

    /// <summary>The pickle ran past the end of the bytes it was given.</summary>
    internal sealed class TruncatedException(string message) : IOException(message);

    private sealed class Reader(byte[] d, string source, int start = 0)
    {
        private int pos = start;
        public int Position => pos;
        private readonly List<object?> stack = new();
        private readonly Stack<int> marks = new();
        private readonly Dictionary<long, object?> memo = new();

        private InvalidDataException Fail(string msg) => new($"{source}: {msg}");

        public object? Run()
        {
            while (true)
            {
                if (pos >= d.Length) throw new TruncatedException($"{source}: the pickle ends without STOP (truncated?)");
                int at = pos;
                byte op = d[pos++];
                switch (op)
                {
                    case 0x80: pos++; break;                                            // PROTO
                    case 0x95: Take(8); break;                                          // FRAME
                    case (byte)'.':                                                     // STOP
                        if (stack.Count != 1) throw Fail($"STOP with {stack.Count} values on the stack");
                        return stack[0];
                    case (byte)'(': marks.Push(stack.Count); break;                     // MARK
                    case (byte)'0': Pop(); break;                                       // POP
                    case (byte)'1': PopMark(); break;                                   // POP_MARK
                    case (byte)'2': stack.Add(Peek()); break;                           // DUP
                    case (byte)'N': stack.Add(null); break;                             // NONE
                    case 0x88: stack.Add(true); break;                                  // NEWTRUE
                    case 0x89: stack.Add(false); break;                                 // NEWFALSE
                    case (byte)'K': stack.Add((long)Take(1)[0]); break;                 // BININT1
                    case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                    case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                    case 0x8a: stack.Add(Long(Take(Take(1)[0]))); break;                // LONG1
                    case 0x8b: stack.Add(Long(Take(Len32()))); break;                   // LONG4
                    case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;  // BINFLOAT
                    case (byte)'X': stack.Add(Str(Take(Len32()))); break;               // BINUNICODE
                    case 0x8c: stack.Add(Str(Take(Take(1)[0]))); break;                 // SHORT_BINUNICODE
                    case 0x8d: stack.Add(Str(Take(Len64()))); break;                    // BINUNICODE8
                    case (byte)'U': stack.Add(Str(Take(Take(1)[0]))); break;            // SHORT_BINSTRING
                    case (byte)'T': stack.Add(Str(Take(Len32()))); break;               // BINSTRING
                    case (byte)'C': stack.Add(Take(Take(1)[0]).ToArray()); break;       // SHORT_BINBYTES
                    case (byte)'B': stack.Add(Take(Len32()).ToArray()); break;          // BINBYTES
                    case 0x8e: stack.Add(Take(Len64()).ToArray()); break;               // BINBYTES8
                    case (byte)'}': stack.Add(new OrderedDictionary<object, object?>()); break;  // EMPTY_DICT
                    case (byte)'d': stack.Add(DictOf(PopMark())); break;                // DICT
                    case (byte)']': stack.Add(new List<object?>()); break;              // EMPTY_LIST
                    case (byte)'l': stack.Add(PopMark()); break;                        // LIST
                    case (byte)')': stack.Add(Array.Empty<object?>()); break;           // EMPTY_TUPLE
                    case (byte)'t': stack.Add(PopMark().ToArray()); break;              // TUPLE
                    case 0x85: stack.Add(new[] { Pop() }); break;                       // TUPLE1
                    case 0x86: { var b = Pop(); var a = Pop(); stack.Add(new[] { a, b }); break; }
                    case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); stack.Add(new[] { a, b, c }); break; }
                    case 0x8f: stack.Add(new HashSet<object?>()); break;                // EMPTY_SET
                    case 0x90: { var items = PopMark(); var set = Peek() as HashSet<object?> ?? throw Fail("ADDITEMS on a non-set"); foreach (var i in items) set.Add(i); break; }
                    case 0x91: stack.Add(new HashSet<object?>(PopMark())); break;       // FROZENSET
                    case (byte)'a': { var v = Pop(); ListAt(at).Add(v); break; }        // APPEND
                    case (byte)'e': { var items = PopMark(); ListAt(at).AddRange(items); break; }  // APPENDS
                    case (byte)'s': { var v = Pop(); var k = Pop(); SetItem(DictAt(at), k, v); break; }  // SETITEM
                    case (byte)'u': { var items = PopMark(); var dict = DictAt(at);     // SETITEMS
                        if (items.Count % 2 != 0) throw Fail("SETITEMS with an odd number of values");
                        for (int i = 0; i < items.Count; i += 2) SetItem(dict, items[i], items[i + 1]);
                        break; }
                    case (byte)'q': memo[Take(1)[0]] = Peek(); break;                   // BINPUT
                    case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek(); break;  // LONG_BINPUT
                    case 0x94: memo[memo.Count] = Peek(); break;                        // MEMOIZE
                    case (byte)'h': stack.Add(Get(Take(1)[0])); break;                  // BINGET
                    case (byte)'j': stack.Add(Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;  // LONG_BINGET
                    case (byte)'c': stack.Add(Global(Line(), Line())); break;           // GLOBAL
                    case 0x93: { var name = Pop() as string; var module = Pop() as string;  // STACK_GLOBAL
                        if (module is null || name is null) throw Fail("STACK_GLOBAL without two strings");
                        stack.Add(Global(module, name)); break; }
                    case (byte)'Q': stack.Add(PersistentLoad(Pop())); break;            // BINPERSID
                    case (byte)'R': { var args = Pop(); var f = Pop(); stack.Add(Call(f, args)); break; }  // REDUCE
                    case 0x81: { var args = Pop(); var cls = Pop(); stack.Add(Call(cls, args)); break; }   // NEWOBJ
                    case (byte)'b': { var state = Pop(); Build(Peek(), state); break; } // BUILD
                    default:
                        throw Fail($"unsupported pickle opcode 0x{op:x2} ('{(char)op}') at byte {at}");
                }
            }
        }

        private ReadOnlySpan<byte> Take(long n)
        {
            if (n < 0) throw Fail($"negative length at byte {pos}");
            if (pos > d.Length - n) throw new TruncatedException($"{source}: the pickle ends unexpectedly at byte {pos} (truncated?)");
            var s = d.AsSpan(pos, (int)n);
            pos += (int)n;
            return s;
        }
        private long Len32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        private long Len64() => (long)BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        private static string Str(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);

        private string Line()
        {
            int end = Array.IndexOf(d, (byte)'\n', pos);
            if (end < 0) throw new TruncatedException($"{source}: unterminated GLOBAL name");
            var s = Encoding.UTF8.GetString(d, pos, end - pos);
            pos = end + 1;
            return s;
        }

        private static object Long(ReadOnlySpan<byte> b)
        {
            if (b.Length == 0) return 0L;
            var v = new BigInteger(b, isUnsigned: false, isBigEndian: false);
            return v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
        }

        private object? Pop()
        {
            if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks.Peek())) throw Fail($"stack underflow at byte {pos - 1}");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        private object? Peek() => stack.Count > 0 ? stack[^1] : throw Fail($"stack underflow at byte {pos - 1}");
        private List<object?> PopMark()
        {
            if (marks.Count == 0) throw Fail($"missing MARK at byte {pos - 1}");
            int m = marks.Pop();
            var items = stack.GetRange(m, stack.Count - m);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }
        private object? Get(long key) => memo.TryGetValue(key, out var v) ? v : throw Fail($"memo key {key} not defined");

        private List<object?> ListAt(int at) => Peek() as List<object?> ?? throw Fail($"append to a non-list at byte {at}");
        private OrderedDictionary<object, object?> DictAt(int at) =>
            Peek() as OrderedDictionary<object, object?> ?? throw Fail($"set item on a non-dict at byte {at}");

        private void SetItem(OrderedDictionary<object, object?> dict, object? key, object? value)
        {
            if (key is null) throw Fail("dict key None is not supported");
            dict[key] = value;
        }

        private OrderedDictionary<object, object?> DictOf(List<object?> items)
        {
            var dict = new OrderedDictionary<object, object?>();
            if (items.Count % 2 != 0) throw Fail("DICT with an odd number of values");
            for (int i = 0; i < items.Count; i += 2) SetItem(dict, items[i], items[i + 1]);
            return dict;
        }

        private PickleGlobal Global(string module, string name) =>
            Allowed.TryGetValue(module + " " + name, out var g) ? g
            : throw Fail($"refusing to load global '{module}.{name}': only tensors, storages, OrderedDict and plain values "
                       + "are allowed (the file may run code when loaded in Python; it was not executed)");

        private TorchStorageRef PersistentLoad(object? pid)
        {
            if (pid is object?[] { Length: > 1 } m && m[0] as string == "module")
                throw Fail("the file holds a pickled nn.Module (its source code), not a state dict; save model.state_dict() instead");
            if (pid is object?[] { Length: 6 } v && v[5] is not null)
                throw Fail("storage views (the legacy format's view_metadata) are not supported");
            // torch.save's zip format: ('storage', type, key, location, numel); the legacy format adds view_metadata = None.
            if (pid is not object?[] t || t.Length is not (5 or 6) || t[0] as string != "storage" || t[1] is not PickleGlobal { Kind: PickleGlobal.Kinds.Storage } g
                || t[2] is not string key || t[3] is not string location || t[4] is not long numel || numel < 0)
                throw Fail("unsupported persistent id (expected ('storage', <Type>Storage, key, location, numel))");
            return new TorchStorageRef(key, g.StorageDtype, numel, location);
        }

        private object Call(object? f, object? argsObj)
        {
            if (f is not PickleGlobal g) throw Fail($"REDUCE on a non-callable {Describe(f)}");
            if (argsObj is not object?[] args) throw Fail($"{g}: arguments are not a tuple");
            switch (g.Kind)
            {
                case PickleGlobal.Kinds.OrderedDict:
                    var dict = new OrderedDictionary<object, object?>();
                    if (args.Length == 1 && args[0] is List<object?> pairs)
                        foreach (var p in pairs)
                            if (p is object?[] { Length: 2 } kv) SetItem(dict, kv[0], kv[1]);
                            else throw Fail("OrderedDict(items): an item is not a pair");
                    else if (args.Length != 0) throw Fail("OrderedDict: unsupported arguments");
                    return dict;
                case PickleGlobal.Kinds.RebuildTensorV2:
                    if (args.Length is < 6 or > 7 || args[0] is not TorchStorageRef storage || args[1] is not long offset
                        || Longs(args[2]) is not long[] size || Longs(args[3]) is not long[] stride || args[4] is not bool rg
                        || size.Length != stride.Length || offset < 0)
                        throw Fail($"{g}: unexpected arguments ({string.Join(", ", args.Select(Describe))})");
                    return new PickledTensor { Storage = storage, Offset = offset, Size = size, Stride = stride, RequiresGrad = rg };
                case PickleGlobal.Kinds.RebuildTensor:                              // PyTorch < 0.4: (storage, offset, size, stride)
                    if (args.Length != 4 || args[0] is not TorchStorageRef st || args[1] is not long off
                        || Longs(args[2]) is not long[] sz || Longs(args[3]) is not long[] sd || sz.Length != sd.Length || off < 0)
                        throw Fail($"{g}: unexpected arguments ({string.Join(", ", args.Select(Describe))})");
                    return new PickledTensor { Storage = st, Offset = off, Size = sz, Stride = sd };
                case PickleGlobal.Kinds.RebuildParameter:
                case PickleGlobal.Kinds.RebuildParameterWithState:
                    if (args.Length < 2 || args[0] is not PickledTensor data || args[1] is not bool requiresGrad)
                        throw Fail($"{g}: unexpected arguments ({string.Join(", ", args.Select(Describe))})");
                    // The parameter is a new tensor object on the same data (a second rebuild of one tensor
                    // would otherwise share flags).
                    return new PickledTensor { Storage = data.Storage, Offset = data.Offset, Size = data.Size, Stride = data.Stride,
                        RequiresGrad = requiresGrad, IsParameter = true };
                default:
                    throw Fail($"{g} cannot be called");
            }
        }

        private void Build(object? target, object? state)
        {
            // OrderedDict state (e.g. a state_dict's _metadata) and parameter state carry nothing tensors need.
            if (target is OrderedDictionary<object, object?> or PickledTensor) return;
            throw Fail($"BUILD on {Describe(target)} is not supported");
        }

        private static long[]? Longs(object? o)
        {
            if (o is not object?[] t) return null;
            var r = new long[t.Length];
            for (int i = 0; i < t.Length; i++)
                if (t[i] is long v) r[i] = v; else return null;
            return r;
        }

        private static string Describe(object? o) => o switch
        {
            null => "None",
            object?[] t => $"tuple[{t.Length}]",
            PickleGlobal g => g.ToString(),
            _ => o.GetType().Name,
        };
    }
}
