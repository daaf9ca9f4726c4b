using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>The normal-plus-low-rank form of HiPPO-LegS restricted to one of each conjugate pair of eigenvalues:
/// A = V (Λ − P̃ P̃*) V* over the full basis [V, conj V], with P̃ = V* P and B̃ = V* B.</summary>
/// <param name="Lambda">(N/2) complex128 eigenvalues of the normal part, Re = −1/2, Im &gt; 0, ascending in Im.</param>
/// <param name="P">(N/2) complex128: V* P, the low-rank factor in the eigenbasis.</param>
/// <param name="B">(N/2) complex128: V* B, the input vector in the eigenbasis.</param>
/// <param name="V">(N, N/2) complex128: orthonormal eigenvectors of the kept eigenvalues (columns).</param>
public sealed record LegSNplr(Tensor Lambda, Tensor P, Tensor B, Tensor V);

/// <summary>
/// HiPPO (Gu et al. 2020) matrices and the initialisations of S4 (Gu, Goel, Ré 2022) and S4D (Gu et al. 2022), all
/// computed in float64 on the CPU. N is the state size; the diagonal models keep N/2 complex modes, one of each
/// conjugate pair.
/// </summary>
public static class Hippo
{
    /// <summary>HiPPO-LegS A (N, N) float64: A[n, k] = −√((2n+1)(2k+1)) for n &gt; k, −(n+1) for n = k, 0 above.</summary>
    public static Tensor LegSMatrix(int n)
    {
        RequireSize(n, nameof(n), even: false);
        var index = arange(n, dtype: ScalarType.Float64);
        var root = (2 * index + 1).sqrt();
        var lower = (root.unsqueeze(1) * root.unsqueeze(0)).tril(-1);
        return -(lower + diag(index + 1));
    }

    /// <summary>HiPPO-LegS B (N) float64: B[n] = √(2n+1).</summary>
    public static Tensor LegSInput(int n)
    {
        RequireSize(n, nameof(n), even: false);
        return (2 * arange(n, dtype: ScalarType.Float64) + 1).sqrt();
    }

    /// <summary>The low-rank factor P (N) float64 of A = S − P Pᵀ with S normal: P[n] = √(n + 1/2).</summary>
    public static Tensor LegSLowRank(int n)
    {
        RequireSize(n, nameof(n), even: false);
        return (arange(n, dtype: ScalarType.Float64) + 0.5).sqrt();
    }

    /// <summary>
    /// The NPLR decomposition of HiPPO-LegS: S = A + P Pᵀ = −I/2 + (skew-symmetric), diagonalised through the
    /// Hermitian i·(S + I/2) = U diag(μ) U*, so S = U diag(−1/2 − iμ) U*. The eigenvalues come in conjugate pairs;
    /// the N/2 with positive imaginary part (μ &lt; 0) are kept, with their eigenvectors V (N, N/2).
    /// </summary>
    public static LegSNplr LegSDecomposition(int n)
    {
        RequireSize(n, nameof(n), even: true);
        using var scope = NewDisposeScope();
        var a = LegSMatrix(n);
        var p = LegSLowRank(n);
        var normal = a + p.unsqueeze(1) * p.unsqueeze(0);
        var skew = normal + 0.5 * eye(n, dtype: ScalarType.Float64);
        var hermitian = complex(zeros_like(skew), skew);                       // i·skew
        var (mu, u) = linalg.eigh(hermitian);                                  // ascending μ
        var kept = u.narrow(1, 0, n / 2);                                      // μ < 0: Im Λ = −μ > 0
        var lambda = complex(full(n / 2, -0.5, dtype: ScalarType.Float64), -mu.narrow(0, 0, n / 2));
        // Ascending imaginary parts: the kept μ are ascending negatives, so reverse them.
        var order = arange(n / 2 - 1, -1, -1, dtype: ScalarType.Int64);
        lambda = lambda.index_select(0, order);
        kept = kept.index_select(1, order);
        var adjoint = kept.conj().t();
        var pTilde = adjoint.matmul(complex(p, zeros_like(p)));
        var b = LegSInput(n);
        var bTilde = adjoint.matmul(complex(b, zeros_like(b)));
        return new LegSNplr(lambda.resolve_conj().MoveToOuterDisposeScope(), pTilde.resolve_conj().MoveToOuterDisposeScope(),
            bTilde.resolve_conj().MoveToOuterDisposeScope(), kept.resolve_conj().MoveToOuterDisposeScope());
    }

    /// <summary>S4D-Lin: A_n = −1/2 + iπn for n in [0, N/2): (N/2) complex128.</summary>
    public static Tensor S4DLin(int n)
    {
        RequireSize(n, nameof(n), even: true);
        var index = arange(n / 2, dtype: ScalarType.Float64);
        return complex(full(n / 2, -0.5, dtype: ScalarType.Float64), Math.PI * index);
    }

    /// <summary>S4D-Inv: A_n = −1/2 + i (N/π)(N/(2n+1) − 1) for n in [0, N/2): (N/2) complex128.</summary>
    public static Tensor S4DInv(int n)
    {
        RequireSize(n, nameof(n), even: true);
        var index = arange(n / 2, dtype: ScalarType.Float64);
        var imaginary = (n / Math.PI) * (n / (2 * index + 1) - 1);
        return complex(full(n / 2, -0.5, dtype: ScalarType.Float64), imaginary);
    }

    private static void RequireSize(int n, string name, bool even)
    {
        if (n < 1 || even && n % 2 != 0)
            throw new ArgumentOutOfRangeException(name, n,
                $"{name}: expected {(even ? "an even state size of at least 2 (conjugate pairs)" : "a state size of at least 1")}, got {n}.");
    }
}
