using AptLab.Evaluation.Sync;
using AptLab.Torch.IO;

namespace AptLab.Tests.Evaluation.Sync;

/// <summary>python_speech_features.mfcc with SyncNet's defaults, against closed forms.</summary>
public class MfccTests
{
    [Fact]
    public void Defaults_are_13_coefficients_at_100_hz_with_400_sample_frames_and_26_mel_filters()
    {
        var o = new MfccOptions();
        Assert.Equal(400, o.FrameLength);
        Assert.Equal(160, o.FrameStep);
        // floor(513 * mel2hz(linspace(0, hz2mel(8000), 28)) / 16000), evaluated independently in plain Python.
        Assert.Equal([0, 2, 4, 7, 10, 13, 16, 20, 24, 29, 34, 40, 46, 53, 60, 68, 77, 87, 97, 109, 122, 136, 152, 169, 188, 209, 231, 256],
            Mfcc.FilterEdges(o));
        var fb = Mfcc.FilterBank(o);
        Assert.Equal(26, fb.GetLength(0));
        Assert.Equal(257, fb.GetLength(1));
        Assert.Equal(1.0, fb[5, 16]);                                      // filter 5 peaks at edge 6 = bin 16
        Assert.Equal(0.0, fb[5, 13]);                                      // and starts at edge 5 = bin 13 with 0
        Assert.Equal(1.0 / 3, fb[5, 14], 15);
        Assert.Equal(0.75, fb[5, 17], 15);                                 // falls (20 - 17) / (20 - 16)
    }

    [Fact]
    public void Frame_counts_follow_the_framing_rule_and_match_the_syncnet_case()
    {
        Assert.Equal(1, Mfcc.FrameCount(10));
        Assert.Equal(1, Mfcc.FrameCount(400));
        Assert.Equal(2, Mfcc.FrameCount(401));
        Assert.Equal(2, Mfcc.FrameCount(560));
        Assert.Equal(3, Mfcc.FrameCount(561));
        using var io = Checkpoint.Load(TestPaths.ReferenceFile("syncnet.io.safetensors"));
        long frames = io["video"].shape[2];                                // the case's audio is 640 samples per video frame
        Assert.Equal(io["mfcc"].shape[3], Mfcc.FrameCount((int)(640 * frames)));
    }

    [Fact]
    public void Coefficient_zero_is_the_log_frame_power_by_parseval()
    {
        // For a real frame x zero-padded to 512: sum_{k=0..256} |X_k|^2 = (512 sum x^2 + X_0^2 + X_256^2) / 2.
        var rng = new Random(5);
        int n = 400 + 160 * 6;                                             // 7 frames, none padded
        var s = Enumerable.Range(0, n).Select(_ => (double)rng.Next(-20000, 20000)).ToArray();
        var mfcc = Mfcc.Compute(s);
        Assert.Equal(7, mfcc.GetLength(0));
        Assert.Equal(13, mfcc.GetLength(1));
        for (int t = 0; t < 7; t++)
        {
            double sq = 0, x0 = 0, x256 = 0;
            for (int i = 0; i < 400; i++)
            {
                int j = t * 160 + i;
                double y = j == 0 ? s[0] : s[j] - 0.97 * s[j - 1];       // pre-emphasis
                sq += y * y; x0 += y; x256 += (i % 2 == 0 ? 1 : -1) * y;
            }
            double energy = (512 * sq + x0 * x0 + x256 * x256) / 2 / 512;
            Assert.Equal(Math.Log(energy), mfcc[t, 0], 10);
        }
    }

    [Fact]
    public void Filter_energies_are_the_filters_applied_to_a_direct_dft_of_each_frame()
    {
        var rng = new Random(9);
        var o = new MfccOptions();
        var s = Enumerable.Range(0, 1000).Select(_ => rng.NextDouble() * 2 - 1).ToArray();   // 5 frames, the last one padded
        var (features, energy) = Mfcc.FilterBankEnergies(s, o);
        Assert.Equal(5, energy.Length);
        var fb = Mfcc.FilterBank(o);
        for (int t = 0; t < 5; t++)
        {
            var y = new double[400];
            for (int i = 0; i < 400; i++)
            {
                int j = t * 160 + i;
                y[i] = j >= s.Length ? 0 : j == 0 ? s[0] : s[j] - 0.97 * s[j - 1];
            }
            var p = new double[257];
            for (int k = 0; k < 257; k++)
            {
                double re = 0, im = 0;
                for (int n = 0; n < 400; n++) { re += y[n] * Math.Cos(2 * Math.PI * k * n / 512); im -= y[n] * Math.Sin(2 * Math.PI * k * n / 512); }
                p[k] = (re * re + im * im) / 512;
            }
            Assert.Equal(p.Sum(), energy[t], 9);
            for (int f = 0; f < 26; f++)
                Assert.Equal(Enumerable.Range(0, 257).Sum(k => p[k] * fb[f, k]), features[t, f], 9);
        }
    }

    [Fact]
    public void Cepstrum_is_the_orthonormal_dct_with_the_lifter()
    {
        // log energies cos(pi k0 (2n + 1) / 52) over 26 filters: the orthonormal DCT-II gives sqrt(13) at k0, 0 elsewhere.
        for (int k0 = 1; k0 < 13; k0++)
        {
            var logs = Enumerable.Range(0, 26).Select(n => Math.Cos(Math.PI * k0 * (2 * n + 1) / 52)).ToArray();
            var c = Mfcc.Cepstrum(logs, new MfccOptions());
            for (int k = 0; k < 13; k++)
            {
                double expected = k == k0 ? Math.Sqrt(13) * (1 + 11 * Math.Sin(Math.PI * k / 22)) : 0;
                Assert.Equal(expected, c[k], 12);
            }
        }
    }

    [Fact]
    public void SyncNet_input_is_coefficients_by_frames()
    {
        var m = new double[,] { { 1, 2 }, { 3, 4 }, { 5, 6 } };            // 3 frames x 2 coefficients
        using var t = Mfcc.ToSyncNetInput(m);
        Assert.Equal([1L, 1, 2, 3], t.shape);
        Assert.Equal(new float[] { 1, 3, 5, 2, 4, 6 }, t.data<float>());
    }
}
