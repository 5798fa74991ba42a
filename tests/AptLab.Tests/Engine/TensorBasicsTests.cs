namespace AptLab.Tests.Engine;

public class TensorBasicsTests
{
    [Fact]
    public void Arithmetic_broadcasts_and_matches_closed_form()
    {
        using var _ = torch.NewScope();
        var a = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var b = torch.tensor(new float[] { 10, 20, 30 }, 3);
        var c = (a + b) * 2 - 1;
        Assert.Equal(new long[] { 2, 3 }, c.shape);
        Assert.Equal(new float[] { 21, 43, 65, 27, 49, 71 }, c.data<float>());
        Assert.Equal(21.0 + 43 + 65 + 27 + 49 + 71, c.sum().item<double>(), 6);
    }

    [Fact]
    public void Libtorch_error_becomes_TorchException_and_process_continues()
    {
        using var _ = torch.NewScope();
        var a = torch.ones(2, 3);
        var b = torch.ones(4, 5);
        var e = Assert.Throws<TorchException>(() => a.matmul(b));
        Assert.Contains("cannot be multiplied", e.Message);
        Assert.Equal(6.0, a.sum().item<double>());   // the engine still works
    }

    [Fact]
    public void Scope_frees_temporaries_but_keeps_kept_tensors()
    {
        long before = TestPaths.SettledLiveTensors();
        Tensor kept;
        using (var scope = torch.NewScope())
        {
            var x = torch.randn(4, 4);
            var y = x.matmul(x).relu().sum();
            kept = scope.Keep(y * 2);
        }
        Assert.Equal(before + 1, torch.live_tensors());
        Assert.False(kept.IsClosed);
        kept.Dispose();
        Assert.Equal(before, torch.live_tensors());
    }

    [Fact]
    public void Threads_default_to_the_environment_or_the_cores_and_can_be_set()
    {
        int before = torch.get_num_threads();
        try
        {
            torch.set_num_threads(1);
            Assert.Equal(1, torch.get_num_threads());
        }
        finally { torch.set_num_threads(before); }
        var (expected, _) = OpenMpPolicy.ResolveThreads(Environment.GetEnvironmentVariable(OpenMpPolicy.OverrideVariable),
            Environment.GetEnvironmentVariable(OpenMpPolicy.ThreadsVariable), Environment.ProcessorCount);
        Assert.Equal(expected, before);
    }
}
