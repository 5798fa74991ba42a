namespace AptLab.Tests.Engine;

/// <summary>torch.cpu_memory_allocated counts the storage of live CPU tensors (the shim's allocator), exactly.</summary>
public class CpuMemoryAccountingTests
{
    [Fact]
    public void Live_bytes_follow_allocations_views_and_frees_exactly()
    {
        TestPaths.SettledLiveTensors();                                         // earlier tests' garbage is freed first
        long before = torch.cpu_memory_allocated();
        var a = torch.zeros([1000, 250]);                                       // 1 MB of float32
        Assert.Equal(before + 1_000_000, torch.cpu_memory_allocated());
        var v = a.narrow(0, 10, 100);                                          // a view: no new storage
        var b = torch.empty([333], ScalarType.BFloat16);
        Assert.Equal(before + 1_000_000 + 666, torch.cpu_memory_allocated());
        a.Dispose();                                                            // the view still holds the storage
        Assert.Equal(before + 1_000_000 + 666, torch.cpu_memory_allocated());
        v.Dispose();
        b.Dispose();
        Assert.Equal(before, torch.cpu_memory_allocated());

        torch.cpu_reset_peak_memory_stats();
        using (torch.NewScope()) { torch.ones([2, 1024, 1024]); }               // 8 MB, freed with the scope
        Assert.Equal(before, torch.cpu_memory_allocated());
        Assert.True(torch.cpu_max_memory_allocated() >= before + 8L * 1024 * 1024);
    }
}
