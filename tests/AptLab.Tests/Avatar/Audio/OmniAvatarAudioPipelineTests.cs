using AptLab.Data.Media;
using AptLab.Avatar.Audio;
using Xunit.Abstractions;
using static AptLab.Tests.Avatar.Audio.Wav2Vec2TestUtil;

namespace AptLab.Tests.Avatar.Audio;

/// <summary>OmniAvatar's audio pipeline around wav2vec2: frame counts, chunk padding, the interpolation that is a
/// decimation on padded clips, silence, and files read back through ffmpeg.</summary>
public sealed class OmniAvatarAudioPipelineTests(ITestOutputHelper output)
{
    private static readonly OmniAvatarAudioOptions NoSilence = new(silence_duration_s: 0);

    /// <summary>Video frames of n samples: ceil(n / 16000 * 25) = ceil(n / 640).</summary>
    private static int Frames(long samples) => (int)((samples + 639) / 640);

    private static float[] ReferenceWaveform()
    {
        using var io = LoadIo();
        return io["waveform"].data<float>();                     // [samples] at 16 kHz
    }

    [Theory]   // docs/omniavatar.md#long-video examples, L = 105, overlap 13
    [InlineData(3.0, 75, 104, 1)]
    [InlineData(4.2, 105, 196, 2)]
    [InlineData(10.0, 250, 288, 3)]
    [InlineData(10.3, 258, 288, 3)]   // 10 s of speech after the 0.3 s silence
    [InlineData(60.0, 1500, 1576, 17)]
    public void Audio_length_padding_and_chunk_count_follow_inference_py(double seconds, int audioLen, int padded, int chunks)
    {
        var opt = OmniAvatarAudioOptions.Default;
        var chunking = new AudioChunking(105);
        int a0 = opt.VideoFrames((long)Math.Round(seconds * 16000));
        Assert.Equal(audioLen, a0);
        Assert.Equal(padded, chunking.PaddedLength(a0));
        Assert.Equal(chunks, chunking.NumChunks(padded));
        Assert.Equal(0, (padded - 104) % 92);                    // A = (L − 1) + k (L − 13)
        Assert.Equal(640, opt.SamplesPerFrame);
        Assert.Equal(4800, opt.SilenceSamples);
    }

    [Fact]
    public void Chunking_rejects_impossible_windows()
    {
        Assert.Contains("FramesPerChunk", Assert.Throws<ArgumentException>(() => new AudioChunking(104).Validate()).Message);
        Assert.Contains("OverlapFrames", Assert.Throws<ArgumentException>(() => new AudioChunking(105, 12).Validate()).Message);
        Assert.Contains("OverlapFrames", Assert.Throws<ArgumentException>(() => new AudioChunking(13, 13).Validate()).Message);
        Assert.Contains("fps", Assert.Throws<ArgumentException>(() => new OmniAvatarAudioOptions(fps: 0).Validate()).Message);
    }

    [Fact]
    public void On_a_padded_clip_the_interpolation_is_an_exact_decimation_of_the_conv_frames()
    {
        using var model = LoadReferenceModel();
        var encoder = new OmniAvatarAudioEncoder(model, NoSilence);
        var wave = ReferenceWaveform();
        int a = Frames(wave.Length);
        Assert.True(a > 2);
        var (input, ori, len) = encoder.Prepare(wave);
        Assert.Equal((a, a), (ori, len));
        Assert.Equal(a * 640, input.Length);
        Assert.All(input[wave.Length..], v => Assert.Equal(0f, v));   // padding after normalisation: exact zeros

        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var conv = model.extract_conv_features(torch.tensor(input, 1, input.Length));   // [1, 2A − 1, C]: stride 320, field 400
        Assert.Equal([1L, 2 * a - 1, model.config.conv_dim[^1]], conv.shape);
        var interp = OmniAvatarAudioEncoder.linear_interpolation(conv, a);              // [1, A, C]
        Assert.True(BitEqual(interp, conv.slice(1, 0, 2 * a - 1, 2)));
        // A general (non-integer) resampling blends neighbours: output 1 of M = 2A - 2 -> A sits at (M - 1) / (A - 1).
        var even = conv.narrow(1, 0, 2 * a - 2);
        var r = OmniAvatarAudioEncoder.linear_interpolation(even, a);
        double pos = (2 * a - 3.0) / (a - 1);
        int i0 = (int)Math.Floor(pos);
        double frac = pos - i0;
        Assert.True(frac > 0);
        var expected = even.select(1, i0) * (1 - frac) + even.select(1, i0 + 1) * frac;
        Assert.True(RelErr(r.select(1, 1), expected) < 1e-6);
    }

    [Fact]
    public void EncodeSamples_is_normalise_pad_embed_with_chunk_padding_and_silence()
    {
        using var model = LoadReferenceModel();
        var wave = ReferenceWaveform();
        using var scope = torch.NewScope();

        // Without chunking: A frames; the same as embedding the hand-prepared input.
        int a = Frames(wave.Length);
        var plain = new OmniAvatarAudioEncoder(model, NoSilence);
        using var f = plain.EncodeSamples(wave);
        Assert.Equal((a, a), (f.ori_audio_len, f.audio_len));
        Assert.Equal([(long)a, (long)plain.EmbeddingDim], f.audio_embeddings.shape);
        var normed = Wav2Vec2Preprocessor.zero_mean_unit_var_norm(wave);
        var manual = new float[a * 640];
        normed.CopyTo(manual, 0);
        Assert.True(BitEqual(f.audio_embeddings, plain.Embed(torch.tensor(manual, 1, manual.Length), a)));

        // Chunks of L = 21 with overlap 13: A = (L - 1) + k (L - 13), the smallest such A >= A0; padded to A·640 samples.
        int k = Math.Max(0, (a - 20 + 7) / 8), chunked = 20 + 8 * k;
        using var c = plain.EncodeSamples(wave, new AudioChunking(21, 13));
        Assert.Equal((a, chunked), (c.ori_audio_len, c.audio_len));
        Assert.Equal([(long)chunked, (long)plain.EmbeddingDim], c.audio_embeddings.shape);

        // 0.3 s of silence = 4800 zero samples in front, before normalisation.
        int aSilent = Frames(wave.Length + 4800);
        var silent = new OmniAvatarAudioEncoder(model, OmniAvatarAudioOptions.Default);
        using var s = silent.EncodeSamples(wave);
        using var m = plain.EncodeSamples(new float[4800].Concat(wave).ToArray());
        Assert.Equal((aSilent, aSilent), (s.ori_audio_len, s.audio_len));
        Assert.True(BitEqual(s.audio_embeddings, m.audio_embeddings));
        Assert.True(RelErr(s.audio_embeddings.narrow(0, 0, a), f.audio_embeddings) > 1e-2);   // silence changes the features
    }

    [Fact]
    public void Encoding_frees_every_temporary()
    {
        using var model = LoadReferenceModel();
        var encoder = new OmniAvatarAudioEncoder(model, NoSilence);
        var wave = ReferenceWaveform();
        encoder.EncodeSamples(wave).Dispose();                   // warm-up
        long before = TestPaths.SettledLiveTensors();
        for (int i = 0; i < 3; i++) encoder.EncodeSamples(wave).Dispose();
        Assert.Equal(before, torch.live_tensors());
    }

    [Fact]
    public void A_wav_file_read_back_through_ffmpeg_gives_the_in_memory_features()
    {
        Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");
        using var model = LoadReferenceModel();
        var encoder = new OmniAvatarAudioEncoder(model, NoSilence);
        var wave = ReferenceWaveform();
        using var tmp = TestPaths.Temp();
        using var scope = torch.NewScope();
        using var mem = encoder.EncodeSamples(wave);

        var mono = tmp.File("speech.wav");
        Wav.Write(mono, wave, 16000, 1, WavSampleFormat.Float32);
        Assert.Equal(wave, AudioFile.ReadMono(mono));
        using var fromFile = encoder.EncodeFile(mono);
        Assert.Equal((mem.ori_audio_len, mem.audio_len), (fromFile.ori_audio_len, fromFile.audio_len));
        double e = RelErr(fromFile.audio_embeddings, mem.audio_embeddings);
        output.WriteLine($"float32 mono WAV via ffmpeg vs in-memory: rel err {e:E3}");
        Assert.True(BitEqual(fromFile.audio_embeddings, mem.audio_embeddings));

        // Stereo with equal channels: the down-mix is the channel mean, so the same features.
        var stereo = tmp.File("stereo.wav");
        Wav.Write(stereo, wave.SelectMany(v => new[] { v, v }).ToArray(), 16000, 2, WavSampleFormat.Float32);
        using var fromStereo = encoder.EncodeFile(stereo);
        Assert.True(BitEqual(fromStereo.audio_embeddings, mem.audio_embeddings));

        // PCM16 quantises the samples (±2^-16): close, not equal.
        var pcm = tmp.File("speech16.wav");
        Wav.Write(pcm, wave, 16000, 1, WavSampleFormat.Pcm16);
        using var fromPcm = encoder.EncodeFile(pcm);
        double ePcm = RelErr(fromPcm.audio_embeddings, mem.audio_embeddings);
        output.WriteLine($"PCM16 WAV vs in-memory: rel err {ePcm:E3}");
        Assert.True(ePcm < 1e-3);
    }

    [Fact]
    public void Missing_empty_and_corrupt_audio_files_raise_an_error_naming_the_file()
    {
        using var model = LoadReferenceModel();
        var encoder = new OmniAvatarAudioEncoder(model, NoSilence);
        using var tmp = TestPaths.Temp();

        void Fails(string path)
        {
            var e = Assert.Throws<MediaException>(() => encoder.EncodeFile(path));
            output.WriteLine(e.Message.Split('\n')[0]);
            Assert.Contains(path, e.Message);
        }

        Fails(tmp.File("missing.wav"));
        var empty = tmp.File("empty.wav");
        File.WriteAllBytes(empty, []);
        Fails(empty);
        var corrupt = tmp.File("corrupt.mp3");
        File.WriteAllBytes(corrupt, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray());
        Fails(corrupt);
        // A WAV header that promises PCM16 but carries no samples.
        var noSamples = tmp.File("header_only.wav");
        File.WriteAllBytes(noSamples, Wav.Encode([0f], 16000, 1)[..44].Select((b, i) => i is >= 40 and < 44 ? (byte)0 : b).ToArray());
        Fails(noSamples);
    }
}
