using AptLab.Apt;
using AptLab.Models.Wan;
using AptLab.Tests.Distributed;
using AptLab.Torch.Distributed;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Tests.Parallel;

/// <summary>
/// FullyShardedDataParallel in one process (a Gloo group of one): the gathers, the checkpoint hooks, the flat
/// gradients and the optimizer over flat shards must reproduce plain training of the same model to the bit (float64),
/// the module must hold no weights between uses, and a block run with gradients but without activation checkpointing
/// must be refused with a message saying so.
/// </summary>
public class FsdpSingleProcessTests
{
    private static readonly WanConfig Cfg = WanConfig.TinyT2V with { NumLayers = 3, TextLen = 8 };

    private static WanFlowModel Tiny(ulong seed, ScalarType dtype = ScalarType.Float64)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Cfg, dtype) { GradientCheckpointing = true });
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    internal static ProcessGroup GroupOfOne() => ProcessGroup.Init(new DistributedOptions
    {
        MasterPort = RankProcess.FreePort(), Rank = 0, WorldSize = 1, Timeout = TimeSpan.FromSeconds(30),
    });

    [Fact]
    public void One_process_fsdp_reproduces_plain_training_bit_for_bit_and_holds_no_weights_between_uses()
    {
        using var group = GroupOfOne();
        using var plain = Tiny(1);
        using var sharded = Tiny(1);
        using var fsdp = new FullyShardedDataParallel(sharded.Module, group);
        Assert.Equal(Cfg.NumLayers + 1, fsdp.UnitCount);
        Assert.All(sharded.Module.parameters(), p => Assert.Equal(0, p.numel()));              // nothing held between uses
        using var optPlain = new RMSprop(plain.Module.parameters(), lr: 1e-3, alpha: 0.9);
        using var optSharded = new RMSprop(fsdp.parameters(), lr: 1e-3, alpha: 0.9);
        using var g = new Generator(2);
        for (int step = 0; step < 3; step++)
        {
            using var scope = torch.NewScope();
            var x = torch.randn([2, 16, 1, 4, 4], ScalarType.Float64, generator: g);
            var sigma = torch.rand([2], ScalarType.Float64, generator: g);
            var c = new Conditioning(torch.randn([2, 5, Cfg.TextDim], ScalarType.Float64, generator: g));
            var yPlain = plain.Velocity(x, sigma, c);
            var ySharded = fsdp.forward(() => sharded.Velocity(x, sigma, c));
            Assert.Equal(yPlain.data<double>(), ySharded.data<double>());
            yPlain.square().mean().backward();
            fsdp.backward(ySharded.square().mean());
            Assert.All(sharded.Module.parameters(), p => Assert.Equal(0, p.numel()));          // freed after backward too
            Assert.Equal(AptTrainer.GradNorm(plain.Module.parameters()), fsdp.grad_norm(), 12);
            optPlain.step(); optPlain.zero_grad();
            fsdp.step(optSharded); fsdp.zero_grad();
            // no-grad forward: blocks gathered one at a time as they are fetched
            using (torch.no_grad())
                Assert.Equal(plain.Velocity(x, sigma, c).data<double>(), fsdp.forward(() => sharded.Velocity(x, sigma, c)).data<double>());
        }
        var full = fsdp.state_dict();
        var reference = plain.Module.state_dict();
        Assert.Equal(reference.Keys, full.Keys);
        foreach (var (k, v) in reference) Assert.Equal(v.data<double>(), full[k].data<double>());
    }

    [Fact]
    public void A_block_run_with_gradients_but_without_checkpointing_is_refused()
    {
        using var group = GroupOfOne();
        using var m = Tiny(3);
        m.Net.GradientCheckpointing = false;
        using var fsdp = new FullyShardedDataParallel(m.Module, group);
        using var scope = torch.NewScope();
        var x = torch.randn([1, 16, 1, 4, 4], ScalarType.Float64);
        var c = new Conditioning(torch.randn([1, 5, Cfg.TextDim], ScalarType.Float64));
        var e = Assert.Throws<InvalidOperationException>(() => fsdp.forward(() => m.Velocity(x, torch.rand([1], ScalarType.Float64), c)));
        Assert.Contains("block 'blocks.0' ran with gradients on but not under activation checkpointing", e.Message);
        Assert.Contains("GradientCheckpointing", e.Message);
    }
}
