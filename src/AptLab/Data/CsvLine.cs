namespace AptLab.Data;

/// <summary>
/// One line of RFC 4180 CSV: fields separated by commas, optionally in double quotes ("" is a quote inside a quoted
/// field). Fields spanning lines are not supported. Errors name the 1-based character position.
/// </summary>
public static class CsvLine
{
    public static List<string> Split(string line, out string? error)
    {
        var fields = new List<string>();
        var sb = new System.Text.StringBuilder();
        error = null;
        int i = 0;
        while (true)
        {
            sb.Clear();
            if (i < line.Length && line[i] == '"')
            {
                int start = i++;
                while (true)
                {
                    if (i >= line.Length) { error = $"unterminated quote starting at character {start + 1}"; return fields; }
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    sb.Append(line[i++]);
                }
                if (i < line.Length && line[i] != ',') { error = $"text after a closing quote at character {i + 1}"; return fields; }
            }
            else
                while (i < line.Length && line[i] != ',') sb.Append(line[i++]);
            fields.Add(sb.ToString().Trim());
            if (i >= line.Length) return fields;
            i++;                                                    // the comma
        }
    }
}
