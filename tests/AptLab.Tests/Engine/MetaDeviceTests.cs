using AptLab.Torch.nn;

namespace AptLab.Tests.Engine;

public class MetaDeviceTests
{
    [Fact]
    public void Layers_can_be_built_on_the_meta_device_without_storage()
    {
        var layers = new Module[]
        {
            new Linear(8, 4, device: Device.Meta), new Conv3d(2, 4, [1, 2, 2], device: Device.Meta),
            new LayerNorm(8, device: Device.Meta), new GroupNorm(2, 8, device: Device.Meta),
            new RMSNorm(8, device: Device.Meta), new Embedding(10, 8, device: Device.Meta),
        };
        foreach (var m in layers)
            foreach (var (name, p) in m.named_parameters())
                Assert.True(p.device.Type == DeviceType.Meta, $"{m.GetType().Name}.{name} is on {p.device}");
        Assert.Equal(new long[] { 10, 8 }, ((Embedding)layers[5]).weight.shape);
        foreach (var m in layers) m.Dispose();
    }
}
