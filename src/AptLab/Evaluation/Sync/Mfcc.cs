using System.Numerics;
using MathNet.Numerics.IntegralTransforms;

namespace AptLab.Evaluation.Sync;

/// <summary>
/// MFCCs as SyncNet computes them (python_speech_features.mfcc with its defaults; docs/evaluation.md, "MFCC"):
/// pre-emphasis 0.97, frames of 25 ms every 10 ms (100 Hz; the last frame zero-padded), no window, power spectrum
/// |rfft(frame, 512)|^2 / 512, 26 triangular mel filters from 0 Hz to samplerate / 2, log, orthonormal DCT-II, the
/// first 13 coefficients, sinusoidal lifter 22, and coefficient 0 replaced by the log of the frame's total power.
/// Zero energies are replaced by the float64 epsilon before the log. Everything is float64.
/// </summary>
public sealed record MfccOptions(int SampleRate = 16000, double WinLen = 0.025, double WinStep = 0.01, int NumCep = 13,
    int NumFilters = 26, int Nfft = 512, double LowFreq = 0, double? HighFreq = null, double PreEmphasis = 0.97,
    int CepLifter = 22, bool AppendEnergy = true)
{
    public int FrameLength => RoundHalfUp(WinLen * SampleRate);
    public int FrameStep => RoundHalfUp(WinStep * SampleRate);

    private static int RoundHalfUp(double v) => (int)Math.Floor((decimal)v + 0.5m);

    public void Validate()
    {
        if (SampleRate <= 0 || FrameLength < 1 || FrameStep < 1) throw new ArgumentException("MFCC: sample rate and window sizes must be positive");
        if (NumCep < 1 || NumCep > NumFilters) throw new ArgumentException($"MFCC: numcep {NumCep} must be in 1..nfilt ({NumFilters})");
        if (Nfft < 2) throw new ArgumentException("MFCC: nfft must be at least 2");
        if ((HighFreq ?? SampleRate / 2.0) > SampleRate / 2.0) throw new ArgumentException("MFCC: highfreq is above samplerate / 2");
    }
}

public static class Mfcc
{
    /// <summary>Number of frames for <paramref name="samples"/> samples: 1 if the signal fits one frame, else
    /// 1 + ceil((samples - frame_len) / frame_step).</summary>
    public static int FrameCount(int samples, MfccOptions? options = null)
    {
        var o = options ?? new MfccOptions();
        return samples <= o.FrameLength ? 1 : 1 + (int)Math.Ceiling((double)(samples - o.FrameLength) / o.FrameStep);
    }

    /// <summary>MFCCs [frames, numcep] of <paramref name="signal"/> (SyncNet passes 16 kHz int16 sample values, not [-1, 1]).</summary>
    public static double[,] Compute(ReadOnlySpan<double> signal, MfccOptions? options = null)
    {
        var o = options ?? new MfccOptions();
        o.Validate();
        if (signal.Length == 0) throw new ArgumentException("MFCC: empty signal");
        var (fbankEnergies, energy) = FilterBankEnergies(signal, o);
        int frames = energy.Length, nf = o.NumFilters;
        var result = new double[frames, o.NumCep];
        var logs = new double[nf];
        for (int t = 0; t < frames; t++)
        {
            for (int j = 0; j < nf; j++) logs[j] = Math.Log(fbankEnergies[t, j]);
            var c = Cepstrum(logs, o);
            for (int k = 0; k < o.NumCep; k++) result[t, k] = c[k];
            if (o.AppendEnergy) result[t, 0] = Math.Log(energy[t]);
        }
        return result;
    }

    /// <summary>The first numcep coefficients of the orthonormal DCT-II of log filter-bank energies, liftered by
    /// 1 + (L/2) sin(pi k / L).</summary>
    public static double[] Cepstrum(ReadOnlySpan<double> logEnergies, MfccOptions o)
    {
        int nf = logEnergies.Length;
        var c = new double[o.NumCep];
        for (int k = 0; k < o.NumCep; k++)
        {
            double s = 0;
            for (int n = 0; n < nf; n++) s += logEnergies[n] * Math.Cos(Math.PI * k * (2 * n + 1) / (2.0 * nf));
            s *= k == 0 ? Math.Sqrt(1.0 / nf) : Math.Sqrt(2.0 / nf);
            c[k] = o.CepLifter > 0 ? s * (1 + o.CepLifter / 2.0 * Math.Sin(Math.PI * k / o.CepLifter)) : s;
        }
        return c;
    }

    /// <summary>Mel filter-bank energies [frames, nfilt] and total frame power [frames] (zeros replaced by epsilon).</summary>
    public static (double[,] features, double[] energy) FilterBankEnergies(ReadOnlySpan<double> signal, MfccOptions o)
    {
        int flen = o.FrameLength, step = o.FrameStep, frames = FrameCount(signal.Length, o), bins = o.Nfft / 2 + 1;
        var emphasised = new double[(frames - 1) * step + flen];              // zero tail = the last frame's padding
        emphasised[0] = signal[0];
        for (int i = 1; i < signal.Length; i++) emphasised[i] = signal[i] - o.PreEmphasis * signal[i - 1];
        var fb = FilterBank(o);
        var features = new double[frames, o.NumFilters];
        var energy = new double[frames];
        var buf = new Complex[o.Nfft];
        var pspec = new double[bins];
        for (int t = 0; t < frames; t++)
        {
            Array.Clear(buf);
            int take = Math.Min(flen, o.Nfft);                                // rfft(frame, nfft) truncates a longer frame
            for (int i = 0; i < take; i++) buf[i] = emphasised[t * step + i];
            Fourier.Forward(buf, FourierOptions.Matlab);                      // unscaled, e^{-i...}
            double e = 0;
            for (int k = 0; k < bins; k++) { pspec[k] = (buf[k].Real * buf[k].Real + buf[k].Imaginary * buf[k].Imaginary) / o.Nfft; e += pspec[k]; }
            energy[t] = e == 0 ? Eps : e;
            for (int j = 0; j < o.NumFilters; j++)
            {
                double s = 0;
                for (int k = 0; k < bins; k++) s += pspec[k] * fb[j, k];
                features[t, j] = s == 0 ? Eps : s;
            }
        }
        return (features, energy);
    }

    /// <summary>numpy's float64 machine epsilon, which python_speech_features puts in place of zero energies.</summary>
    public const double Eps = 2.220446049250313e-16;

    public static double HzToMel(double hz) => 2595 * Math.Log10(1 + hz / 700.0);
    public static double MelToHz(double mel) => 700 * (Math.Pow(10, mel / 2595.0) - 1);

    /// <summary>FFT bin of each of the nfilt + 2 mel-spaced edges: floor((nfft + 1) * hz / samplerate).</summary>
    public static int[] FilterEdges(MfccOptions o)
    {
        double lo = HzToMel(o.LowFreq), hi = HzToMel(o.HighFreq ?? o.SampleRate / 2.0);
        var edges = new int[o.NumFilters + 2];
        double step = (hi - lo) / (o.NumFilters + 1);
        for (int i = 0; i < edges.Length; i++)
        {
            double mel = i == edges.Length - 1 ? hi : i * step + lo;          // numpy.linspace(lo, hi, nfilt + 2)
            edges[i] = (int)Math.Floor((o.Nfft + 1) * MelToHz(mel) / o.SampleRate);
        }
        return edges;
    }

    /// <summary>The triangular filters [nfilt, nfft/2 + 1]: rising from edge j to j+1 (value 0 at j), falling to j+2.</summary>
    public static double[,] FilterBank(MfccOptions o)
    {
        var b = FilterEdges(o);
        var fb = new double[o.NumFilters, o.Nfft / 2 + 1];
        for (int j = 0; j < o.NumFilters; j++)
        {
            for (int i = b[j]; i < b[j + 1]; i++) fb[j, i] = (double)(i - b[j]) / (b[j + 1] - b[j]);
            for (int i = b[j + 1]; i < b[j + 2]; i++) fb[j, i] = (double)(b[j + 2] - i) / (b[j + 2] - b[j + 1]);
        }
        return fb;
    }

    /// <summary>SyncNet's audio input [1, 1, numcep, frames] (float32) from MFCCs [frames, numcep].</summary>
    public static Tensor ToSyncNetInput(double[,] mfcc)
    {
        int frames = mfcc.GetLength(0), cep = mfcc.GetLength(1);
        var data = new float[cep * frames];
        for (int c = 0; c < cep; c++)
            for (int t = 0; t < frames; t++) data[c * frames + t] = (float)mfcc[t, c];
        return torch.tensor(data, 1, 1, cep, frames);
    }
}
