"""The engine benchmark through PyTorch on the same libtorch, for comparison with the C# binding.
Prints one JSON object. Mirrors bench/AptLab.Bench/EngineBench.cs measurement for measurement."""
import json, sys, time
import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)


def best_of(fn, repeats, inner):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


a = torch.ones(16)
b = torch.ones(16)
for _ in range(20000):
    a + b
add_us = best_of(lambda: a + b, 7, 20000) * 1e6

n = 1024
x = torch.randn(n, n)
y = torch.randn(n, n)
for _ in range(3):
    x @ y
mm_s = best_of(lambda: x @ y, 5, 5)
gflops = 2 * n ** 3 / mm_s / 1e9

width, batch, lr = 512, 64, 1e-3
layers = [torch.nn.Linear(width, width) for _ in range(3)]
params = [p for l in layers for p in l.parameters()]
inp = torch.randn(batch, width)
target = torch.randn(batch, width)


def step():
    h = inp
    for i, l in enumerate(layers):
        h = l(h)
        if i < len(layers) - 1:
            h = torch.nn.functional.gelu(h)
    loss = torch.nn.functional.mse_loss(h, target)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-lr)
            p.grad = None


for _ in range(20):
    step()
mlp_ms = best_of(step, 5, 50) * 1e3

print(json.dumps({"threads": torch.get_num_threads(), "add_us": add_us, "matmul_gflops": gflops,
                  "mlp_step_ms": mlp_ms, "torch_version": torch.__version__}))
