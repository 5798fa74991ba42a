#!/usr/bin/python3
"""Generates optim_fixtures.json: a few steps of PyTorch 1.13's optimizers on tiny fixed parameters with fixed
gradients. Run once with Debian's python3-torch (1.13.1); the JSON is committed and the tests never need Python.

    /usr/bin/python3 tests/AptLab.Tests/Fixtures/make_optim_fixtures.py

Each case has four parameters: p0 [2, 3], p1 [3], p3 [2] in group 0 (the optimizer's defaults) and p2 [4] in
group 1 (with overrides). p3 never gets a gradient, so every optimizer must skip it. Gradients change scale from
step to step so that AMSGrad's running maximum matters.
"""
import json
import os

import torch

STEPS = 5
SHAPES = [[2, 3], [3], [4], [2]]
GROUPS = [[0, 1, 3], [2]]          # parameter indices per group (PyTorch numbers them in group order)
NO_GRAD = {3}

CASES = [
    ("sgd", "SGD", dict(lr=0.1), dict(lr=0.05)),
    ("sgd_momentum", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01), dict(momentum=0.5)),
    ("sgd_nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1), dict(lr=0.02)),
    ("adam", "Adam", dict(lr=0.01), dict(lr=0.02)),
    ("adam_l2_amsgrad", "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True),
     dict(weight_decay=0.0)),
    ("adamw", "AdamW", dict(lr=0.01, weight_decay=0.1), dict(weight_decay=0.0)),
    ("adamw_amsgrad", "AdamW", dict(lr=0.02, betas=(0.9, 0.95), eps=1e-7, weight_decay=0.05, amsgrad=True),
     dict(lr=0.01)),
    ("rmsprop", "RMSprop", dict(lr=0.01, alpha=0.9), dict(lr=0.005)),
    ("rmsprop_momentum_centered", "RMSprop",
     dict(lr=0.01, alpha=0.95, eps=1e-6, weight_decay=0.01, momentum=0.5, centered=True), dict(centered=False)),
]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def make_case(name, cls, defaults, overrides, seed):
    g = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=g) for s in SHAPES]
    scales = [1.0, 0.3, 2.0, 0.1, 1.5]
    grads = [[None if i in NO_GRAD else torch.randn(SHAPES[i], generator=g) * scales[k] for i in range(len(SHAPES))]
             for k in range(STEPS)]

    params = [t.clone().requires_grad_(True) for t in init]
    groups = [{"params": [params[i] for i in GROUPS[0]]}, dict({"params": [params[i] for i in GROUPS[1]]}, **overrides)]
    opt = getattr(torch.optim, cls)(groups, foreach=False, **defaults)
    after = []
    for k in range(STEPS):
        for i, p in enumerate(params):
            p.grad = None if grads[k][i] is None else grads[k][i].clone()
        opt.step()
        after.append([flat(p) for p in params])

    sd = opt.state_dict()
    final_state = {}
    for idx, st in sd["state"].items():
        final_state[str(idx)] = {k: (float(v) if not torch.is_tensor(v) or v.dim() == 0 else flat(v)) for k, v in st.items()
                                if v is not None}

    def hp(d):
        out = {}
        for k, v in d.items():
            if k == "betas":
                out["beta1"], out["beta2"] = float(v[0]), float(v[1])
            elif isinstance(v, (bool, int, float)):
                out[k] = float(v)
        return out

    return {
        "name": name,
        "optimizer": cls,
        "defaults": hp(defaults),
        "overrides": hp(overrides),
        "groups": GROUPS,
        "shapes": SHAPES,
        "init": [flat(t) for t in init],
        "grads": [[None if gr is None else flat(gr) for gr in step] for step in grads],
        "after": after,
        "final_state": final_state,
    }


def main():
    torch.set_default_dtype(torch.float32)
    cases = [make_case(*c, seed=1000 + i) for i, c in enumerate(CASES)]
    out = {"torch_version": torch.__version__, "steps": STEPS, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_fixtures.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
