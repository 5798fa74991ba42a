using System.Text.Json;
using AptLab.Wan;

namespace AptLab.Tests.Wan;

internal static class WanTestUtil
{
    /// <summary>||a − b|| / ||b|| over the full tensors, in float64.</summary>
    public static double RelErr(Tensor a, Tensor b)
    {
        using var _ = torch.NewScope();
        Assert.Equal(b.shape, a.shape);
        var a64 = a.detach().to(ScalarType.Float64);
        var b64 = b.detach().to(ScalarType.Float64);
        return (a64 - b64).norm().item<double>() / b64.norm().item<double>();
    }

    /// <summary>The config object of a reference case JSON.</summary>
    public static WanConfig CaseConfig(string caseName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile(caseName + ".json")));
        return WanConfig.FromJson(doc.RootElement.GetProperty("config"), caseName + ".json");
    }

    /// <summary>A model of the case's config with the case's weights loaded strictly.</summary>
    public static WanModel LoadCaseModel(string caseName)
    {
        return WanCheckpoint.Load(TestPaths.ReferenceFile(caseName + ".weights.safetensors"), CaseConfig(caseName));
    }

    /// <summary>Every parameter drawn afresh (<see cref="AptLab.Torch.nn.init.nontrivial_"/>), so every path contributes.</summary>
    public static void Randomize(WanModel model, ulong seed)
    {
        using var g = new Generator(seed);
        AptLab.Torch.nn.init.nontrivial_(model, g);
    }
}
