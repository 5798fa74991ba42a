namespace AptLab.Torch;

public static partial class torch
{
    /// <summary>The <c>torch.linalg</c> functions the project uses (LAPACK through libtorch; float64 for statistics).</summary>
    public static class linalg
    {
        /// <summary>Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix <c>a: [*, n, n]</c>, reading
        /// its lower (<paramref name="UPLO"/> "L") or upper triangle.</summary>
        public static unsafe (Tensor eigenvalues, Tensor eigenvectors) eigh(Tensor a, string UPLO = "L")
        {
            if (UPLO is not ("L" or "U")) throw new ArgumentException($"UPLO must be \"L\" or \"U\", got \"{UPLO}\"", nameof(UPLO));
            IntPtr values, vectors;
            Tensor.Check(Native.apt_linalg_eigh(a.H, UPLO == "U" ? 1 : 0, &values, &vectors), a);
            return (new Tensor(values), new Tensor(vectors));
        }

        /// <summary>Singular values (descending) of <c>a: [*, m, n]</c>.</summary>
        public static Tensor svdvals(Tensor a) => Tensor.Wrap(Native.apt_linalg_svdvals(a.H), a);
    }
}
