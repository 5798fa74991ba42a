using System.Globalization;
using System.Text;

namespace AptLab.Evaluation;

/// <summary>One method's row of the comparison: cost (steps, network evaluations, wall time) and quality.</summary>
/// <param name="Method">display name, e.g. "APT 1 step"</param>
/// <param name="Steps">sampler steps</param>
/// <param name="Nfe">network function evaluations (a CFG step costs 2)</param>
/// <param name="WallSeconds">wall time to generate all of the method's samples</param>
/// <param name="FrechetDistance">FD to the held-out real samples on <see cref="ImageFeatures"/>/<see cref="VideoFeatures"/> (lower is better)</param>
/// <param name="Sharpness">mean Laplacian variance (<see cref="Evaluation.Sharpness"/>; compare with the real data's)</param>
public sealed record ComparisonScore(string Method, int Steps, int Nfe, double WallSeconds, double FrechetDistance, double Sharpness);

/// <summary>The comparison as CSV (<see cref="CsvHeader"/>, RFC 4180 quoting, invariant culture, round-trip numbers) and as Markdown.</summary>
public static class ComparisonTable
{
    public const string CsvHeader = "method,steps,nfe,wall_seconds,frechet_distance,sharpness";

    /// <summary>Writes the scores to <paramref name="path"/> (through a temporary file, so a failure leaves no half file).</summary>
    public static void WriteCsv(string path, IReadOnlyList<ComparisonScore> scores)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        foreach (var s in scores)
            sb.Append(Quote(s.Method)).Append(',').Append(s.Steps.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(s.Nfe.ToString(CultureInfo.InvariantCulture)).Append(',').Append(Num(s.WallSeconds)).Append(',')
              .Append(Num(s.FrechetDistance)).Append(',').Append(Num(s.Sharpness)).Append('\n');
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, sb.ToString(), new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a file written by <see cref="WriteCsv"/>; a malformed file is an error naming the file and line.</summary>
    public static List<ComparisonScore> ReadCsv(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"comparison CSV not found: {path}", path);
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != CsvHeader)
            throw new FormatException($"{path}: line 1 must be the header '{CsvHeader}'");
        var scores = new List<ComparisonScore>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = SplitCsv(lines[i], path, i + 1);
            if (f.Count != 6) throw new FormatException($"{path}: line {i + 1} has {f.Count} fields, expected 6");
            try
            {
                scores.Add(new ComparisonScore(f[0], int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture),
                                               ParseNum(f[3]), ParseNum(f[4]), ParseNum(f[5])));
            }
            catch (FormatException e) { throw new FormatException($"{path}: line {i + 1}: {e.Message}", e); }
        }
        return scores;
    }

    /// <summary>
    /// A Markdown table for a README: method, steps, NFE, wall time, FD and sharpness, plus a legend line (with
    /// the held-out data's own sharpness and sample count when given).
    /// </summary>
    public static string ToMarkdown(IReadOnlyList<ComparisonScore> scores, double? realSharpness = null, int? realCount = null)
    {
        var sb = new StringBuilder();
        sb.Append("| Method | Steps | NFE | Wall time (s) | FD (lower is better) | Sharpness |\n");
        sb.Append("|:--|--:|--:|--:|--:|--:|\n");
        foreach (var s in scores)
            sb.Append("| ").Append(s.Method.Replace("|", "\\|")).Append(" | ").Append(s.Steps).Append(" | ").Append(s.Nfe)
              .Append(" | ").Append(s.WallSeconds.ToString("0.00", CultureInfo.InvariantCulture))
              .Append(" | ").Append(Sig(s.FrechetDistance)).Append(" | ").Append(Sig(s.Sharpness)).Append(" |\n");
        sb.Append('\n').Append("FD: Fréchet distance to ");
        sb.Append(realCount is null ? "held-out real samples" : $"{realCount} held-out real samples");
        sb.Append(" on AptLab's fixed image/video features (src/AptLab/Evaluation/README.md). ");
        sb.Append("Sharpness: mean variance of the luma Laplacian");
        if (realSharpness is not null) sb.Append($" (held-out real data: {Sig(realSharpness.Value)}; closer is better)");
        sb.Append(".\n");
        return sb.ToString();
    }

    /// <summary><paramref name="v"/> with 4 significant digits, invariant culture.</summary>
    public static string Sig(double v)
    {
        if (!double.IsFinite(v)) return Num(v);
        if (v == 0) return "0";
        int digits = Math.Max(0, 3 - (int)Math.Floor(Math.Log10(Math.Abs(v))));
        return Math.Round(v, Math.Min(digits, 15)).ToString("0." + new string('#', Math.Max(digits, 1)), CultureInfo.InvariantCulture);
    }

    private static string Num(double v) => double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf"
        : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("R", CultureInfo.InvariantCulture);

    private static double ParseNum(string s) => s switch
    {
        "nan" => double.NaN, "inf" => double.PositiveInfinity, "-inf" => double.NegativeInfinity,
        _ => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";

    private static List<string> SplitCsv(string line, string path, int lineNo)
    {
        var fields = new List<string>();
        var cur = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch != '"') cur.Append(ch);
                else if (i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                else quoted = false;
            }
            else if (ch == '"' && cur.Length == 0) quoted = true;
            else if (ch == ',') { fields.Add(cur.ToString()); cur.Clear(); }
            else cur.Append(ch);
        }
        if (quoted) throw new FormatException($"{path}: line {lineNo} has an unterminated quoted field");
        fields.Add(cur.ToString());
        return fields;
    }
}
