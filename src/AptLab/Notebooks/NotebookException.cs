namespace AptLab.Notebooks;

/// <summary>A notebook that cannot be read or converted; the message names the notebook (and the cell, when one is at fault).</summary>
public sealed class NotebookException : Exception
{
    public string NotebookPath { get; }

    /// <summary>The 1-based cell number at fault (counting every cell, markdown included), or null.</summary>
    public int? Cell { get; }

    public NotebookException(string notebookPath, int? cell, string problem, Exception? inner = null)
        : base($"{notebookPath}{(cell is int c ? $", cell {c}" : "")}: {problem}", inner)
        => (NotebookPath, Cell) = (notebookPath, cell);
}
