namespace AptLab.Notebooks;

/// <summary>A PNG file to show inline in a notebook (a sample sheet): displayed as image/png once the formatter is
/// registered; read, never written.</summary>
public sealed record PngFile(string Path)
{
    public string ToBase64()
    {
        if (!File.Exists(Path)) throw new FileNotFoundException($"image not found: {Path}", Path);
        return Convert.ToBase64String(File.ReadAllBytes(Path));
    }
}
