using AptLab.Diffusion;
using AptLab.Torch.nn;
using AptLab.Wan;

namespace AptLab.Human;

/// <summary>
/// The OmniHuman DiT on Wan 2.1 (docs/omnihuman.md#model): Wan's DiT, whose parts are registered under Wan's names so a
/// Wan checkpoint loads into it, plus what OmniHuman adds, all starting as an exact no-op:
/// <code>
/// patch_embedding            Conv3d(16 + (2n+1) C_pose -> dim): Wan's 16 channels + the stacked pose features (new channels zero)
/// pose_guider.*              heatmaps -> pose features on the latent grid (<see cref="PoseGuider"/>)
/// audio_proj.{0,2}           Linear(audio_in_dim -> dim), GELU, Linear(dim -> dim), per audio window row
/// audio_slot_embedding       [4(2n + 1), dim]: which video frame of the latent frame and which window offset a token is
/// audio_cross_attn.{i}.*     frame-wise audio cross-attention after block i's text cross-attention (o zero-initialised)
/// </code>
/// Forward: Wan's forward on cat(x, pose features) with the <see cref="OmniHumanTokens"/> hook, which appends the
/// reference latent's tokens (temporal RoPE index 0: no temporal rotation; normal (h, w) positions) and the motion
/// frames' tokens (temporal positions -M .. -1, before the generated frames) and runs the audio cross-attention. The head
/// reads only the video tokens, so the velocity is [B, 16, F, h, w] and reference and motion tokens never enter a loss.
/// </summary>
public sealed class OmniHumanModel : Module
{
    public readonly OmniHumanConfig config;
    public readonly WanModel wan;                          // the shared parts (not registered itself)
    public readonly Sequential audio_proj;                 // [0] Linear(audio_in_dim -> dim) [1] GELU [2] Linear(dim -> dim)
    public readonly Parameter audio_slot_embedding;        // [4(2n + 1), dim]
    public readonly ModuleList<AudioCrossAttention> audio_cross_attn;
    public readonly PoseGuider pose_guider;

    public WanConfig wanConfig => config.Wan;
    public Conv3d patch_embedding => wan.patch_embedding;
    public ModuleList<WanAttentionBlock> blocks => wan.blocks;

    /// <summary>Recompute each block in backward (the audio cross-attention is part of the block).</summary>
    public bool GradientCheckpointing { get => wan.GradientCheckpointing; set => wan.GradientCheckpointing = value; }
    public ScalarType? AttentionDtype { get => wan.AttentionDtype; set => wan.AttentionDtype = value; }
    /// <summary>The compute dtype (that of the Wan base weights).</summary>
    public ScalarType Dtype => wan.Dtype;

    public OmniHumanModel(OmniHumanConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null, Generator? generator = null)
    {
        this.config = config.Validate();
        var c = config.Wan;
        wan = new WanModel(c, dtype, device, generator);
        foreach (var (name, child) in wan.named_children()) RegisterModule(name, child);
        pose_guider = RegisterModule("pose_guider", new PoseGuider(config, dtype, device));
        audio_proj = RegisterModule("audio_proj", new Sequential(
            new Linear(config.AudioInDim, c.Dim, dtype: dtype, device: device), new GELU(tanh: true),
            new Linear(c.Dim, c.Dim, dtype: dtype, device: device)));
        audio_slot_embedding = RegisterParameter("audio_slot_embedding", torch.zeros([config.AudioTokensPerLatentFrame, c.Dim], dtype, device));
        audio_cross_attn = RegisterModule("audio_cross_attn", new ModuleList<AudioCrossAttention>(
            Enumerable.Range(0, c.NumLayers).Select(_ => new AudioCrossAttention(c.Dim, c.NumHeads, c.QkNorm, c.Eps, dtype, device))));
        InitAddedParts(generator);
    }

    /// <summary>
    /// The added parts' initialisation: xavier-uniform audio_proj weights with zero biases and slot embedding
    /// N(0, 0.02); the audio cross-attention as Wan's attention (xavier, zero biases) but with o = 0; the pose guider's
    /// convolutions as PyTorch's default (drawn from <paramref name="generator"/>); the patch embedding's pose channels zero. Every added path therefore adds
    /// exactly 0 until training moves o or the pose channels.
    /// </summary>
    public void InitAddedParts(Generator? generator = null)
    {
        using var _ = torch.no_grad();
        foreach (var lin in new[] { (Linear)audio_proj[0], (Linear)audio_proj[2] })
        {
            init.xavier_uniform_(lin.weight, g: generator);
            init.zeros_(lin.bias!);
        }
        init.normal_(audio_slot_embedding, 0, 0.02, generator);
        foreach (var conv in pose_guider.layers.Append(pose_guider.proj))
        {
            init.kaiming_uniform_(conv.weight, a: Math.Sqrt(5), g: generator);                      // PyTorch's Conv3d default
            double bound = 1 / Math.Sqrt(conv.weight.numel() / conv.weight.size(0));
            init.uniform_(conv.bias!, -bound, bound, generator);
        }
        foreach (var a in audio_cross_attn)
        {
            foreach (var lin in new[] { a.q, a.k, a.v }) { init.xavier_uniform_(lin.weight, g: generator); init.zeros_(lin.bias!); }
            init.zeros_(a.o.weight);
            init.zeros_(a.o.bias!);
        }
        ZeroPoseChannels();
    }

    /// <summary>Zeroes the patch embedding's input channels past the latent's (the pose features').</summary>
    public void ZeroPoseChannels()
    {
        using var _ = torch.no_grad();
        patch_embedding.weight.narrow(1, config.LatentChannels, config.PoseInputChannels).zero_();
    }

    /// <summary>
    /// x: [B, 16, F, h, w] noisy latent; t: [B] Wan timesteps (1000 σ) or one for all; context: [B, Lt, text_dim]
    /// (all zero = no text); c: the other conditions; hook: an extra <see cref="WanHook"/> (e.g. TeaCache).
    /// Returns the velocity [B, 16, F, h, w] and the hidden states [B, S, dim] after the listed blocks (S counts the
    /// reference and motion tokens after the video's). With <paramref name="hiddenOnly"/> no velocity (Output null).
    /// </summary>
    public DiTOutput Forward(Tensor x, Tensor t, Tensor context, HumanConditions c, WanHook? hook = null,
        int[]? returnHiddenAfter = null, bool hiddenOnly = false)
    {
        using var scope = torch.NewScope();
        var wc = config.Wan;
        if (x.dim() != 5 || x.size(1) != wc.OutDim)
            throw new ArgumentException($"OmniHumanModel: x must be [B, {wc.OutDim}, F, h, w], got [{Shape(x)}]");
        var (_, ph, pw) = wc.PatchSize;
        if (x.size(3) % ph != 0 || x.size(4) % pw != 0)
            throw new ArgumentException($"OmniHumanModel: latent height/width [{x.size(3)}, {x.size(4)}] must be multiples of the patch size ({ph}, {pw})");
        var grid = ((int)x.size(2), (int)(x.size(3) / ph), (int)(x.size(4) / pw));
        bool recompute = GradientCheckpointing && torch.is_grad_enabled();
        var audio = c.Audio is null || recompute ? null : AudioTokens(c.Audio, grid.Item1);   // [B, F, K, dim]
        var tokens = new OmniHumanTokens(this, c, x, grid, audio);
        var xin = torch.cat([x, PoseFeatures(c, x).As(x.dtype)], 1);            // [B, in_dim, F, h, w]
        var hooks = new List<WanHook> { tokens };
        if (hook is not null) hooks.Add(hook);
        if (hiddenOnly)
        {
            if (returnHiddenAfter is not { Length: > 0 }) throw new ArgumentException("OmniHumanModel: hidden states requested without a block index");
            var hidden = wan.hidden_states(xin, t, context, returnHiddenAfter, hooks: hooks);
            scope.KeepAll(hidden.ToArray());
            return new DiTOutput(null!, hidden);
        }
        var o = wan.forward(xin, t, context, null, null, returnHiddenAfter, hooks);
        scope.Keep(o.Output);
        scope.KeepAll(o.Hidden.ToArray());
        return o;
    }

    /// <summary>The velocity only: <see cref="Forward"/>'s output.</summary>
    public Tensor forward(Tensor x, Tensor t, Tensor context, HumanConditions c)
    {
        using var scope = torch.NewScope();
        return scope.Keep(Forward(x, t, context, c).Output);
    }

    /// <summary>The stacked pose features [B, (2n + 1) C_pose, F, h, w]: zeros without pose; otherwise the guider runs on
    /// the rows whose pose is on only (the others are zero, as a switched-off pose adds nothing), each scaled by its
    /// switch. <see cref="HumanConditions.PoseFeatures"/>, when present, is returned as it is.</summary>
    public Tensor PoseFeatures(HumanConditions c, Tensor x)
    {
        using var scope = torch.NewScope();
        long b = x.size(0), f = x.size(2), h = x.size(3), w = x.size(4);
        if (c.PoseFeatures is { } given)
        {
            if (given.dim() != 5 || given.size(0) != b || given.size(1) != config.PoseInputChannels || given.size(2) != f || given.size(3) != h || given.size(4) != w)
                throw new ArgumentException($"OmniHumanModel: pose features must be [{b}, {config.PoseInputChannels}, {f}, {h}, {w}], got [{Shape(given)}]");
            return scope.Keep(given.alias());
        }
        if (c.Pose is null) return scope.Keep(torch.zeros([b, config.PoseInputChannels, f, h, w], x.dtype, x.device));
        var p = c.Pose;
        long frames = config.VaeTemporal * (f - 1) + 1;
        if (p.dim() != 5 || p.size(0) != b || p.size(1) != config.PoseHeatmapChannels || p.size(2) != frames
            || p.size(3) != h * config.VaeSpatial || p.size(4) != w * config.VaeSpatial)
            throw new ArgumentException($"OmniHumanModel: pose heatmaps must be [{b}, {config.PoseHeatmapChannels}, {frames}, {h * config.VaeSpatial}, {w * config.VaeSpatial}] " +
                                        $"({frames} video frames at pixel resolution for {f} latent frames), got [{Shape(p)}]");
        var rows = HumanConditions.OnRows(c.PoseOn, b);
        if (rows.Length == 0) return scope.Keep(torch.zeros([b, config.PoseInputChannels, f, h, w], x.dtype, x.device));
        var index = rows.Length == b ? null : torch.tensor(rows, rows.Length).to(p.device);
        var feats = PoseGuider.Neighbours(pose_guider.forward(index is null ? p : p.index_select(0, index)), config.PoseNeighbours);   // [K, (2n+1) C, F, h, w]
        if (c.PoseOn is not null)
        {
            var on = c.PoseOn.to(feats.device, feats.dtype);
            feats = feats * (index is null ? on : on.index_select(0, index)).view(rows.Length, 1, 1, 1, 1);
        }
        return scope.Keep(HumanConditions.PlaceRows(feats, rows, b));
    }

    /// <summary>
    /// The audio tokens of every latent frame, [B, F, 4(2n + 1), dim] in the compute dtype, from the windows
    /// [B, L, 2n + 1, audio_in_dim] (L = 1 + 4(F - 1)): video frame 0's windows are repeated 3 more times in front
    /// (latent frame 0 holds frame 0 alone), each window row goes through audio_proj, and the rows of a latent frame's
    /// 4 video frames get the slot embedding. They do not depend on the timestep.
    /// </summary>
    public Tensor AudioTokens(Tensor windows, long latentFrames)
    {
        using var scope = torch.NewScope();
        long b = windows.size(0), frames = config.VaeTemporal * (latentFrames - 1) + 1, k = config.AudioTokensPerFrame;
        if (windows.dim() != 4 || windows.size(1) != frames || windows.size(2) != k || windows.size(3) != config.AudioInDim)
            throw new ArgumentException($"OmniHumanModel: audio windows must be [B, {frames}, {k}, {config.AudioInDim}] " +
                                        $"({frames} video frames for {latentFrames} latent frames), got [{Shape(windows)}]");
        var lin0 = (Linear)audio_proj[0];
        var a = windows.As(lin0.weight.dtype);
        var first = a.narrow(1, 0, 1).expand(b, config.VaeTemporal - 1, k, config.AudioInDim);
        a = torch.cat([first, a], 1);                                                     // [B, 4F, k, C]
        var z = ((Linear)audio_proj[2]).Apply(F.gelu(lin0.forward(a), tanh: true));       // [B, 4F, k, dim]
        var tokens = z.reshape(b, latentFrames, config.AudioTokensPerLatentFrame, config.Wan.Dim) + audio_slot_embedding.As(z.dtype);
        return scope.Keep(tokens.As(Dtype));
    }

    private static string Shape(Tensor t) => string.Join(", ", t.shape);
}
