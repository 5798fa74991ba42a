using AptLab.Torch.nn;
using AptLab.Torch.optim;

namespace AptLab.Tests.Engine;

public class EMATests
{
    /// <summary>A module with a parameter and a buffer.</summary>
    private sealed class Net : Module
    {
        public readonly Parameter w;
        public readonly Tensor count;
        public Net(float w0)
        {
            w = RegisterParameter("w", torch.full([2], w0));
            count = RegisterBuffer("count", torch.zeros(1));
        }
    }

    [Fact]
    public void Update_is_decay_times_ema_plus_one_minus_decay_times_param()
    {
        using var _ = torch.NewScope();
        using var model = new Net(1);
        using var ema = new EMA(model, decay: 0.9);
        double expected = 1;
        double[] values = [2, -3, 0.5, 10];
        for (int k = 0; k < values.Length; k++)
        {
            using (torch.no_grad()) { model.w.fill_(values[k]); model.count.fill_(k + 1); }
            ema.update(model);
            expected = 0.9 * expected + 0.1 * values[k];
        }
        var sd = ema.state_dict();
        Assert.Equal(expected, sd["w"].data<float>()[0], 5);
        Assert.Equal(4f, sd["count"].item<float>());               // buffers are copied, not averaged
        Assert.Equal(4, ema.num_updates);

        using var target = new Net(0);
        ema.copy_to(target);
        Assert.Equal(expected, target.w.data<float>()[1], 5);
        Assert.Equal(4f, target.count.item<float>());
        target.load_state_dict(sd);                                 // the EMA state dict is a model checkpoint
    }

    [Fact]
    public void Warmup_decay_is_min_of_decay_and_1_plus_n_over_10_plus_n()
    {
        using var _ = torch.NewScope();
        using var model = new Net(0);
        using var ema = new EMA(model, decay: 0.5, use_warmup: true);
        double expected = 0;
        for (int n = 0; n < 6; n++)
        {
            double d = Math.Min(0.5, (1.0 + n) / (10.0 + n));
            Assert.Equal(d, ema.current_decay(), 15);
            using (torch.no_grad()) model.w.fill_(n + 1);
            ema.update(model);
            expected = d * expected + (1 - d) * (n + 1);
        }
        Assert.Equal(expected, ema.state_dict()["w"].data<float>()[0], 5);
    }

    [Fact]
    public void State_dict_round_trip_and_mismatch_errors()
    {
        using var _ = torch.NewScope();
        using var model = new Net(3);
        using var ema = new EMA(model, 0.99);
        using (torch.no_grad()) model.w.fill_(5);
        ema.update(model);
        var saved = ema.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        using var fresh = new Net(0);
        using var ema2 = new EMA(fresh, 0.99);
        ema2.load_state_dict(saved, num_updates: ema.num_updates);
        Assert.Equal(ema.state_dict()["w"].data<float>(), ema2.state_dict()["w"].data<float>());
        Assert.Equal(1, ema2.num_updates);

        saved.Remove("count");
        Assert.Contains("count", Assert.Throws<InvalidDataException>(() => ema2.load_state_dict(saved)).Message);
        using var other = new Linear(2, 2);
        Assert.Contains("'weight'", Assert.Throws<InvalidOperationException>(() => ema.update(other)).Message);
    }
}
