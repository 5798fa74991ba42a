using System.Text.Json;
using System.Text.Json.Nodes;

namespace AptLab.Tests.Notebooks;

/// <summary>Builds .ipynb JSON the way Polyglot writes it (indent 1, source as a list of lines) for converter tests.</summary>
public sealed class NotebookJson
{
    private readonly JsonArray cells = [];

    public NotebookJson Markdown(string text) => Add(new JsonObject { ["cell_type"] = "markdown", ["metadata"] = new JsonObject(), ["source"] = Source(text) });

    /// <summary>A code cell; <paramref name="kernel"/> goes into both metadata keys (null: none, the notebook default applies).</summary>
    public NotebookJson Code(string text, string? kernel = "csharp")
    {
        var md = new JsonObject();
        if (kernel is not null)
        {
            md["dotnet_interactive"] = new JsonObject { ["language"] = kernel };
            md["polyglot_notebook"] = new JsonObject { ["kernelName"] = kernel };
        }
        return Add(new JsonObject { ["cell_type"] = "code", ["execution_count"] = null, ["metadata"] = md, ["outputs"] = new JsonArray(), ["source"] = Source(text) });
    }

    public string ToJson(int nbformat = 4)
    {
        var nb = new JsonObject
        {
            ["cells"] = cells.DeepClone(),
            ["metadata"] = new JsonObject
            {
                ["kernelspec"] = new JsonObject { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = ".net-csharp" },
                ["polyglot_notebook"] = new JsonObject { ["kernelInfo"] = new JsonObject { ["defaultKernelName"] = "csharp" } },
            },
            ["nbformat"] = nbformat,
            ["nbformat_minor"] = 5,
        };
        return nb.ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 1 }) + "\n";
    }

    public string Save(string path)
    {
        var json = ToJson();
        if (!File.Exists(path) || File.ReadAllText(path) != json) File.WriteAllText(path, json);     // unchanged: keep the mtime
        return path;
    }

    private NotebookJson Add(JsonObject cell)
    {
        cells.Add(cell);
        return this;
    }

    private static JsonArray Source(string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        var arr = new JsonArray();
        for (int i = 0; i < lines.Length; i++) arr.Add(i < lines.Length - 1 ? lines[i] + "\n" : lines[i]);
        return arr;
    }
}
