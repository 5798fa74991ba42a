namespace AptLab.Tests.Engine;

/// <summary>The non-finite checks a trainer stops on: a NaN or infinite scalar is named, a tensor with a single NaN or
/// inf among finite values is found, and a state dict's bad tensors are listed by name.</summary>
public class FiniteTests
{
    [Fact]
    public void Scalars_tensors_and_state_dicts_are_checked()
    {
        using var _ = torch.NewScope();
        Assert.Equal(0.5, Finite.Check(0.5, "loss"));
        Assert.Equal("apt_image loss_g at step 12 is nan", Assert.Throws<NonFiniteException>(() => Finite.Check(double.NaN, "apt_image loss_g at step 12")).Message);
        Assert.Equal("grad norm is -inf", Assert.Throws<NonFiniteException>(() => Finite.Check(double.NegativeInfinity, "grad norm")).Message);

        var ok = torch.randn(64, 64);
        var values = ok.data<float>().ToArray();
        values[17 * 64 + 3] = float.NaN;                                          // one NaN among 4096 finite values
        var nan = torch.tensor(values, 64, 64);
        var inf = torch.ones([5], ScalarType.BFloat16) / torch.tensor(new float[] { 1, 1, 0, 1, 1 }).to(ScalarType.BFloat16);
        Assert.True(Finite.All(ok));
        Assert.False(Finite.All(nan));
        Assert.False(Finite.All(inf));
        Assert.True(Finite.All(torch.empty([3, 3], ScalarType.Float32, Device.Meta)));
        Assert.True(Finite.All(torch.arange(4, ScalarType.Int64)));

        var sd = new Dictionary<string, Tensor> { ["a.weight"] = ok, ["b.weight"] = nan, ["c.bias"] = inf };
        Assert.Equal(["b.weight", "c.bias"], Finite.NonFiniteNames(sd));
        var e = Assert.Throws<NonFiniteException>(() => Finite.CheckAll(sd, "refusing to save cd.safetensors"));
        Assert.Equal("refusing to save cd.safetensors: 2 tensors hold NaN or inf values (b.weight, c.bias)", e.Message);
        Finite.CheckAll(new Dictionary<string, Tensor> { ["a.weight"] = ok }, "fine");
    }
}
