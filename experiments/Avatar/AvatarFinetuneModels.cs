using AptLab.Avatar.Inference;
using AptLab.Avatar.Audio;
using AptLab.Avatar;
using AptLab.Wan;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Torch.IO;
using AptLab.Avatar.Training;
using AptLab.Torch.nn;

namespace AptLab.Experiments.Avatar;

/// <summary>
/// The models of an avatar fine-tuning run. The DiT follows ModelManager's training path (docs/omniavatar.md#training, docs/omniavatar.md#checkpoints):
/// every parameter xavier_uniform(gain 0.05) or zeros, then the Wan base smart-loaded (16 → 33 input channels), then
/// LoRA injected (A kaiming, B = 0). With <c>random_weights</c> the "base" is random instead (every non-trainable
/// parameter and patch_embedding's first 16 input channels drawn afresh), the training init of the rest is kept.
/// The encoders (VAE, umT5, wav2vec2) are only built when the latent cache misses clips.
/// </summary>
public static class AvatarFinetuneModels
{
    public static (OmniAvatarModel dit, Lora lora) BuildDit(AvatarFinetuneConfig a, ulong seed, TextWriter log)
    {
        var lora = new LoraConfig(a.LoraRank, a.LoraAlpha, LoraConfig.ParseTargets(a.LoraTargetModules));
        using var g = new Generator(seed);
        OmniAvatarModel dit;
        if (a.RandomWeights)
        {
            dit = new OmniAvatarModel(a.Architecture()!, generator: g);
            OmniAvatarWeights.InitForTraining(dit, g);
            // the "base": patch_embedding's first 16 input channels (its first parameter) and every frozen parameter
            using (torch.no_grad())
                dit.patch_embedding.weight.narrow(1, 0, dit.config.LatentChannels).normal_(0, 1 / Math.Sqrt(4.0 * dit.config.LatentChannels), g);
            init.nontrivial_(dit, g, modulation: false, biases: false,
                where: name => name != "patch_embedding.weight" && !AvatarTrainableParameters.IsTrainable(name));
            if (a.ModelDtype() != ScalarType.Float32) dit.to(a.ModelDtype());       // dtype: bf16 → the same weights rounded
            log.WriteLine($"[model] tiny random DiT (dim {dit.config.Wan.Dim}, {dit.config.Wan.NumLayers} layers, {a.Dtype}), LoRA rank {a.LoraRank}");
        }
        else
        {
            var shards = WanCheckpoint.ShardPaths(a.DitPath!);
            var wan = WanCheckpoint.DetectConfig(shards, "avatar.dit_path", a.TextLen);
            if (a.Architecture() is { } preset && (preset.Wan.Dim, preset.Wan.NumLayers, preset.Wan.FfnDim, preset.Wan.NumHeads) != (wan.Dim, wan.NumLayers, wan.FfnDim, wan.NumHeads))
                throw new InvalidDataException($"avatar.dit_path {a.DitPath}: a DiT of dim {wan.Dim}, {wan.NumLayers} blocks, but avatar.preset is {a.Preset} " +
                                               $"(dim {preset.Wan.Dim}, {preset.Wan.NumLayers} blocks)");
            dit = new OmniAvatarModel(new OmniAvatarConfig { Wan = wan with { InDim = 2 * wan.OutDim + 1 } }, a.ModelDtype(), generator: g);
            OmniAvatarWeights.InitForTraining(dit, g);
            log.WriteLine($"[model] Wan base: {OmniAvatarWeights.LoadWanBase(dit, shards)}");
        }
        var injected = Lora.Inject(dit, lora, g);
        log.WriteLine($"[model] LoRA: {injected.Adapters.Count} layers, {injected.ParameterCount} parameters");
        return (dit, injected);
    }

    /// <summary>VAE, text encoder and wav2vec2 for the cache encoder (caller disposes them).</summary>
    public static (WanVAE vae, UmT5TextEncoder text, Wav2Vec2Model wav2vec) BuildEncoders(AvatarFinetuneConfig a, ulong seed)
    {
        if (!File.Exists(a.TokenizerPath)) throw new FileNotFoundException($"tokenizer model not found: {a.TokenizerPath} (avatar.tokenizer_path)");
        var tokenizer = new UmT5Tokenizer(a.TokenizerPath, a.TextLen);
        if (a.RandomWeights)
        {
            torch.manual_seed(seed + Seeds.TinyEncoders);
            using var g = new Generator(seed + Seeds.TinyEncoders);
            var t5 = new T5Encoder(T5EncoderConfig.Tiny with { Vocab = Math.Max(tokenizer.VocabSize, 2), TextLen = a.TextLen }, generator: g);
            return (new WanVAE(WanVaeConfig.Tiny), new UmT5TextEncoder(tokenizer, t5), new Wav2Vec2Model(Wav2Vec2Config.Tiny));
        }
        var text = T5Encoder.FromCheckpoint(Path.GetFullPath(a.TextEncoderPath!), T5EncoderConfig.UmT5Xxl with { TextLen = a.TextLen });
        return (WanVAE.FromCheckpoint(Path.GetFullPath(a.VaePath!)), new UmT5TextEncoder(tokenizer, text),
                Wav2Vec2Model.FromCheckpoint(Path.GetFullPath(a.Wav2vecPath!)));
    }
}
