namespace AptLab.Avatar.Audio;

/// <summary>OmniAvatar's audio conditioning for one clip. Disposing it frees the embeddings.</summary>
/// <param name="audio_embeddings">[A, (num_hidden_layers + 2) · hidden] float: one row per video frame (10752 wide for
/// wav2vec2-base), the concatenation <c>[last_hidden_state, hidden_states[0], ..., hidden_states[L]]</c></param>
/// <param name="ori_audio_len">video frames the audio covers, ⌈samples / sample_rate · fps⌉ (inference.py's
/// <c>ori_audio_len</c>, used to trim the video)</param>
/// <param name="audio_len">A: frames after padding to whole chunks (= ori_audio_len without chunking)</param>
public sealed record AudioFeatures(Tensor audio_embeddings, int ori_audio_len, int audio_len) : IDisposable
{
    public void Dispose() => audio_embeddings.Dispose();
}

/// <summary>
/// OmniAvatar's audio feature pipeline (docs/omniavatar.md#audio-features) around a <see cref="Wav2Vec2Model"/> (not owned):
/// <list type="number">
/// <item>prepend <c>silence_duration_s</c> of zeros; normalise the whole clip (<see cref="Wav2Vec2Preprocessor"/>);</item>
/// <item><c>audio_len = ⌈n / 16000 · 25⌉</c>, padded to whole chunks (<see cref="AudioChunking"/>) when given; the
/// normalised waveform is zero-padded to exactly <c>audio_len · 640</c> samples;</item>
/// <item>OmniAvatar's <c>Wav2VecModel.forward</c> (<see cref="Forward"/>): conv stack, then the 512-d conv features are
/// linearly interpolated (align_corners) to <c>audio_len</c> frames BEFORE the feature projection and the encoder;</item>
/// <item>the features are <c>[last_hidden_state, hs[0], ..., hs[12]]</c> concatenated on the last dim (14 × 768).</item>
/// </list>
/// </summary>
public sealed class OmniAvatarAudioEncoder
{
    public Wav2Vec2Model Model { get; }
    public OmniAvatarAudioOptions Options { get; }

    public OmniAvatarAudioEncoder(Wav2Vec2Model model, OmniAvatarAudioOptions? options = null)
    {
        Model = model;
        Options = (options ?? OmniAvatarAudioOptions.Default).Validate();
    }

    /// <summary>Width of one embedding row: (num_hidden_layers + 2) · hidden_size (10752 for wav2vec2-base).</summary>
    public int EmbeddingDim => EmbeddingWidth(Model.config);

    /// <summary>(num_hidden_layers + 2) · hidden_size: 14 × 768 = 10752 for wav2vec2-base.</summary>
    public static int EmbeddingWidth(Wav2Vec2Config config) => (config.num_hidden_layers + 2) * config.hidden_size;

    /// <summary>OmniAvatar's <c>linear_interpolation</c>: features [B, T, C] -> [B, seq_len, C], linear over time with
    /// align_corners (output i samples input position i·(T − 1)/(seq_len − 1)).</summary>
    public static Tensor linear_interpolation(Tensor features, int seq_len)
    {
        if (seq_len < 1) throw new ArgumentException($"seq_len must be at least 1, got {seq_len}");
        using var scope = torch.NewScope();
        var x = features.transpose(1, 2);                                                    // [B, C, T]
        var y = F.interpolate(x, [seq_len], F.InterpolateMode.Linear, align_corners: true);  // [B, C, seq_len]
        return scope.Keep(y.transpose(1, 2).contiguous());
    }

    /// <summary>OmniAvatar's <c>Wav2VecModel.forward(input_values, seq_len, output_hidden_states=True)</c>:
    /// input_values [B, N] -> conv features [B, Tf, C] -> interpolated to [B, seq_len, C] -> projection -> encoder.</summary>
    public Wav2Vec2Output Forward(Tensor input_values, int seq_len)
    {
        using var scope = torch.NewScope();
        var conv = Model.extract_conv_features(input_values);        // [B, Tf, C]
        var interp = linear_interpolation(conv, seq_len);             // [B, seq_len, C]
        var output = Model.forward_conv_features(interp);
        scope.Keep(output.extract_features);
        foreach (var h in output.hidden_states) scope.Keep(h);
        return output;
    }

    /// <summary>inference.py's concatenation: [B, T, hidden] × (L + 1) -> [B, T, (L + 2) · hidden], blocks
    /// <c>last_hidden_state, hidden_states[0], ..., hidden_states[L]</c> (the first and last blocks are equal).</summary>
    public static Tensor concat_hidden_states(Wav2Vec2Output output) =>
        torch.cat([output.last_hidden_state, .. output.hidden_states], dim: -1);

    /// <summary>Model part of the pipeline: input_values [1, N] -> audio embeddings [seq_len, (L + 2) · hidden].</summary>
    public Tensor Embed(Tensor input_values, int seq_len)
    {
        if (input_values.dim() != 2 || input_values.size(0) != 1)
            throw new ArgumentException($"OmniAvatar embeds one clip: input_values must be [1, samples], got [{string.Join(", ", input_values.shape)}]");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        using var output = Forward(input_values, seq_len);
        return scope.Keep(concat_hidden_states(output).squeeze(0));
    }

    /// <summary>
    /// <see cref="Embed"/> bounded in memory by the window instead of the clip (docs/omniavatar.md#long-audio): the conv
    /// stack runs window by window (<see cref="Wav2Vec2FeatureEncoder.forward_windowed"/>, equal to one pass), the
    /// 512-wide conv features of the whole clip are interpolated at once (small: 4 KiB per second for base), and the
    /// feature projection and transformer run on windows of <c>window_frames</c> rows that see <c>context_frames</c>
    /// rows on each side; only the window's rows are kept. Up to the positional conv (its reach is
    /// num_conv_pos_embeddings / 2 rows, within the context) this equals one pass; the self-attention of a row sees
    /// its context instead of the whole clip. Clips that fit one window with its context are embedded in one pass.
    /// </summary>
    public Tensor EmbedWindowed(Tensor input_values, int seq_len)
    {
        if (FitsOneWindow(seq_len)) return Embed(input_values, seq_len);
        if (input_values.dim() != 2 || input_values.size(0) != 1)
            throw new ArgumentException($"OmniAvatar embeds one clip: input_values must be [1, samples], got [{string.Join(", ", input_values.shape)}]");
        return EmbedWindowed(new TensorWaveform(input_values), seq_len);
    }

    /// <summary><see cref="EmbedWindowed(Tensor, int)"/> on a waveform read slice by slice (one row), for clips longer
    /// than one window with its context.</summary>
    public Tensor EmbedWindowed<TWave>(TWave input, int seq_len) where TWave : IWaveformWindows, allows ref struct
    {
        int window = Options.window_frames, context = Options.context_frames;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        long convWindow = Math.Max(1, (long)window * Options.SamplesPerFrame / Model.config.TotalStride);
        var conv = Model.feature_extractor.forward_windowed(input, convWindow);                 // [1, C, Tf]
        if (conv.size(0) != 1) throw new ArgumentException($"OmniAvatar embeds one clip, got a batch of {conv.size(0)}");
        Tensor interp;                                                                           // [1, seq_len, C]
        using (var timeMajor = conv.transpose(1, 2)) interp = linear_interpolation(timeMajor, seq_len);
        conv.Dispose();                                                                          // the views too: storage freed
        var result = torch.empty([seq_len, EmbeddingDim], interp.dtype, interp.device);
        for (int a = 0; a < seq_len; a += window)
        {
            torch.native_heap_trim();                         // the last window's freed activations back to the OS
            using var inner = torch.NewScope();
            int b = Math.Min(seq_len, a + window), lo = Math.Max(0, a - context), hi = Math.Min(seq_len, b + context);
            using var output = Model.forward_conv_features(interp.narrow(1, lo, hi - lo));
            result.narrow(0, a, b - a).copy_(concat_hidden_states(output).squeeze(0).narrow(0, a - lo, b - a));
        }
        return scope.Keep(result);
    }

    /// <summary>Whether <paramref name="seq_len"/> frames are embedded in one pass (at most window_frames + 2 ·
    /// context_frames).</summary>
    public bool FitsOneWindow(int seq_len) => seq_len <= Options.window_frames + 2 * Options.context_frames;

    /// <summary>Step 2's frame counts for <paramref name="samples"/> clip samples: ori_audio_len and audio_len (padded to
    /// whole chunks when <paramref name="chunking"/> is given), and the waveform's length, audio_len · 640.</summary>
    public (int ori_audio_len, int audio_len, long input_length) Frames(int samples, AudioChunking? chunking = null)
    {
        if (samples == 0) throw new ArgumentException("the audio has no samples");
        int n = Options.SilenceSamples + samples;
        int ori = Options.VideoFrames(n);
        int len = chunking?.PaddedLength(ori) ?? ori;
        long total = (long)len * Options.SamplesPerFrame;
        if (total < n)
            throw new InvalidOperationException($"{len} frames × {Options.SamplesPerFrame} samples is shorter than the clip ({n} samples)");
        return (ori, len, total);
    }

    /// <summary>Steps 1–2: the normalised, zero-padded waveform (length <c>audio_len · 640</c>) and the frame counts.</summary>
    public (float[] input_values, int ori_audio_len, int audio_len) Prepare(ReadOnlySpan<float> samples, AudioChunking? chunking = null)
    {
        var (ori, len, total) = Frames(samples.Length, chunking);
        int n = Options.SilenceSamples + samples.Length;
        var padded = new float[total];                              // one copy of the clip: silence, samples, zero padding
        samples.CopyTo(padded.AsSpan(Options.SilenceSamples));
        Wav2Vec2Preprocessor.normalize_(padded.AsSpan(0, n), Options.norm_eps);   // the padding stays exact zeros
        return (padded, ori, len);
    }

    /// <summary>The whole pipeline on mono samples at <c>Options.sample_rate</c>. A clip longer than one window with its
    /// context is never copied: each conv window's input is computed from <paramref name="samples"/>
    /// (<see cref="NormalizedWaveform"/>), equal bit for bit to the same range of <see cref="Prepare"/>'s waveform.</summary>
    public AudioFeatures EncodeSamples(ReadOnlySpan<float> samples, AudioChunking? chunking = null)
    {
        var (ori, len, total) = Frames(samples.Length, chunking);
        using var scope = torch.NewScope();
        if (FitsOneWindow(len))
        {
            var (input, _, _) = Prepare(samples, chunking);
            var x = torch.tensor(input, 1, input.Length);           // [1, A·640]
            return new AudioFeatures(scope.Keep(Embed(x, len)), ori, len);
        }
        var wave = new NormalizedWaveform(samples, Options.SilenceSamples, total, Options.norm_eps);
        return new AudioFeatures(scope.Keep(EmbedWindowed(wave, len)), ori, len);
    }

    /// <summary>The whole pipeline on an audio file (any format ffmpeg decodes). Unreadable or empty files raise a
    /// <see cref="AptLab.Data.Media.MediaException"/> naming the file.</summary>
    public AudioFeatures EncodeFile(string path, AudioChunking? chunking = null) =>
        EncodeSamples(AudioFile.ReadMono(path, Options.sample_rate), chunking);
}
