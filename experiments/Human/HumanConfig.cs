using AptLab.Config;
using AptLab.Human;
using AptLab.Human.Data;
using AptLab.Human.Inference;
using AptLab.Human.Training;
using AptLab.Wan;

namespace AptLab.Experiments.Human;

/// <summary>
/// The <c>human:</c> section of the OmniHuman configs (docs/omnihuman.md): <c>experiment: omnihuman</c> (training:
/// the three stages on a manifest, or on generated talking faces with a <c>study</c>), <c>experiment: apt-omnihuman</c>
/// (the one-step student) and <c>aptlab human</c> (inference) all read it.
/// </summary>
public sealed class HumanConfig : IValidatable
{
    public HumanModelConfig Model { get; set; } = new();
    public HumanDataConfig Data { get; set; } = new();
    public HumanTrainConfig Train { get; set; } = new();
    public HumanInferenceConfig Inference { get; set; } = new();
    /// <summary>The synthetic study (talking faces, a VAE trained on them, the evaluation); absent for real data.</summary>
    public HumanStudyConfig? Study { get; set; }
    /// <summary>apt-omnihuman / aptlab human: a finished <c>omnihuman</c> run folder (or <c>latest</c>) whose products
    /// (checkpoints/omnihuman.safetensors, its VAE and encoders, its latent cache) are the teacher and the data.</summary>
    public string From { get; set; } = "";
    /// <summary>apt-omnihuman: the conditions the one-step student trains under (its use cases: audio-driven, and with
    /// pose half of the time); steps unused, no guidance dropout (the student has no CFG).</summary>
    public HumanStageConfig AptConditions { get; set; } = new() { Steps = 0, Text = 1, Reference = 1, Audio = 1, Pose = 0.5, Motion = 0.5, DropTextAudio = 0, DropText = 0 };

    public void Validate(string key, string? file)
    {
        // The encoders' files: a from-run brings its own (its recorded config names them).
        if (From.Length == 0 && !Model.RandomWeights && string.IsNullOrWhiteSpace(Model.Weights))
            foreach (var (k, v) in new[] { ("vae_path", Model.VaePath), ("text_encoder_path", Model.TextEncoderPath), ("wav2vec_path", Model.Wav2vecPath) })
                if (string.IsNullOrWhiteSpace(v)) throw ConfigException.For(file, $"{key}.model.{k}", "is required unless random_weights is true or human.from names a run");
        if (Study is not null && !Model.RandomWeights)
            throw ConfigException.For(file, key + ".study", "the synthetic study trains tiny models from scratch: set model.random_weights: true");
        if (Study is not null && Data.Manifest.Length > 0)
            throw ConfigException.For(file, key + ".data.manifest", "the study generates its own clips; leave manifest empty");
    }
}

/// <summary>The synthetic study (docs/omnihuman.md#the-study): generated talking-face clips, a tiny Wan VAE trained on
/// them, and the evaluation of the trained model.</summary>
public sealed class HumanStudyConfig : IValidatable
{
    /// <summary>Training clips (<see cref="TalkingFaces"/>, indices 0 ..).</summary>
    public int Clips { get; set; } = 384;
    /// <summary>Share of clips whose audio drives their mouth (the rest fail the "lip-sync filter").</summary>
    public double AudioQualified { get; set; } = 0.6;
    /// <summary>Share of clips that come with head keypoints.</summary>
    public double WithPose { get; set; } = 0.5;
    public VaeStageConfig Vae { get; set; } = new();
    /// <summary>Frames (1 + 4k) of the clip windows the VAE trains on: the segment length lets it learn to carry the
    /// frame-to-frame mouth motion through the causal chunks it encodes segments with.</summary>
    public int VaeFrames { get; set; } = 5;
    /// <summary>Every how many VAE steps a clip batch (the others single frames).</summary>
    public int VaeVideoEvery { get; set; } = 3;
    public HumanEvalConfig Eval { get; set; } = new();

    public void Validate(string key, string? file)
    {
        if (Clips < 2) throw ConfigException.For(file, key + ".clips", "must be >= 2");
        if (!(AudioQualified > 0 && AudioQualified <= 1)) throw ConfigException.For(file, key + ".audio_qualified", "must lie in (0, 1]");
        if (!(WithPose >= 0 && WithPose <= 1)) throw ConfigException.For(file, key + ".with_pose", "must lie in [0, 1]");
        if (VaeFrames < 1 || (VaeFrames - 1) % 4 != 0) throw ConfigException.For(file, key + ".vae_frames", $"{VaeFrames} is not 1 + 4k");
        if (VaeVideoEvery < 1) throw ConfigException.For(file, key + ".vae_video_every", $"must be >= 1, got {VaeVideoEvery}");
    }
}

/// <summary>What the study's evaluation samples: held-out clips (indices past the training clips), noise seeds, the
/// real sets for the Fréchet distance.</summary>
public sealed class HumanEvalConfig : IValidatable
{
    /// <summary>Held-out clips generated per seed and setting.</summary>
    public int Samples { get; set; } = 48;
    /// <summary>Noise seeds (the spread over seeds).</summary>
    public List<ulong> Seeds { get; set; } = [0, 1, 2];
    /// <summary>Real held-out clips for the Fréchet distance and its real-vs-real noise floor (two sets of this size).</summary>
    public int RealSamples { get; set; } = 128;

    public void Validate(string key, string? file)
    {
        if (Samples < 2) throw ConfigException.For(file, key + ".samples", "must be >= 2");
        if (Seeds.Count < 1) throw ConfigException.For(file, key + ".seeds", "needs at least one seed");
        if (RealSamples < 2) throw ConfigException.For(file, key + ".real_samples", "must be >= 2");
    }
}

/// <summary>The DiT and its encoders.</summary>
public sealed class HumanModelConfig : IValidatable
{
    /// <summary>wan2.1-1.3b, wan2.1-14b (Wan 2.1 T2V sizes) or custom (the dims below).</summary>
    public string Preset { get; set; } = "wan2.1-1.3b";
    /// <summary>Tiny random encoders (umT5, wav2vec2; and the VAE, trained by a study) and a DiT from scratch.</summary>
    public bool RandomWeights { get; set; }
    public int Dim { get; set; } = 64;
    public int FfnDim { get; set; } = 128;
    public int NumHeads { get; set; } = 4;
    public int NumLayers { get; set; } = 4;
    public int FreqDim { get; set; } = 64;
    public int PoseChannels { get; set; } = 16;
    public int PoseNeighbours { get; set; } = 1;
    public List<int> PoseGuiderWidths { get; set; } = [32, 64, 128];
    public int AudioWindow { get; set; } = 2;
    public int MotionFrames { get; set; } = 5;
    /// <summary>The VAE's spatial compression (8 for Wan 2.1's; a study's 3-level VAE has 4).</summary>
    public int VaeSpatialFactor { get; set; } = 8;
    /// <summary>Wan 2.1 T2V DiT weights, the training init (one file, a folder or comma-separated shards).</summary>
    public string DitPath { get; set; } = "";
    /// <summary>An OmniHuman weights file (OmniHumanWeights) or an omnihuman run folder: inference, or continuing.</summary>
    public string Weights { get; set; } = "";
    public string VaePath { get; set; } = "";
    public string TextEncoderPath { get; set; } = "";
    /// <summary>umT5 tokenizer (default: google/umt5-xxl beside the text encoder; random_weights: any SentencePiece model).</summary>
    public string TokenizerPath { get; set; } = "";
    public string Wav2vecPath { get; set; } = "";
    public int TextLen { get; set; } = 512;
    /// <summary>fp32 (CPU) or bf16 (GPU configs).</summary>
    public string Dtype { get; set; } = "bf16";
    public int LoraRank { get; set; } = 128;
    public double LoraAlpha { get; set; } = 64;
    public string LoraTargetModules { get; set; } = "q,k,v,o,ffn.0,ffn.2";
    public bool GradientCheckpointing { get; set; } = true;

    [YamlDotNet.Serialization.YamlIgnore]
    public ScalarType ModelDtype => Dtype == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>The architecture for encoders of the given widths (text_dim, text_len from the text encoder,
    /// audio_in_dim from wav2vec2).</summary>
    public OmniHumanConfig Architecture(int textDim, int textLen, int audioInDim)
    {
        var wan = Preset switch
        {
            "wan2.1-14b" => WanConfig.T2V_14B,
            "wan2.1-1.3b" => WanConfig.T2V_1_3B,
            _ => new WanConfig { ModelType = "t2v", Dim = Dim, FfnDim = FfnDim, NumHeads = NumHeads, NumLayers = NumLayers, FreqDim = FreqDim, OutDim = 16 },
        };
        wan = wan with { TextDim = textDim, TextLen = textLen, InDim = 16 + (2 * PoseNeighbours + 1) * PoseChannels };
        return new OmniHumanConfig
        {
            Wan = wan, AudioInDim = audioInDim, AudioWindow = AudioWindow, PoseChannels = PoseChannels, PoseNeighbours = PoseNeighbours,
            PoseGuiderWidths = PoseGuiderWidths.ToArray(), MotionFrames = MotionFrames, VaeSpatial = VaeSpatialFactor,
        };
    }

    public void Validate(string key, string? file)
    {
        ConfigException Bad(string k, string why) => ConfigException.For(file, $"{key}.{k}", why);
        if (Preset is not ("wan2.1-1.3b" or "wan2.1-14b" or "custom")) throw Bad("preset", $"'{Preset}' must be wan2.1-1.3b, wan2.1-14b or custom");
        if (Dtype is not ("fp32" or "bf16")) throw Bad("dtype", $"'{Dtype}' must be fp32 or bf16");
        if (LoraRank < 1) throw Bad("lora_rank", "must be >= 1");
        if (!(LoraAlpha > 0)) throw Bad("lora_alpha", "must be positive");
        if (TextLen < 2) throw Bad("text_len", "must be >= 2");
        if (RandomWeights && string.IsNullOrWhiteSpace(TokenizerPath)) throw Bad("tokenizer_path", "random_weights needs a SentencePiece model (e.g. configs/demo/spiece.model)");
        try { Architecture(32, TextLen, 48).Validate(); }
        catch (ArgumentException e) { throw ConfigException.For(file, key, e.Message); }
    }
}

/// <summary>The clips: a manifest, or (study) generated talking faces; the segment's size and frames.</summary>
public sealed class HumanDataConfig : IValidatable
{
    /// <summary>CSV or JSONL manifest (<see cref="HumanManifest"/>).</summary>
    public string Manifest { get; set; } = "";
    /// <summary>Folder of the latent cache; empty: &lt;run or manifest folder&gt;/cache-HxWxF.</summary>
    public string Cache { get; set; } = "";
    public int Height { get; set; } = 480;
    public int Width { get; set; } = 832;
    /// <summary>Frames of one generated segment, 1 + 4k (81 = Wan's clip).</summary>
    public int Frames { get; set; } = 81;
    public int Fps { get; set; } = 25;
    /// <summary>Frames of a clip (beside the reference image) that can be its reference.</summary>
    public int ReferenceCandidates { get; set; } = 3;
    /// <summary>σ of the pose heatmaps in pixels.</summary>
    public double PoseSigma { get; set; } = 4.0;

    public HumanClipSpec Spec(int motionFrames) => new(Height, Width, Frames, motionFrames, Fps, 16000, ReferenceCandidates);

    public void Validate(string key, string? file)
    {
        try { Spec(5).Validate(); }
        catch (ArgumentException e) { throw ConfigException.For(file, key, e.Message); }
        if (!(PoseSigma > 0)) throw ConfigException.For(file, key + ".pose_sigma", "must be positive");
    }
}

/// <summary>One stage's steps and condition ratios (docs/omnihuman.md#training).</summary>
public sealed class HumanStageConfig : IValidatable
{
    public int Steps { get; set; } = 100;
    public double Text { get; set; } = 0.9;
    public double Reference { get; set; } = 0.8;
    public double Audio { get; set; }
    public double Pose { get; set; }
    public double Motion { get; set; } = 0.5;
    public double DropTextAudio { get; set; } = 0.1;
    public double DropText { get; set; } = 0.05;

    public HumanStage Stage() => new(Steps, new ConditionRatios
    {
        Text = Text, Reference = Reference, Audio = Audio, Pose = Pose, Motion = Motion, DropTextAudio = DropTextAudio, DropText = DropText,
    });

    public void Validate(string key, string? file)
    {
        if (Steps < 0) throw ConfigException.For(file, key + ".steps", "must be >= 0");
    }
}

/// <summary>The optimisation (docs/omnihuman.md#training).</summary>
public sealed class HumanTrainConfig : IValidatable
{
    /// <summary>lora (LoRA on Wan's linears + the added parts) or full.</summary>
    public string Mode { get; set; } = "lora";
    /// <summary>The stages in order (1: text + reference, 2: + audio, 3: + pose); defaults: the recipe's ratios.</summary>
    public List<HumanStageConfig> Stages { get; set; } =
    [
        new() { Steps = 1000, Text = 0.9, Reference = 0.9 },
        new() { Steps = 1000, Text = 0.9, Reference = 0.8, Audio = 0.5 },
        new() { Steps = 1000, Text = 0.9, Reference = 0.8, Audio = 0.5, Pose = 0.25 },
    ];
    public double Lr { get; set; } = 5e-5;
    public double WeightDecay { get; set; } = 0.01;
    public double Beta1 { get; set; } = 0.9;
    public double Beta2 { get; set; } = 0.999;
    public int WarmupSteps { get; set; }
    public double MaxGradNorm { get; set; } = 1.0;
    public int MicroBatch { get; set; } = 1;
    public int Accumulation { get; set; } = 1;
    public double Shift { get; set; } = 5.0;
    public int CheckpointEvery { get; set; } = 200;

    public HumanTrainerSettings Settings(bool checkpointing) => new()
    {
        Stages = Stages.Select(s => s.Stage()).ToList(), Lr = Lr, WeightDecay = WeightDecay, Beta1 = Beta1, Beta2 = Beta2,
        WarmupSteps = WarmupSteps, MaxGradNorm = MaxGradNorm, MicroBatch = MicroBatch, Accumulation = Accumulation, Shift = Shift,
        Train = Mode, GradientCheckpointing = checkpointing,
    };

    public void Validate(string key, string? file)
    {
        if (CheckpointEvery < 1) throw ConfigException.For(file, key + ".checkpoint_every", "must be >= 1");
        try { Settings(false).Validate(); }
        catch (ArgumentException e) { throw ConfigException.For(file, key, e.Message.Replace("HumanTrainerSettings.", "")); }
    }
}

/// <summary>Sampling (docs/omnihuman.md#inference): steps, shift, CFG annealing, drive, segment length and size.</summary>
public sealed class HumanInferenceConfig : IValidatable
{
    public int Steps { get; set; } = 50;
    public double Shift { get; set; } = 5.0;
    public HumanGuidanceConfig Guidance { get; set; } = new();
    /// <summary>Output size (default: the data's).</summary>
    public int Height { get; set; }
    public int Width { get; set; }
    /// <summary>Frames per segment (default: the data's frames).</summary>
    public int SegmentFrames { get; set; }
    public double PoseSigma { get; set; }
    public ulong Seed { get; set; } = 42;
    public string OutputDir { get; set; } = "results/human";
    public int Threads { get; set; }

    public HumanVideoOptions Options(HumanDataConfig data, HumanDrive drive) => new()
    {
        Height = Height > 0 ? Height : data.Height, Width = Width > 0 ? Width : data.Width,
        SegmentFrames = SegmentFrames > 0 ? SegmentFrames : data.Frames, Steps = Steps, Shift = Shift, Guidance = Guidance.Guidance(),
        Drive = drive, Fps = data.Fps, PoseSigma = PoseSigma > 0 ? PoseSigma : data.PoseSigma, Seed = Seed,
    };

    public void Validate(string key, string? file)
    {
        if (Steps < 1) throw ConfigException.For(file, key + ".steps", "must be >= 1");
        if (!(Shift > 0)) throw ConfigException.For(file, key + ".shift", "must be positive");
        if (SegmentFrames != 0 && (SegmentFrames < 1 || (SegmentFrames - 1) % 4 != 0)) throw ConfigException.For(file, key + ".segment_frames", "must be 1 + 4k");
        if (Threads < 0) throw ConfigException.For(file, key + ".threads", "must be >= 0");
    }
}

/// <summary>CFG annealing keys (<see cref="HumanGuidance"/>).</summary>
public sealed class HumanGuidanceConfig : IValidatable
{
    public string Mode { get; set; } = "joint";
    public string Shape { get; set; } = "linear";
    public double Start { get; set; } = 6.5;
    public double End { get; set; } = 2.0;
    public double? AudioStart { get; set; }
    public double? AudioEnd { get; set; }
    public double? TextStart { get; set; }
    public double? TextEnd { get; set; }

    public HumanGuidance Guidance() => new()
    {
        Mode = Mode, Shape = Shape, Start = Start, End = End, AudioStart = AudioStart, AudioEnd = AudioEnd, TextStart = TextStart, TextEnd = TextEnd,
    };

    public void Validate(string key, string? file)
    {
        try { Guidance().Validate(key); }
        catch (ArgumentException e) { throw new ConfigException($"{file}: {e.Message}"); }
    }
}
