using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed;

/// <summary>The per-thread scratch cache behind the native workspaces: a backward pass leaves exactly the workspace
/// the library asked for in the cache, later passes reuse it without changing any result (also across dispose
/// scopes, which must not free the cached buffer), and release empties it.</summary>
[TestFixture]
public sealed class NativeScratchTests
{
    private const long Steps = 9, Batch = 3, Hidden = 20;

    // The gradients of one CPU LSTM pass (NH = 1, H = 20) for fixed inputs, each a fresh tensor.
    private static Tensor[] LstmGradients()
    {
        var generator = new torch.Generator(7);
        Tensor wx = torch.randn([Steps, Batch, 4 * Hidden], generator: generator).requires_grad_(true);
        Tensor r = (torch.randn([1, 4 * Hidden, Hidden], generator: generator) * 0.2).requires_grad_(true);
        Tensor b = torch.randn([4 * Hidden], generator: generator).requires_grad_(true);
        (Tensor y, Tensor sLast) = FusedRnn.Forward(RnnCell.Lstm, wx, r, b);
        (y.sum() + sLast.pow(2).sum()).backward();
        return [wx.grad!.clone(), r.grad!.clone(), b.grad!.clone()];
    }

    [Test]
    public void BackwardCachesItsWorkspaceAndReusesItWithoutChangingResults()
    {
        NativeScratch.ReleaseThisThread();
        Assert.That(NativeScratch.CachedBytesOfThisThread, Is.EqualTo(0));

        Tensor[] first;
        using (torch.NewDisposeScope())
            first = LstmGradients().Select(t => t.DetachFromDisposeScope()).ToArray();
        // The CPU backward's dg_rec rows: T * Bt * NH * round_up(G * DH, 16) float32 elements (native/src/ops/rnn.h).
        long expectedBytes = Steps * Batch * 1 * ((4 * Hidden + 15) / 16 * 16) * sizeof(float);
        Assert.That(NativeScratch.CachedBytesOfThisThread, Is.EqualTo(expectedBytes),
            "the cache holds the backward's workspace after the dispose scope of the pass has closed");

        // Fill the cached buffer with garbage through a second, unrelated pass, then repeat the first: same bits.
        using (torch.NewDisposeScope())
        {
            Tensor wx = torch.full([Steps, Batch, 4 * Hidden], 1e30f).requires_grad_(true);
            (Tensor y, _) = FusedRnn.Forward(RnnCell.Lstm, wx, torch.ones(1, 4 * Hidden, Hidden), torch.zeros(4 * Hidden));
            y.sum().backward();
        }
        using (torch.NewDisposeScope())
        {
            Tensor[] second = LstmGradients();
            for (int i = 0; i < first.Length; i++)
                Assert.That(second[i].equal(first[i]).all().item<bool>(), Is.True, $"gradient {i} after reuse");
        }
        Assert.That(NativeScratch.CachedBytesOfThisThread, Is.EqualTo(expectedBytes), "reused, not grown");

        NativeScratch.ReleaseThisThread();
        Assert.That(NativeScratch.CachedBytesOfThisThread, Is.EqualTo(0));
        foreach (Tensor t in first)
            t.Dispose();
    }

    [Test]
    public void ALargerRequestGrowsTheCachedBuffer()
    {
        NativeScratch.ReleaseThisThread();
        using (torch.NewDisposeScope())
            LstmGradients();
        long small = NativeScratch.CachedBytesOfThisThread;
        using (torch.NewDisposeScope())
        {
            Tensor wx = torch.randn([2 * Steps, Batch, 4 * Hidden]).requires_grad_(true);
            (Tensor y, _) = FusedRnn.Forward(RnnCell.Lstm, wx, torch.randn(1, 4 * Hidden, Hidden) * 0.1,
                torch.zeros(4 * Hidden));
            y.sum().backward();
        }
        Assert.That(NativeScratch.CachedBytesOfThisThread, Is.EqualTo(2 * small), "T doubled, workspace doubled");
        NativeScratch.ReleaseThisThread();
    }

    [Test]
    public void TransientProjectionEqualsForwardAndSurvivesBeingItsOwnInput()
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator(3);
        Tensor x = torch.randn([5, 7, 33], generator: generator);
        Tensor w1 = torch.randn([33, 33], generator: generator), b1 = torch.randn([33], generator: generator);
        Tensor w2 = torch.randn([19, 33], generator: generator);

        Tensor expected1 = DenseProjection.Forward(x, w1, b1);
        Tensor expected2 = DenseProjection.Forward(expected1, w2);
        Tensor transient1 = DenseProjection.ForwardTransient(x, w1, b1);
        Assert.That(transient1.requires_grad, Is.False);
        Assert.That(transient1.shape, Is.EqualTo(new long[] { 5, 7, 33 }));
        Assert.That(transient1.equal(expected1).all().item<bool>(), Is.True, "same kernel, same bits");
        // Its own result as input: the second call must not overwrite the scratch it reads.
        Tensor transient2 = DenseProjection.ForwardTransient(transient1, w2);
        Assert.That(transient2.equal(expected2).all().item<bool>(), Is.True, "chained transient projection");
    }

    [Test]
    public void NoGradModuleForwardEqualsTheRecordedOne()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(11);
        var lstm = new HybridSeq.Models.Recurrent.FusedLSTM(6, 10, numLayers: 2, bidirectional: true);
        Tensor x = torch.randn(8, 3, 6);
        (Tensor recorded, _) = lstm.forward(x);
        Tensor inference;
        using (torch.no_grad())
            (inference, _) = lstm.forward(x);
        Assert.That(recorded.requires_grad, Is.True);
        Assert.That(inference.equal(recorded).all().item<bool>(), Is.True,
            "the no-grad path (transient input projections) gives the same bits");
    }
}
