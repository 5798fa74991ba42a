using AptLab.Avatar.Audio;
using Xunit.Abstractions;
using static AptLab.Tests.Avatar.Audio.Wav2Vec2TestUtil;

namespace AptLab.Tests.Avatar.Audio;

/// <summary>
/// Long audio in windows (docs/omniavatar.md#long-audio), on the wav2vec2 reference case's weights: the windowed conv
/// stack equals one pass (its GroupNorm gets the whole clip's statistics), the windowed embeddings equal the one-pass
/// embeddings exactly up to the positional conv and within a stated tolerance after the self-attention (which sees a
/// row's context, not the whole clip), and windows without context are visibly wrong at their edges.
/// </summary>
public sealed class WindowedAudioEncodingTests(ITestOutputHelper output)
{
    // A speech-like clip (a gliding tone with a syllable-rate envelope and noise) of the given length at 16 kHz.
    private static float[] Clip(double seconds)
    {
        var x = new float[(int)(seconds * 16000)];
        var rng = new Random(11);
        double phase = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double t = i / 16000.0;
            phase += 2 * Math.PI * (150 + 80 * Math.Sin(2 * Math.PI * 0.7 * t)) / 16000;
            x[i] = (float)(0.5 * Math.Sin(phase) * (0.5 + 0.5 * Math.Sin(2 * Math.PI * 3.3 * t)) + 0.05 * (rng.NextDouble() - 0.5));
        }
        return x;
    }

    private static double MaxRelErr(Tensor actual, Tensor expected) =>
        (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max().item<double>() /
        expected.to(ScalarType.Float64).abs().max().item<double>();

    [Theory]
    [InlineData(37)]     // windows that do not divide the clip
    [InlineData(120)]
    public void The_windowed_conv_stack_equals_one_pass(long window)
    {
        using var model = LoadReferenceModel();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var x = torch.tensor(Clip(6.1), 1, (long)(6.1 * 16000));
        var whole = model.feature_extractor.forward(x);                              // [1, C, Tf]
        var windowed = model.feature_extractor.forward_windowed(x, window);
        Assert.Equal(whole.shape, windowed.shape);
        Assert.True(whole.size(2) > 2 * window);
        double err = MaxRelErr(windowed, whole);
        output.WriteLine($"window {window}: max relative error {err:E2} over {whole.size(2)} frames");
        Assert.True(err < 1e-5, $"windowed conv features differ from one pass by {err:E2}");
    }

    [Fact]
    public void Windowed_embeddings_equal_one_pass_up_to_the_positional_conv_and_within_tolerance_after_attention()
    {
        using var model = LoadReferenceModel();
        int hidden = model.config.hidden_size, reach = model.config.num_conv_pos_embeddings / 2;
        OmniAvatarAudioEncoder Encoder(int window, int context) =>
            new(model, new OmniAvatarAudioOptions(silence_duration_s: 0, window_frames: window, context_frames: context));
        var clip = Clip(20);                                                         // 500 frames
        using var scope = torch.NewScope();
        using var a = Encoder(100_000, 0).EncodeSamples(clip);                       // one pass
        using var b = Encoder(60, 4 * reach).EncodeSamples(clip);                    // 9 windows, the defaults' ratio 2:1
        using var wide = Encoder(60, 150).EncodeSamples(clip);                       // more context
        using var c = Encoder(60, 0).EncodeSamples(clip);                            // no context
        Assert.Equal(a.audio_embeddings.shape, b.audio_embeddings.shape);
        Assert.Equal(500, a.audio_len);

        // block 1 of [last, hs[0], ..., hs[L]] is hs[0]: projection, positional conv and LayerNorm, all local
        var hs0 = (Tensor e) => e.narrow(1, hidden, hidden);
        double exact = MaxRelErr(hs0(b.audio_embeddings), hs0(a.audio_embeddings));
        double edges = MaxRelErr(hs0(c.audio_embeddings), hs0(a.audio_embeddings));
        double all = WindowRel(b.audio_embeddings, a.audio_embeddings), allWide = WindowRel(wide.audio_embeddings, a.audio_embeddings);
        output.WriteLine($"hs[0]: {exact:E2} with context, {edges:E2} without; all blocks: {all:E3} with context {4 * reach}, {allWide:E3} with 150 (relative Frobenius)");
        Assert.True(exact < 1e-5, $"hs[0] of the windowed encoding differs from one pass by {exact:E2}");
        Assert.True(edges > 1e-3, $"windows without context should differ at their edges, got {edges:E2}");
        // After attention the rows see their context, not the clip. The tolerance this test states, for the reference
        // weights (a tiny random model whose attention is spread over the whole clip, the worst case for windows):
        // relative Frobenius error below 0.12 at the defaults' window:context ratio (measured 0.090; 0.042 with 150 frames of context), and less
        // with more context.
        Assert.True(all < 0.12, $"windowed embeddings differ from one pass by {all:E3} (relative Frobenius)");
        Assert.True(allWide < all, $"more context should bring the windows closer to one pass ({allWide:E3} vs {all:E3})");
    }

    private static double WindowRel(Tensor actual, Tensor expected) => TensorAssert.RelativeError(expected, actual);

    [Fact]
    public void Clips_that_fit_one_window_are_embedded_in_one_pass_bit_for_bit()
    {
        using var model = LoadReferenceModel();
        var clip = Clip(3);
        using var scope = torch.NewScope();
        using var a = new OmniAvatarAudioEncoder(model, new OmniAvatarAudioOptions()).EncodeSamples(clip);
        var (input, _, len) = new OmniAvatarAudioEncoder(model).Prepare(clip);
        var direct = new OmniAvatarAudioEncoder(model).Embed(torch.tensor(input, 1, input.Length), len);
        Assert.True(BitEqual(a.audio_embeddings, direct));
    }

    [Fact]
    public void The_normalised_waveform_slices_equal_the_prepared_waveform_bit_for_bit()
    {
        using var model = LoadReferenceModel();
        var encoder = new OmniAvatarAudioEncoder(model);                             // 0.3 s of silence in front
        var clip = Clip(2.5);
        var chunking = new AudioChunking(21, 13);
        var (input, _, _) = encoder.Prepare(clip, chunking);
        var (_, _, length) = encoder.Frames(clip.Length, chunking);
        Assert.Equal(input.Length, length);
        int silence = encoder.Options.SilenceSamples, end = silence + clip.Length;
        Assert.True(input.Length > end);                                             // zero padding after the clip
        var wave = new NormalizedWaveform(clip, silence, length);
        using var scope = torch.NewScope();
        // the whole waveform, then slices across the silence/clip and clip/padding borders and inside each part
        foreach (var (start, count) in new (long, long)[] { (0, length), (0, 100), (silence - 7, 30), (1000, 20000), (end - 5, 9), (end + 3, length - end - 3) })
            Assert.Equal(input.AsSpan((int)start, (int)count).ToArray(), wave.Slice(start, count).data<float>());
    }

    [Fact]
    public void A_long_clip_encoded_from_its_samples_equals_the_encoding_of_the_prepared_waveform_bit_for_bit()
    {
        using var model = LoadReferenceModel();
        int reach = model.config.num_conv_pos_embeddings / 2;
        // 20 s with silence and chunk padding, in windows of 60 frames with the defaults' 2:1 context: the conv stack
        // runs in 6 windows, the transformer in 9
        var encoder = new OmniAvatarAudioEncoder(model, new OmniAvatarAudioOptions(window_frames: 60, context_frames: 4 * reach));
        var clip = Clip(20);
        var chunking = new AudioChunking(21, 13);
        using var scope = torch.NewScope();
        using var streamed = encoder.EncodeSamples(clip, chunking);                  // slices built from the samples
        var (input, ori, len) = encoder.Prepare(clip, chunking);                     // the whole waveform, then windows
        Assert.False(encoder.FitsOneWindow(len));
        var whole = encoder.EmbedWindowed(torch.tensor(input, 1, input.Length), len);
        Assert.Equal((ori, len), (streamed.ori_audio_len, streamed.audio_len));
        Assert.True(BitEqual(streamed.audio_embeddings, whole));
        // and the conv stack alone, on the same windows
        var x = torch.tensor(input, 1, input.Length);
        var fromTensor = model.feature_extractor.forward_windowed(x, 120);
        var fromSamples = model.feature_extractor.forward_windowed(
            new NormalizedWaveform(clip, encoder.Options.SilenceSamples, input.Length), 120);
        Assert.True(fromTensor.size(2) > 3 * 120);
        Assert.True(BitEqual(fromSamples, fromTensor));
    }
}
