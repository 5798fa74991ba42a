using AptLab.Torch.nn;
using AptLab.Torch.optim;
using Xunit.Abstractions;

namespace AptLab.Tests.Engine;

/// <summary>A training loop with one dispose scope per step neither leaks tensor handles nor native memory.</summary>
public class TrainingMemoryTests(ITestOutputHelper output)
{
    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>Resident set size from /proc/self/statm (a secondary figure: it includes the managed heap).</summary>
    private static long RssBytes()
    {
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1]) * Environment.SystemPageSize;
    }

    [Fact]
    public void Three_thousand_steps_keep_live_tensors_and_native_heap_flat()
    {
        const int steps = 3000;
        Settle();
        torch.manual_seed(3);
        using var model = new Sequential(new Linear(32, 64), new GELU(), new Linear(64, 32));
        using var opt = new AdamW(model.parameters(), lr: 3e-3, weight_decay: 1e-4);
        var sched = new LRScheduler(opt, new LRSchedule.Cosine(WarmupSteps: 50, TotalSteps: steps, MinLr: 1e-4));
        using var ema = new EMA(model, decay: 0.99, use_warmup: true);
        // A fixed regression problem: y = sin(x A), so the loss must fall.
        using var x = torch.randn(64, 32).DetachFromScope();
        using var a = torch.randn(32, 32).DetachFromScope();
        using var y = x.matmul(a).sin().DetachFromScope();

        // The C heap also serves the .NET runtime, which adds noise: the JIT's arenas during background tier-up
        // come and go (a leak raises the floor, so the figures are minima over the 100 steps ending at step 500
        // and at the last step), and the GC's finalization queue, an array with one slot per finalizable object
        // (every Tensor is a SafeHandle) created since the last collection, grows by ~8-15 B per tensor until
        // the GC runs. A collection every 100 steps keeps that array at one size.
        long live100 = 0, rss500 = 0;
        long heap500 = long.MaxValue, heapEnd = long.MaxValue, noise500 = 0;
        double firstLoss = 0, lastLoss = 0;
        for (int step = 1; step <= steps; step++)
        {
            using (torch.NewScope())
            {
                var loss = F.mse_loss(model.forward(x), y);
                loss.backward();
                ClipGrad.clip_grad_norm_(model.parameters(), max_norm: 1.0);
                opt.step();
                opt.zero_grad();
                sched.step();
                ema.update(model);
                if (step == 1) firstLoss = loss.item<double>();
                if (step == steps) lastLoss = loss.item<double>();
            }
            if (step % 100 == 0) GC.Collect();
            if (step == 100) { Settle(); live100 = torch.live_tensors(); }
            if (step is > 400 and <= 500)
            {
                long h = torch.native_heap_bytes();
                heap500 = Math.Min(heap500, h);
                noise500 = Math.Max(noise500, h);
            }
            if (step > steps - 100) heapEnd = Math.Min(heapEnd, torch.native_heap_bytes());
            if (step == 500) rss500 = RssBytes();
        }
        Settle();
        long live = torch.live_tensors(), heap = heapEnd, rss = RssBytes();
        output.WriteLine($"loss {firstLoss:F4} -> {lastLoss:F4}; live tensors at step 100: {live100}, at {steps}: {live}");
        output.WriteLine($"native heap at step 500: {heap500 / 1048576.0:F2} MiB, at {steps}: {heap / 1048576.0:F2} MiB, growth {(heap - heap500) / 1024.0:F1} KiB (window spread at 500: {(noise500 - heap500) / 1024.0:F0} KiB)");
        output.WriteLine($"RSS at step 500: {rss500 / 1048576.0:F1} MiB, at {steps}: {rss / 1048576.0:F1} MiB, growth {(rss - rss500) / 1024.0:F0} KiB");

        Assert.True(lastLoss < 0.5 * firstLoss, $"the model did not train: loss {firstLoss} -> {lastLoss}");
        Assert.Equal(live100, live);
        Assert.True(heap500 > 0, "native_heap_bytes is unavailable");
        Assert.True(heap - heap500 < 1 << 20, $"native heap grew by {heap - heap500} bytes between step 500 and {steps}");
    }
}
