using AptLab.Diffusion;

namespace AptLab.Tests.Diffusion;

/// <summary>The one copy of the flow-matching math (docs/flow-matching.md): closed forms and the bit-level claims the
/// samplers rely on.</summary>
public class FlowMatchTests
{
    [Fact]
    public void Noising_velocity_and_x0_invert_each_other_per_sample()
    {
        using var _ = torch.NewScope();
        using var g = new Generator(1);
        var x0 = torch.randn([3, 4, 2, 5], ScalarType.Float64, Device.CPU, g);
        var eps = torch.randn([3, 4, 2, 5], ScalarType.Float64, Device.CPU, g);
        var sigma = torch.tensor(new[] { 0.0, 0.3, 1.0 });
        var xs = FlowMatch.AddNoise(x0, eps, sigma);
        TensorAssert.Close(x0.select(0, 0).data<double>(), xs.select(0, 0), atol: 0);                  // sigma 0: the data
        TensorAssert.Close(eps.select(0, 2).data<double>(), xs.select(0, 2), atol: 0);                 // sigma 1: the noise
        var v = FlowMatch.Velocity(x0, eps);
        TensorAssert.Close(x0.data<double>(), FlowMatch.X0(xs, v, sigma), atol: 1e-12);                // x0 = x - sigma v
        TensorAssert.Close(x0.data<double>(), FlowMatch.EulerStep(xs, v, sigma, torch.zeros([3], ScalarType.Float64)), atol: 1e-12);
        // the scalar forms agree with the per-sample ones
        TensorAssert.Close(xs.select(0, 1).data<double>(), FlowMatch.AddNoise(x0.select(0, 1), eps.select(0, 1), 0.3), atol: 1e-15);
        TensorAssert.Close(x0.select(0, 1).data<double>(), FlowMatch.X0(xs.select(0, 1), v.select(0, 1), 0.3), atol: 1e-12);
    }

    [Fact]
    public void Cfg_is_uncond_plus_scale_times_the_difference()
    {
        using var _ = torch.NewScope();
        var u = torch.tensor(new[] { 1.0, -2.0 });
        var c = torch.tensor(new[] { 3.0, 0.5 });
        TensorAssert.Close(new[] { 1.0, -2.0 }, FlowMatch.Cfg(u, c, 0), atol: 0);
        TensorAssert.Close(new[] { 3.0, 0.5 }, FlowMatch.Cfg(u, c, 1), atol: 0);
        TensorAssert.Close(new[] { 1 + 4.5 * 2, -2 + 4.5 * 2.5 }, FlowMatch.Cfg(u, c, 4.5), atol: 1e-12);
    }

    [Fact]
    public void Euler_step_with_float64_differences_equals_the_official_float32_difference_on_their_grids()
    {
        // The official schedulers subtract float32 sigmas; FlowMatch.EulerStep takes the difference in float64 and applies
        // it in float32. For every official grid the two give the same bits.
        using var _ = torch.NewScope();
        using var g = new Generator(2);
        var x = torch.randn([64], generator: g);
        var v = torch.randn([64], generator: g);
        foreach (int n in new[] { 1, 2, 7, 25, 50, 1000 })
            foreach (double shift in new[] { 1.0, 3.0, 5.0, 12.0 })
                foreach (ISampler s in new ISampler[] { FlowMatchScheduler.Wan(), new FlowUniPCMultistepScheduler() })
                {
                    s.SetTimesteps(n, shift);
                    for (int i = 0; i < n; i++)
                    {
                        using var step = torch.NewScope();
                        float a = s.Sigmas[i], b = s.Sigmas[i + 1];
                        var official = x + v * (double)(b - a);
                        Assert.Equal(official.data<float>(), FlowMatch.EulerStep(x, v, a, b).data<float>());
                    }
                }
    }

    [Fact]
    public void Euler_sampler_grid_is_the_shifted_float64_linspace_and_its_steps_are_euler()
    {
        using var _ = torch.NewScope();
        var s = new EulerSampler(4, 3.0);
        Assert.Equal(4, s.Steps);
        Assert.Equal(new[] { 1.0, 3 * 0.75 / (1 + 2 * 0.75), 3 * 0.5 / (1 + 2 * 0.5), 3 * 0.25 / (1 + 2 * 0.25), 0.0 }, s.SigmasFloat64);
        Assert.Equal(1000.0 * s.SigmasFloat64[1], s.ModelTimestep(1));
        // the loop with the exact velocity of a single data point (v = eps - x0 is constant along the path) lands on it
        var x0 = torch.tensor(new[] { 0.25, -0.5 }, 2).to(ScalarType.Float64);
        var eps = torch.tensor(new[] { 1.5, 0.75 }, 2).to(ScalarType.Float64);
        var end = FlowSampling.Sample(s, eps, (i, x) => FlowMatch.Velocity(x0, eps));
        TensorAssert.Close(new[] { 0.25, -0.5 }, end, atol: 1e-12);
        Assert.Throws<ArgumentOutOfRangeException>(() => FlowMatch.Shift(999, 5));   // a 0..1000 timestep is not a sigma
    }
}
