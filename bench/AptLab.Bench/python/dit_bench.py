"""The Wan 2.1 DiT benchmark through PyTorch on the same libtorch, for comparison with DitBench.cs.

A worker driven line by line over stdin/stdout by the C# benchmark, so that the two sides run interleaved
(one at a time, round after round) on a shared, loaded machine:
    load PATH      read the C# model's state dict and inputs (.pth written by PthWriter), build the model below,
                   load the weights strictly, run one forward -> {"rel_err": ||out - out_csharp|| / ||out_csharp||}
    fwd N          N inference forwards (no_grad)            -> {"s": mean seconds per call}
    fwdbwd N       N forward + backward passes (sum of squares loss, grads dropped) -> {"s": ...}
    mm N           N fp32 1024^3 matmuls                    -> {"s": ...}
    quit

The model restates the Wan DiT structure (docs/wan-dit.md#forward-pass) with plain PyTorch ops and the same parameter
names as the official checkpoints, computing what AptLab's WanModel computes: patch Conv3d, sinusoidal time
embedding (float64) with 6-way modulation, self-attention with q/k RMSNorm over the full width and 3D RoPE
(adjacent channel pairs, frequencies per axis in float64, applied in complex64), cross-attention to the text,
GELU-tanh FFN, modulated head and unpatchify. Attention is softmax(q k^T / sqrt(d)) v with matmuls (libtorch
1.13 has no fused scaled_dot_product_attention, and AptLab's shim computes the same three ops there).
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoid(dim, t):
    """[B] -> [B, dim] float64: [cos(t w_j) | sin(t w_j)], w_j = 10000^(-j/half)."""
    half = dim // 2
    omega = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64) / half)
    arg = t.double().unsqueeze(1) * omega.unsqueeze(0)
    return torch.cat([arg.cos(), arg.sin()], 1)


def axis_angles(n, pairs):
    """Angles pos * theta_j for pos < n, theta_j = 10000^(-2j / (2 pairs)), float64 [n, pairs]."""
    theta = 1.0 / torch.pow(10000.0, torch.arange(pairs, dtype=torch.float64) * 2 / (2 * pairs))
    return torch.arange(n, dtype=torch.float64).unsqueeze(1) * theta.unsqueeze(0)


def rope_table(head_dim, f, h, w):
    """complex64 [1, L, 1, head_dim/2]: per token the rotations of its (frame, height, width) pairs."""
    c = head_dim // 2
    cf, ch, cw = c - 2 * (c // 3), c // 3, c // 3
    ang = torch.cat([
        axis_angles(f, cf).view(f, 1, 1, cf).expand(f, h, w, cf),
        axis_angles(h, ch).view(1, h, 1, ch).expand(f, h, w, ch),
        axis_angles(w, cw).view(1, 1, w, cw).expand(f, h, w, cw)], 3).reshape(f * h * w, c)
    return torch.polar(torch.ones_like(ang), ang).to(torch.complex64).view(1, f * h * w, 1, c)


def rope(x, table):
    """x [B, L, H, d] real -> rotated, channel pairs (2i, 2i+1) as complex numbers."""
    b, l, n, d = x.shape
    xc = torch.view_as_complex(x.contiguous().view(b, l, n, d // 2, 2))
    return torch.view_as_real(xc * table).view(b, l, n, d)


def attention(q, k, v):
    """[B, L, H, d] each -> [B, Lq, H*d]."""
    b, lq, n, d = q.shape
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    p = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(d)), -1)
    return torch.matmul(p, v).transpose(1, 2).reshape(b, lq, n * d)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x, table):
        b, l, dim = x.shape
        n, d = self.heads, dim // self.heads
        q = rope(self.norm_q(self.q(x)).view(b, l, n, d), table)
        k = rope(self.norm_k(self.k(x)).view(b, l, n, d), table)
        return self.o(attention(q, k, self.v(x).view(b, l, n, d)))


class CrossAttention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x, ctx):
        b, dim = x.shape[0], x.shape[2]
        n, d = self.heads, dim // self.heads
        q = self.norm_q(self.q(x)).view(b, -1, n, d)
        k = self.norm_k(self.k(ctx)).view(b, -1, n, d)
        return self.o(attention(q, k, self.v(ctx).view(b, -1, n, d)))


class Block(nn.Module):
    def __init__(self, dim, ffn_dim, heads, eps):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.self_attn = SelfAttention(dim, heads, eps)
        self.norm3 = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(dim, heads, eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim ** 0.5)

    def ln(self, x):
        return F.layer_norm(x, (self.dim,), eps=self.eps)

    def forward(self, x, e0, ctx, table):
        m = (self.modulation + e0).chunk(6, dim=1)                       # 6 x [B, 1, dim]
        x = x + self.self_attn(self.ln(x) * (1 + m[1]) + m[0], table) * m[2]
        x = x + self.cross_attn(self.norm3(x), ctx)
        return x + self.ffn(self.ln(x) * (1 + m[4]) + m[3]) * m[5]


class Head(nn.Module):
    def __init__(self, dim, out, eps):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.head = nn.Linear(dim, out)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim ** 0.5)

    def forward(self, x, e):
        h = (self.modulation + e.unsqueeze(1)).chunk(2, dim=1)
        return self.head(F.layer_norm(x, (self.dim,), eps=self.eps) * (1 + h[1]) + h[0])


class WanDiT(nn.Module):
    def __init__(self, in_dim, dim, ffn_dim, freq_dim, text_dim, out_dim, heads, layers, text_len, patch=(1, 2, 2), eps=1e-6):
        super().__init__()
        self.dim, self.freq_dim, self.heads, self.text_len, self.patch, self.out_dim = dim, freq_dim, heads, text_len, patch, out_dim
        self.patch_embedding = nn.Conv3d(in_dim, dim, kernel_size=patch, stride=patch)
        self.text_embedding = nn.Sequential(nn.Linear(text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim))
        self.time_embedding = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList(Block(dim, ffn_dim, heads, eps) for _ in range(layers))
        self.head = Head(dim, out_dim * patch[0] * patch[1] * patch[2], eps)

    def forward(self, x, t, context):
        """x [B, C, F, H, W], t [B], context [B, Lt, text_dim] -> [B, out_dim, F, H, W]."""
        b = x.shape[0]
        tokens = self.patch_embedding(x)                                  # [B, dim, F', H', W']
        f, h, w = tokens.shape[2:]
        tokens = tokens.flatten(2).transpose(1, 2)                        # [B, L, dim]
        e = self.time_embedding(sinusoid(self.freq_dim, t).float())      # [B, dim]
        e0 = self.time_projection(e).unflatten(1, (6, self.dim))          # [B, 6, dim]
        ctx = F.pad(context, (0, 0, 0, self.text_len - context.shape[1]))
        ctx = self.text_embedding(ctx)
        table = rope_table(self.dim // self.heads, f, h, w)
        for block in self.blocks:
            tokens = block(tokens, e0, ctx, table)
        out = self.head(tokens, e)                                        # [B, L, out_dim * pt * ph * pw]
        pt, ph, pw = self.patch
        u = out.view(b, f, h, w, pt, ph, pw, self.out_dim).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return u.reshape(b, self.out_dim, f * pt, h * ph, w * pw)


def timed(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    model = inputs = None
    a = torch.randn(1024, 1024)
    bm = torch.randn(1024, 1024)

    def fwd():
        with torch.no_grad():
            model(*inputs)

    def fwdbwd():
        model(*inputs).pow(2).mean().backward()
        for p in model.parameters():
            p.grad = None

    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] == "load":
            sd = torch.load(cmd[1])
            cfg = json.loads(open(cmd[1] + ".json").read())
            model = WanDiT(**cfg)
            model.load_state_dict({k: v for k, v in sd.items() if not k.startswith("input.")}, strict=True)
            inputs = (sd["input.x"], sd["input.t"], sd["input.context"])
            with torch.no_grad():
                out = model(*inputs)
            ref = sd["input.out"]
            reply = {"rel_err": float((out - ref).norm() / ref.norm()), "threads": torch.get_num_threads(),
                     "torch_version": torch.__version__}
        elif cmd[0] == "fwd":
            reply = {"s": timed(fwd, int(cmd[1]))}
        elif cmd[0] == "fwdbwd":
            reply = {"s": timed(fwdbwd, int(cmd[1]))}
        elif cmd[0] == "mm":
            reply = {"s": timed(lambda: a @ bm, int(cmd[1]))}
        else:
            reply = {"error": "unknown command " + cmd[0]}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
