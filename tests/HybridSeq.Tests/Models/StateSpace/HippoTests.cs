using HybridSeq.Models.StateSpace;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.StateSpace;

/// <summary>The initialisations' defining properties: HiPPO-LegS entries, the NPLR decomposition reconstructing A
/// and B, S4D-Lin and S4D-Inv eigenvalues.</summary>
[TestFixture]
public sealed class HippoTests
{
    [Test]
    public void LegSMatrixHasTheHippoEntries()
    {
        using var scope = NewDisposeScope();
        var a = Hippo.LegSMatrix(5);
        for (int n = 0; n < 5; n++)
            for (int k = 0; k < 5; k++)
            {
                double expected = n > k ? -Math.Sqrt((2 * n + 1) * (2 * k + 1)) : n == k ? -(n + 1) : 0;
                Assert.That(a[n, k].item<double>(), Is.EqualTo(expected).Within(1e-14), $"A[{n}, {k}]");
            }
        var b = Hippo.LegSInput(5);
        for (int n = 0; n < 5; n++) Assert.That(b[n].item<double>(), Is.EqualTo(Math.Sqrt(2 * n + 1)).Within(1e-14));
    }

    [TestCase(2)]
    [TestCase(8)]
    [TestCase(16)]
    public void NplrDecompositionReconstructsLegS(int n)
    {
        using var scope = NewDisposeScope();
        var nplr = Hippo.LegSDecomposition(n);
        Assert.That(nplr.Lambda.shape, Is.EqualTo(new long[] { n / 2 }));
        Assert.That((nplr.Lambda.real + 0.5).abs().max().item<double>(), Is.LessThan(1e-12), "Re Λ = −1/2");
        Assert.That(nplr.Lambda.imag.min().item<double>(), Is.GreaterThan(0), "one of each pair: Im Λ > 0");
        Tensor Full(Tensor half) => cat([half, half.conj()], -1).resolve_conj();
        var v = cat([nplr.V, nplr.V.conj()], 1).resolve_conj();                       // (N, N) unitary
        var identity = eye(n, dtype: ScalarType.ComplexFloat64);
        TensorAssert.Close(view_as_real(v.conj().t().matmul(v)), view_as_real(identity), 1e-10, 1e-10, "V unitary");
        var p = Full(nplr.P);
        var inner = diag_embed(Full(nplr.Lambda)) - p.unsqueeze(1) * p.conj().unsqueeze(0);
        var reconstructed = v.matmul(inner).matmul(v.conj().t());
        TensorAssert.Close(reconstructed.real, Hippo.LegSMatrix(n), 1e-9, 1e-9, "V (Λ − P̃P̃*) V* = A");
        Assert.That(reconstructed.imag.abs().max().item<double>(), Is.LessThan(1e-9));
        var b = v.matmul(Full(nplr.B));
        TensorAssert.Close(b.real, Hippo.LegSInput(n), 1e-10, 1e-10, "V B̃ = B");
    }

    [Test]
    public void S4DLinAndInvHaveThePapersEigenvalues()
    {
        using var scope = NewDisposeScope();
        var lin = Hippo.S4DLin(8);
        var inv = Hippo.S4DInv(8);
        for (int k = 0; k < 4; k++)
        {
            Assert.That(lin[k].real.item<double>(), Is.EqualTo(-0.5));
            Assert.That(lin[k].imag.item<double>(), Is.EqualTo(Math.PI * k).Within(1e-12));
            Assert.That(inv[k].real.item<double>(), Is.EqualTo(-0.5));
            Assert.That(inv[k].imag.item<double>(), Is.EqualTo(8 / Math.PI * (8.0 / (2 * k + 1) - 1)).Within(1e-12));
        }
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Hippo.S4DLin(7))!.ParamName, Is.EqualTo("n"));
    }

    [Test]
    public void S4DLayerStartsFromItsInitialisation()
    {
        using var scope = NewDisposeScope();
        using var layer = new S4DLayer("ssm", 2, 8, S4DInit.LegS);
        var a = layer.StateMatrix();
        var lambda = Hippo.LegSDecomposition(8).Lambda.to_type(ScalarType.ComplexFloat32);
        TensorAssert.Close(view_as_real(a[1]), view_as_real(lambda), 1e-5, 1e-5, "S4D-LegS A = Λ of the NPLR form");
    }
}
