using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Data.Analysis;

namespace AptLab.Notebooks;

/// <summary>
/// A DataFrame as an HTML table (what a notebook shows for it once the formatter is registered): a header row,
/// numbers right-aligned with 6 significant digits (nan, inf), at most <c>maxRows</c> rows then a count of the rest.
/// </summary>
public static class DataFrameHtml
{
    public static string Render(DataFrame df, int maxRows = 60)
    {
        var sb = new StringBuilder("<table class=\"aptlab-frame\">\n<thead><tr>");
        foreach (var c in df.Columns) sb.Append("<th>").Append(WebUtility.HtmlEncode(c.Name)).Append("</th>");
        sb.Append("</tr></thead>\n<tbody>\n");
        long shown = Math.Min(df.Rows.Count, maxRows);
        for (long r = 0; r < shown; r++)
        {
            sb.Append("<tr>");
            foreach (var c in df.Columns)
            {
                var v = c[r];
                bool number = v is double or float or int or long or short or decimal;
                sb.Append(number ? "<td style=\"text-align:right\">" : "<td style=\"text-align:left\">")
                  .Append(WebUtility.HtmlEncode(Cell(v))).Append("</td>");
            }
            sb.Append("</tr>\n");
        }
        sb.Append("</tbody>\n</table>\n");
        if (df.Rows.Count > shown) sb.Append($"<p>{df.Rows.Count - shown} more rows ({df.Rows.Count} in all)</p>\n");
        return sb.ToString();
    }

    /// <summary>A cell as text: doubles with 6 significant digits (nan, inf, -inf), the rest invariant.</summary>
    public static string Cell(object? v) => v switch
    {
        null => "",
        double d => Number(d),
        float f => Number(f),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    public static string Number(double v) =>
        double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf"
        : v.ToString("G6", CultureInfo.InvariantCulture);
}
