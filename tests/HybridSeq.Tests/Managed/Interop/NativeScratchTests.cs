using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Interop;

/// <summary>The process-wide scratch pool behind the native workspaces and the recurrent layers' projections: a
/// backward pass gives its workspace back to the pool, later passes reuse it without changing any result (also
/// across dispose scopes, which must not free a pooled buffer), the size cap holds, concurrent passes on several
/// threads get separate buffers, and release empties the pool.</summary>
[TestFixture]
[NonParallelizable]
public sealed class NativeScratchTests
{
    private const long Steps = 9, Batch = 3, Hidden = 20;

    // The gradients of one CPU LSTM pass (NH = 1, H = 20) for fixed inputs scaled by `scale`, each a fresh tensor
    // outside any dispose scope.
    private static Tensor[] LstmGradients(double scale = 1)
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator(7);
        Tensor wx = (torch.randn([Steps, Batch, 4 * Hidden], generator: generator) * scale).requires_grad_(true);
        Tensor r = (torch.randn([1, 4 * Hidden, Hidden], generator: generator) * 0.2).requires_grad_(true);
        Tensor b = torch.randn([4 * Hidden], generator: generator).requires_grad_(true);
        (Tensor y, Tensor sLast) = FusedRnn.Forward(RnnCell.Lstm, wx, r, b);
        (y.sum() + sLast.pow(2).sum()).backward();
        return [wx.grad!.clone().DetachFromDisposeScope(), r.grad!.clone().DetachFromDisposeScope(),
            b.grad!.clone().DetachFromDisposeScope()];
    }

    // The CPU backward's dg_rec rows: T * Bt * NH * round_up(G * DH, 16) float32 elements (native/src/ops/rnn.h).
    private static readonly long WorkspaceBytes = Steps * Batch * 1 * ((4 * Hidden + 15) / 16 * 16) * sizeof(float);

    private static bool BitwiseEqual(Tensor a, Tensor b) => a.equal(b).all().item<bool>();

    [SetUp]
    public void EmptyThePool() => NativeScratch.Release();

    [TearDown]
    public void RestoreTheCap()
    {
        NativeScratch.MaxPooledBytes = 1L << 30;
        NativeScratch.Release();
    }

    [Test]
    public void BackwardGivesItsWorkspaceBackAndReuseChangesNoResult()
    {
        Assert.That(NativeScratch.PooledBytes, Is.EqualTo(0));
        Tensor[] first = LstmGradients();
        Assert.That(NativeScratch.PooledBytes, Is.EqualTo(WorkspaceBytes),
            "the pool holds the backward's workspace after the pass (and its dispose scope) ended");

        // Fill the pooled buffer with other values through a different pass, then repeat the first: the same bits.
        LstmGradients(scale: 1e3);
        Tensor[] second = LstmGradients();
        for (int i = 0; i < first.Length; i++)
            Assert.That(BitwiseEqual(second[i], first[i]), Is.True, $"gradient {i} after reuse");
        Assert.That(NativeScratch.PooledBytes, Is.EqualTo(WorkspaceBytes), "reused, not allocated again");

        NativeScratch.Release();
        Assert.That(NativeScratch.PooledBytes, Is.EqualTo(0));
    }

    [Test]
    public void TheCapBoundsWhatThePoolKeeps()
    {
        NativeScratch.MaxPooledBytes = WorkspaceBytes - 1;
        Tensor[] capped = LstmGradients();
        Assert.That(NativeScratch.PooledBytes, Is.EqualTo(0), "a buffer over the cap is freed when given back");
        NativeScratch.MaxPooledBytes = 0;
        Tensor[] off = LstmGradients();
        Assert.That(NativeScratch.PooledBytes, Is.EqualTo(0));
        for (int i = 0; i < capped.Length; i++)
            Assert.That(BitwiseEqual(off[i], capped[i]), Is.True, $"gradient {i} without the pool");
    }

    [Test]
    public void ConcurrentPassesOnSeveralThreadsGetTheirOwnBuffers()
    {
        Tensor[] expected = LstmGradients();
        const int threads = 4, rounds = 5;
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, thread =>
        {
            for (int round = 0; round < rounds; round++)
            {
                Tensor[] got = LstmGradients();
                for (int i = 0; i < got.Length; i++)
                    if (!BitwiseEqual(got[i], expected[i]))
                        failures.Add($"thread {thread} round {round} gradient {i}");
            }
        });
        Assert.That(failures, Is.Empty);
        Assert.That(NativeScratch.PooledBytes, Is.LessThanOrEqualTo(threads * WorkspaceBytes),
            "at most one workspace per pass that ran at the same time");
        Assert.That(NativeScratch.PooledBytes, Is.GreaterThanOrEqualTo(WorkspaceBytes));
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
        Assert.That(BitwiseEqual(inference, recorded), Is.True,
            "the no-grad path (input projections in pooled scratch) gives the same bits");
        Assert.That(NativeScratch.PooledBytes, Is.GreaterThan(0), "the projections' buffers went back to the pool");
    }
}
