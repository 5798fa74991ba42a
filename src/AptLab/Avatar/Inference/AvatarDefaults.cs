namespace AptLab.Avatar.Inference;

/// <summary>Constants of OmniAvatar's inference configs (docs/omniavatar.md#conditioning, docs/omniavatar.md#sampling).</summary>
public static class AvatarDefaults
{
    /// <summary>The negative prompt of both official YAMLs, verbatim.</summary>
    public const string NegativePrompt =
        "Vivid color tones, background/camera moving quickly, screen switching, subtitles and special effects, mutation, " +
        "overexposed, static, blurred details, subtitles, style, work, painting, image, still, overall grayish, worst quality, " +
        "low quality, JPEG compression residue, ugly, incomplete, extra fingers, poorly drawn hands, poorly drawn face, deformed, " +
        "disfigured, malformed limbs, fingers merging, motionless image, chaotic background, three legs, crowded background " +
        "with many people, walking backward";

    /// <summary>Buckets [H, W] for max_hw 720 ("480p") and 1280 ("720p").</summary>
    public static readonly IReadOnlyList<int[]> ImageSizes720 = [[400, 720], [720, 720], [720, 400]];
    public static readonly IReadOnlyList<int[]> ImageSizes1280 = [[720, 720], [528, 960], [960, 528], [720, 1280], [1280, 720]];
}
