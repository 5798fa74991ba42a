namespace AptLab.Diffusion;

/// <summary>
/// Euler sampling on the float64 grid <c>sigma_i = shift(1 - i/N, s)</c>, i = 0..N (sigma_0 = 1, sigma_N = 0): the
/// teacher sampling of APT and of the demo study (docs/flow-matching.md#samplers). Each step is
/// <see cref="FlowMatch.EulerStep(Tensor, Tensor, double, double)"/> with the float64 sigmas; the model is given
/// sigma_i (<see cref="Sigmas"/>, float32) or <see cref="ModelTimestep"/> = 1000 sigma_i.
/// </summary>
public sealed class EulerSampler : ISampler
{
    private double[] grid = [0.0];

    /// <summary>A sampler with the schedule of <paramref name="steps"/> steps at <paramref name="shift"/>.</summary>
    public EulerSampler(int steps, double shift) => SetTimesteps(steps, shift);

    public void SetTimesteps(int steps, double shift)
    {
        if (steps <= 0) throw new ArgumentException($"EulerSampler: steps must be positive, got {steps}");
        grid = new double[steps + 1];
        for (int i = 0; i <= steps; i++) grid[i] = FlowMatch.Shift(1 - (double)i / steps, shift);
    }

    public int Steps => grid.Length - 1;

    /// <summary>The float64 noise levels sigma_0 .. sigma_N.</summary>
    public IReadOnlyList<double> SigmasFloat64 => grid;

    public IReadOnlyList<float> Sigmas => Array.ConvertAll(grid, s => (float)s);

    public double ModelTimestep(int index) => FlowMatch.Timestep(grid[index]);

    public Tensor Step(Tensor velocity, int index, Tensor sample)
    {
        if (index < 0 || index >= Steps) throw new ArgumentException($"EulerSampler: step {index} is outside the {Steps} steps of the schedule");
        return FlowMatch.EulerStep(sample, velocity, grid[index], grid[index + 1]);
    }

    public void Reset() { }
}
