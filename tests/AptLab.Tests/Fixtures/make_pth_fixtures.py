#!/usr/bin/python3
"""Generates the small torch.save fixtures read by tests/AptLab.Tests/Engine/IO (run once, by hand).

Needs Debian's python3-torch (1.13.1); CI never runs this script, the generated files are committed.

    /usr/bin/python3 make_pth_fixtures.py            # writes Fixtures/pth/*.pt and their *.expected.json
    /usr/bin/python3 make_pth_fixtures.py legacy     # only the legacy-format (pre-1.6) fixtures legacy_*.pt
    /usr/bin/python3 make_pth_fixtures.py verify F.pt F.expected.json
                                                       # torch.load a file (e.g. one written by AptLab) and
                                                       # compare it with an expected-values JSON
    /usr/bin/python3 make_pth_fixtures.py expect F.pt NAME
                                                       # torch.load F.pt and write Fixtures/pth/NAME.expected.json

Each expected JSON maps tensor names to {dtype, shape, stride, storage_offset, requires_grad, is_parameter,
values (flat, row-major, exact: every fixture value is representable in float64)}.
"""
import collections
import json
import os
import sys

import torch

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pth")


def describe(t):
    return {
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "storage_offset": t.storage_offset(),
        "requires_grad": bool(t.requires_grad),
        "is_parameter": isinstance(t, torch.nn.Parameter),
        "values": [float(v) if t.is_floating_point() else int(v) for v in t.detach().reshape(-1).tolist()],
    }


def write_expected(name, tensors, extra=None):
    doc = {"tensors": {k: describe(v) for k, v in tensors.items()}}
    if extra is not None:
        doc["extra"] = extra
    with open(os.path.join(HERE, name + ".expected.json"), "w") as f:
        json.dump(doc, f, indent=1)


class Tiny(torch.nn.Module):
    """A module whose state_dict holds one tensor of every storage class."""

    def __init__(self, g):
        super().__init__()
        self.proj = torch.nn.Linear(3, 2)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(2, 3, generator=g))
            self.proj.bias.copy_(torch.randn(2, generator=g))
        self.register_buffer("w_bf16", torch.randn(2, 3, generator=g).to(torch.bfloat16))
        self.register_buffer("w_f16", torch.randn(4, generator=g).to(torch.float16))
        self.register_buffer("w_f64", torch.randn(2, 2, generator=g, dtype=torch.float64))
        self.register_buffer("ids", torch.tensor([[0, -3, 2**40], [7, 9, -(2**35)]], dtype=torch.int64))
        self.register_buffer("i32", torch.tensor([-2**31, 5, 2**31 - 1], dtype=torch.int32))
        self.register_buffer("i16", torch.tensor([-300, 301], dtype=torch.int16))
        self.register_buffer("i8", torch.tensor([-128, 127, 3], dtype=torch.int8))
        self.register_buffer("u8", torch.tensor([0, 255, 17], dtype=torch.uint8))
        self.register_buffer("mask", torch.tensor([True, False, True, True]))
        self.register_buffer("scalar", torch.tensor(2.5))
        self.register_buffer("empty", torch.zeros(0, 3))


def make():
    os.makedirs(HERE, exist_ok=True)
    g = torch.Generator().manual_seed(1234)

    # 1. a plain module state_dict (OrderedDict + BUILD _metadata), every dtype
    sd = Tiny(g).state_dict()
    torch.save(sd, os.path.join(HERE, "plain.pt"))
    write_expected("plain", sd)

    # 2. a nested training checkpoint with non-tensor values
    inner = collections.OrderedDict(weight=torch.randn(3, 4, generator=g), bias=torch.randn(3, generator=g))
    extra = {"step": 7, "lr": 0.0001, "name": "run-1", "history": [1, 2.5, "x"], "cfg": {"a": 1, "b": [True, None]},
             "big": 2**40, "huge": 2**70, "neg": -5, "tup": [1, 2, 3]}
    ckpt = {"state_dict": inner, **{k: v for k, v in extra.items() if k != "tup"}, "tup": (1, 2, 3)}
    torch.save(ckpt, os.path.join(HERE, "nested.pth"))
    write_expected("nested", inner, extra)

    # 3. three tensors on one storage: the base, a strided view with an offset, a transpose
    base = torch.arange(20, dtype=torch.float32).reshape(4, 5) / 4
    shared = {"base": base, "view": base[1:, ::2], "tt": base.t()}
    torch.save(shared, os.path.join(HERE, "shared.pt"))
    write_expected("shared", shared)

    # 4. nn.Parameter values (torch._utils._rebuild_parameter)
    params = {"p": torch.nn.Parameter(torch.randn(3, 2, generator=g)),
              "frozen": torch.nn.Parameter(torch.randn(2, generator=g), requires_grad=False)}
    torch.save(params, os.path.join(HERE, "param.pt"))
    write_expected("param", params)

    # 5. pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL)
    p4 = {"a": torch.randn(2, 3, generator=g), "b": torch.tensor([1, 2], dtype=torch.int64)}
    torch.save(p4, os.path.join(HERE, "proto4.bin"), pickle_protocol=4)
    write_expected("proto4", p4)

    # 6. forbidden globals: pickling a reference to os.system (never called), and a custom class
    class RunsCommand:
        def __reduce__(self):
            return (os.system, ("echo this must never run",))

    torch.save({"w": torch.ones(2), "evil": RunsCommand()}, os.path.join(HERE, "forbidden_os_system.pt"))
    torch.save({"w": torch.ones(2), "obj": Custom(3)}, os.path.join(HERE, "forbidden_class.pt"))

    # 7. the legacy (pre-1.6, non-zip) format
    torch.save({"w": torch.ones(2)}, os.path.join(HERE, "legacy.pt"), _use_new_zipfile_serialization=False)
    make_legacy()


def make_legacy():
    """The legacy (pre-1.6) format of the published evaluation checkpoints: a module state dict with every dtype
    and a BatchNorm (num_batches_tracked), storages shared by views, and a training checkpoint with parameters."""
    g = torch.Generator().manual_seed(4321)
    legacy = dict(_use_new_zipfile_serialization=False)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        net[1].running_var.copy_(torch.rand(3, generator=g) + 0.5)
    sd = Tiny(g).state_dict()
    sd.update({"net." + k: v for k, v in net.state_dict().items()})
    torch.save(sd, os.path.join(HERE, "legacy_plain.pt"), **legacy)
    write_expected("legacy_plain", sd)
    base = torch.arange(20, dtype=torch.float64).reshape(4, 5) / 8
    shared = {"base": base, "view": base[1:, ::2], "tt": base.t()}
    torch.save(shared, os.path.join(HERE, "legacy_shared.pt"), **legacy)
    write_expected("legacy_shared", shared)


class Custom:
    def __init__(self, v):
        self.v = v


def verify(path, expected_path):
    """torch.load `path` and compare every tensor with the expected JSON exactly."""
    obj = torch.load(path)
    with open(expected_path) as f:
        expected = json.load(f)["tensors"]
    assert set(obj.keys()) == set(expected.keys()), (sorted(obj.keys()), sorted(expected.keys()))
    for k, e in expected.items():
        got = describe(obj[k])
        for field in ("dtype", "shape", "values"):
            assert got[field] == e[field], (k, field, got[field], e[field])
    print(f"{path}: torch.load OK, {len(expected)} tensors equal to {expected_path}; type {type(obj).__name__}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "legacy":
        make_legacy()
    elif len(sys.argv) >= 2 and sys.argv[1] == "expect":
        loaded = torch.load(sys.argv[2])
        print(f"{sys.argv[2]}: torch.load OK ({type(loaded).__name__}, {len(loaded)} tensors)")
        write_expected(sys.argv[3], loaded)
    else:
        make()
