namespace AptLab.Wan.Text;

/// <summary>The official negative prompts (docs/flow-matching.md#schedules), used verbatim for parity when the user gives none.</summary>
public static class WanNegativePrompts
{
    /// <summary>The shared default of the T2V and I2V pipelines.</summary>
    public const string Default =
        "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

    /// <summary>Official I2V: "镜头晃动，" (camera shake) + the shared default.</summary>
    public const string ImageToVideo = "镜头晃动，" + Default;

    /// <summary>FLF2V prefix "镜头切换，" (shot change) + the shared default.</summary>
    public const string FirstLastFrame = "镜头切换，" + Default;
}
