using System.Globalization;
using System.Text.Json;

namespace AptLab.Tests.Engine;

/// <summary>
/// Seeded draws are made by the CPU generator whatever device the result goes to, in the engine's creation functions
/// and in-place fills. On the CPU nothing changed: every draw of <see cref="RandomDraws"/> (engine functions, APT
/// helpers, initialisation, a CD loss, two APT updates with R1 and R2) reproduces, to the bit, the values recorded
/// before the change. On another device (the meta device here, CUDA on a GPU host) the draw still consumes the CPU
/// generator exactly as the CPU draw of the same shape does, which is what makes a CUDA run resume exactly.
/// </summary>
public class DeviceSafeRandomnessTests
{
    [Fact]
    public void Cpu_draws_are_bit_identical_to_the_values_recorded_before_the_change()
    {
        var recorded = JsonSerializer.Deserialize<Dictionary<string, string[]>>(File.ReadAllText(TestPaths.Fixture("rng_draws.json")))!;
        var now = RandomDraws.Compute();
        Assert.Equal(recorded.Keys.OrderBy(k => k, StringComparer.Ordinal), now.Keys);
        foreach (var (name, values) in now)
        {
            var want = recorded[name].Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            Assert.True(want.Length == values.Length, $"{name}: {values.Length} values, recorded {want.Length}");
            for (int i = 0; i < want.Length; i++)
                Assert.True(BitConverter.DoubleToInt64Bits(want[i]) == BitConverter.DoubleToInt64Bits(values[i]),
                    $"{name}[{i}]: {values[i]:R}, recorded {want[i]:R}");
        }
    }

    private static double StateSum(Generator g)
    {
        using var s = g.get_state();
        using var d = s.to(ScalarType.Float64);
        return d.sum().item<double>();
    }

    [Fact]
    public void A_draw_for_another_device_consumes_the_cpu_generator_like_the_cpu_draw()
    {
        using var scope = torch.NewScope();
        var draws = new (string name, Func<Device, Generator, Tensor> draw)[]
        {
            ("randn", (d, g) => torch.randn([3, 5], ScalarType.Float32, d, g)),
            ("randn bf16", (d, g) => torch.randn([7], ScalarType.BFloat16, d, g)),
            ("rand", (d, g) => torch.rand([4, 2], ScalarType.Float64, d, g)),
            ("randint", (d, g) => torch.randint(0, 9, [6], device: d, generator: g)),
            ("randperm", (d, g) => torch.randperm(11, g, d)),
            ("randn_like", (d, g) => torch.randn_like(torch.empty([2, 3], ScalarType.Float32, d), g)),
            ("rand_like", (d, g) => torch.rand_like(torch.empty([5], ScalarType.Float32, d), g)),
            ("normal_", (d, g) => torch.empty([3, 3], ScalarType.Float32, d).normal_(1, 2, g)),
            ("uniform_", (d, g) => torch.empty([8], ScalarType.Float32, d).uniform_(-1, 1, g)),
            ("bernoulli_", (d, g) => torch.empty([9], ScalarType.Float32, d).bernoulli_(0.4, g)),
        };
        foreach (var (name, draw) in draws)
        {
            using var gCpu = new Generator(42);
            using var gMeta = new Generator(42);
            var onCpu = draw(Device.CPU, gCpu);
            var onMeta = draw(Device.Meta, gMeta);
            Assert.Equal(DeviceType.Meta, onMeta.device.Type);
            Assert.Equal(onCpu.shape, onMeta.shape);
            Assert.Equal(onCpu.dtype, onMeta.dtype);
            // the meta draw advanced the CPU generator exactly as far (libtorch's own meta kernels do not touch it)
            Assert.True(StateSum(gCpu) == StateSum(gMeta), $"{name}: the generator states differ after the draw");
            var next = torch.randn([4], generator: gCpu);
            Assert.Equal(next.data<float>(), torch.randn([4], generator: gMeta).data<float>());
        }
        // requires_grad survives the move
        using var g2 = new Generator(1);
        Assert.True(torch.randn([2], ScalarType.Float32, Device.Meta, g2, requires_grad: true).requires_grad);
    }

    [Fact]
    public void A_generator_state_saved_midway_resumes_the_same_stream_on_any_device()
    {
        using var scope = torch.NewScope();
        using var g = new Generator(7);
        torch.randn([10], generator: g);
        var state = g.get_state();
        var a = torch.randn([5], generator: g);
        torch.randn([10], ScalarType.Float32, Device.Meta, g);              // a draw for another device in between
        var b = torch.randn([5], generator: g);
        using var h = new Generator(0);
        h.set_state(state);
        Assert.Equal(a.data<float>(), torch.randn([5], generator: h).data<float>());
        torch.randn([10], generator: h);
        Assert.Equal(b.data<float>(), torch.randn([5], generator: h).data<float>());
    }
}
