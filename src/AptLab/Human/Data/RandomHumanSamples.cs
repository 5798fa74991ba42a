using AptLab.Data;

namespace AptLab.Human.Data;

/// <summary>
/// Seeded random OmniHuman cache samples (the tensors of <see cref="HumanCacheEncoder"/>) for tiny random-weight runs and
/// tests: latents near their reference latent, motion latents, audio features of the whole clip, head keypoints
/// (every second sample), captions' contexts of 3..6 rows; every third sample is not audio-qualified.
/// </summary>
public static class RandomHumanSamples
{
    public static void Write(string folder, int count, HumanClipSpec spec, int latentSize, int audioInDim, int textDim, ulong seed)
    {
        spec.Validate();
        var cache = LatentCache.Open(folder);
        using var g = new Generator(seed);
        int f = spec.LatentFrames, fm = (spec.MotionFrames - 1) / 4 + 1, total = spec.TotalFrames, h = latentSize;
        for (int i = 0; i < count; i++)
        {
            using var scope = torch.NewScope();
            var reference = torch.randn([16, 1, h, h], generator: g);
            var tensors = new Dictionary<string, Tensor>
            {
                ["latents"] = reference.expand(16, f, h, h) + torch.randn([16, f, h, h], generator: g) * 0.3,
                ["motion_latents"] = reference.expand(16, fm, h, h) + torch.randn([16, fm, h, h], generator: g) * 0.3,
                ["ref_latents"] = reference.expand(16, spec.ReferenceCandidates, h, h) + torch.randn([16, spec.ReferenceCandidates, h, h], generator: g) * 0.1,
                ["audio"] = torch.randn([total, audioInDim], generator: g),
                ["context"] = torch.randn([3 + i % 4, textDim], generator: g),
                ["audio_qualified"] = torch.tensor(new float[] { i % 3 == 2 ? 0 : 1 }, 1),
            };
            if (i % 2 == 0)
            {
                var centre = Enumerable.Range(0, total).Select(t => (spec.Width * (0.4 + 0.01 * t), spec.Height * 0.5)).ToArray();
                tensors["keypoints"] = TalkingFaces.HeadKeypoints(centre, spec.Width * 0.25, spec.Width).ToTensor();
            }
            cache.Add($"random{i}", $"random sample {i}", tensors);
        }
    }
}
