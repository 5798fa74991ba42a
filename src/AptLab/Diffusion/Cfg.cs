namespace AptLab.Diffusion;

/// <summary>Classifier-free guidance.</summary>
public static class Cfg
{
    /// <summary><c>uncond + scale (cond - uncond)</c> (the official order of operations).</summary>
    public static Tensor Combine(Tensor uncond, Tensor cond, double scale)
    {
        using var scope = torch.NewScope();
        return scope.Keep(uncond + (cond - uncond) * scale);
    }
}
