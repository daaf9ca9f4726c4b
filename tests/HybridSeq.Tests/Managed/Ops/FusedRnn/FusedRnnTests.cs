using HybridSeq.Bindings;
using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The managed fused-recurrence op (native CPU twin) against the TorchSharp reference: forward and gradients
/// over cell x heads x options, finite differences, lengths, reverse, step, and head-wise vs dense R.</summary>
[TestFixture]
public sealed class FusedRnnTests
{
    private static readonly RnnCell[] Cells = [RnnCell.Lstm, RnnCell.Gru, RnnCell.Slstm];

    /// <summary>Every cell x heads (1 head DH 7, 2 heads DH 5, 3 heads DH 3: odd head sizes) x four option sets;
    /// steps and batch vary with the index so that T = 1 and odd T and Bt appear.</summary>
    public static IEnumerable<RnnCase> MatrixCases()
    {
        (long Heads, long HeadDim)[] headShapes = [(1, 7), (2, 5), (3, 3)];
        (bool S0, bool Lengths, bool Reverse)[] options =
            [(false, false, false), (true, false, true), (false, true, false), (true, true, true)];
        long[] steps = [1, 13, 6, 37];
        int k = 0;
        foreach (RnnCell cell in Cells)
        foreach ((long heads, long headDim) in headShapes)
        foreach ((bool s0, bool lengths, bool reverse) in options)
        {
            yield return new RnnCase(cell, Batch: 3 + 2 * (k % 2), Steps: steps[k % steps.Length], heads, headDim,
                s0, lengths, reverse);
            k++;
        }
    }

    [Test]
    public void CellInfoMatchesTheNativeLibrary()
    {
        HybridSeq.Managed.Native.Load();
        foreach (RnnCell cell in Cells)
        {
            int gates, states, cacheGates;
            unsafe
            {
                HybridSeq.Managed.Native.Check(NativeMethods.hs_rnn_cell_info((int)cell, &gates, &states, &cacheGates));
            }
            Assert.That((gates, states), Is.EqualTo((cell.Gates(), cell.States())), $"{cell}");
            Assert.That(cacheGates, Is.GreaterThan(0), $"{cell} cache gates");
        }
        Assert.Throws<HybridSeqArgumentException>(() =>
        {
            int gates, states, cacheGates;
            unsafe
            {
                HybridSeq.Managed.Native.Check(NativeMethods.hs_rnn_cell_info(7, &gates, &states, &cacheGates));
            }
        });
    }

    [TestCaseSource(nameof(MatrixCases))]
    public void ForwardMatchesReferenceFloat64(RnnCase rnnCase) => CompareForward(rnnCase, ScalarType.Float64);

    [TestCaseSource(nameof(MatrixCases))]
    public void ForwardMatchesReferenceFloat32(RnnCase rnnCase) => CompareForward(rnnCase, ScalarType.Float32);

    private static void CompareForward(RnnCase rnnCase, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = rnnCase.MakeInputs(dtype, rnnCase.Seed);
        (Tensor y, Tensor sLast) = x.RunManaged();
        (Tensor expectedY, Tensor expectedSLast) = x.RunReference();
        Assert.That(y.dtype, Is.EqualTo(dtype));
        double scale = dtype == ScalarType.Float32 ? 1 + rnnCase.Steps / 10.0 : 1;
        TensorAssert.Close(y, expectedY, "y", scale);
        TensorAssert.Close(sLast, expectedSLast, "s_last", scale);
    }

    /// <summary>float64 gradients of wx, R, b, s0 against TorchSharp autograd through the reference.</summary>
    [TestCaseSource(nameof(MatrixCases))]
    public void GradientsMatchReferenceAutograd(RnnCase rnnCase)
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = rnnCase.MakeInputs(ScalarType.Float64, 100 + rnnCase.Seed);
        (Tensor weightsY, Tensor weightsS) = rnnCase.LossWeights(seed: 7);

        RnnInputs managed = x.RequiringGrad();
        RnnInputs.Loss(managed.RunManaged(), weightsY, weightsS).backward();
        RnnInputs reference = x.RequiringGrad();
        RnnInputs.Loss(reference.RunReference(), weightsY, weightsS).backward();

        foreach (((string name, Tensor actual), (_, Tensor expected)) in managed.FloatInputs().Zip(reference.FloatInputs()))
        {
            Assert.That(actual.grad, Is.Not.Null, $"d{name} was not produced");
            TensorAssert.Close(actual.grad!, expected.grad!, 1e-8, 1e-10, $"d{name}");
        }
    }

    /// <summary>The independent check: central differences of the managed op itself, per cell, with two heads, an
    /// initial state, lengths (one padded sequence) and both directions.</summary>
    [TestCaseSource(nameof(Cells))]
    public void GradientsMatchFiniteDifferences(RnnCell cell)
    {
        foreach (bool reverse in new[] { false, true })
        {
            using var scope = torch.NewDisposeScope();
            var rnnCase = new RnnCase(cell, Batch: 2, Steps: 4, Heads: 2, HeadDim: 2, HasS0: true, HasLengths: true,
                Reverse: reverse);
            RnnInputs x = rnnCase.MakeInputs(ScalarType.Float64, seed: 11).RequiringGrad();
            (Tensor weightsY, Tensor weightsS) = rnnCase.LossWeights(seed: 12);
            RnnInputs.Loss(x.RunManaged(), weightsY, weightsS).backward();

            double Loss()
            {
                using var inner = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                return RnnInputs.Loss(x.RunManaged(), weightsY, weightsS).item<double>();
            }

            foreach ((string name, Tensor input) in x.FloatInputs())
            {
                Tensor numeric = FiniteDifference.Gradient(Loss, input);
                TensorAssert.Close(input.grad!, numeric, 1e-6, 1e-7, $"{cell} reverse={reverse}: d{name} vs finite differences");
            }
        }
    }

    /// <summary>A padded batch equals each sequence run alone at its own length (both directions): outputs, final
    /// states; padded outputs are 0 and padded wx gets zero gradient.</summary>
    [TestCaseSource(nameof(Cells))]
    public void LengthsEqualRunningEachSequenceAlone(RnnCell cell)
    {
        foreach (bool reverse in new[] { false, true })
        {
            using var scope = torch.NewDisposeScope();
            var rnnCase = new RnnCase(cell, Batch: 5, Steps: 9, Heads: 3, HeadDim: 3, HasS0: true, HasLengths: true,
                Reverse: reverse);
            RnnInputs x = rnnCase.MakeInputs(ScalarType.Float64, seed: 21).RequiringGrad();
            long[] lengths = rnnCase.LengthValues();
            Assert.That(lengths, Is.EqualTo(new long[] { 9, 5, 0, 1, 8 }));

            (Tensor y, Tensor sLast) = x.RunManaged();
            y.sum().backward();
            for (int b = 0; b < lengths.Length; b++)
            {
                long n = lengths[b];
                Tensor expectedState = x.S0![.., b];
                if (n > 0)
                {
                    (Tensor alone, Tensor aloneState) = FusedRnn.Forward(cell, x.Wx[..(int)n, b..(b + 1)], x.R, x.B,
                        x.S0![.., b..(b + 1)], reverse: reverse);
                    TensorAssert.Close(y[..(int)n, b..(b + 1)], alone, $"reverse={reverse}: y of sequence {b}");
                    expectedState = aloneState[.., 0];
                }
                TensorAssert.Close(sLast[.., b], expectedState, $"reverse={reverse}: s_last of sequence {b}");
                Assert.That(torch.count_nonzero(y[(int)n.., b]).item<long>(), Is.Zero,
                    $"reverse={reverse}: padded y of sequence {b}");
                Assert.That(torch.count_nonzero(x.Wx.grad![(int)n.., b]).item<long>(), Is.Zero,
                    $"reverse={reverse}: dwx at padded steps of sequence {b}");
            }
        }
    }

    /// <summary>reverse = running the time-flipped input forward and flipping the output back (values and
    /// gradients).</summary>
    [TestCaseSource(nameof(Cells))]
    public void ReverseEqualsFlippingTime(RnnCell cell)
    {
        using var scope = torch.NewDisposeScope();
        var rnnCase = new RnnCase(cell, Batch: 3, Steps: 11, Heads: 2, HeadDim: 3, HasS0: true, Reverse: true);
        RnnInputs reversed = rnnCase.MakeInputs(ScalarType.Float64, seed: 31).RequiringGrad();
        RnnInputs flipped = reversed.RequiringGrad();
        (Tensor weightsY, Tensor weightsS) = rnnCase.LossWeights(seed: 32);

        (Tensor y, Tensor sLast) = reversed.RunManaged();
        (Tensor flippedY, Tensor flippedSLast) = FusedRnn.Forward(cell, flipped.Wx.flip(0), flipped.R, flipped.B,
            flipped.S0);
        TensorAssert.Close(y, flippedY.flip(0), "y");
        TensorAssert.Close(sLast, flippedSLast, "s_last");

        RnnInputs.Loss((y, sLast), weightsY, weightsS).backward();
        RnnInputs.Loss((flippedY.flip(0), flippedSLast), weightsY, weightsS).backward();
        foreach (((string name, Tensor a), (_, Tensor e)) in reversed.FloatInputs().Zip(flipped.FloatInputs()))
            TensorAssert.Close(a.grad!, e.grad!, $"d{name}");
    }

    [Test]
    public void StepUpdatesANonContiguousStateInPlaceAndRecordsNoGraph()
    {
        using var scope = torch.NewDisposeScope();
        var rnnCase = new RnnCase(RnnCell.Lstm, Batch: 2, Steps: 1, Heads: 1, HeadDim: 5, HasS0: true);
        RnnInputs x = rnnCase.MakeInputs(ScalarType.Float64, seed: 42);
        (_, Tensor expectedSLast) = x.RunManaged();
        Tensor storage = x.S0!.permute(2, 0, 1).contiguous(); // (H, S, Bt)
        Tensor state = storage.permute(1, 2, 0);              // (S, Bt, H), not contiguous
        Assert.That(state.is_contiguous(), Is.False);
        Tensor wx = x.Wx[0].detach().clone().requires_grad_(true);
        Tensor y = FusedRnn.Step(RnnCell.Lstm, wx, x.R, x.B, state);
        TensorAssert.Close(state, expectedSLast, "state updated in place");
        TensorAssert.Close(storage.permute(1, 2, 0), expectedSLast, "the caller's storage");
        Assert.That(y.requires_grad, Is.False);
    }

    /// <summary>NH heads equal NH = 1 with the explicit block-diagonal dense R, forward and gradients (dR of the
    /// dense run, restricted to the diagonal blocks, is the head-wise dR).</summary>
    [TestCaseSource(nameof(Cells))]
    public void HeadWiseEqualsBlockDiagonalDense(RnnCell cell)
    {
        using var scope = torch.NewDisposeScope();
        var rnnCase = new RnnCase(cell, Batch: 3, Steps: 8, Heads: 3, HeadDim: 3, HasS0: true, HasLengths: true);
        RnnInputs heads = rnnCase.MakeInputs(ScalarType.Float64, seed: 51).RequiringGrad();
        Tensor denseR = RnnReference.BlockDiagonal(heads.R.detach(), cell.Gates()).unsqueeze(0).requires_grad_(true);
        RnnInputs dense = heads.RequiringGrad() with { R = denseR };
        (Tensor weightsY, Tensor weightsS) = rnnCase.LossWeights(seed: 52);

        var headResult = heads.RunManaged();
        var denseResult = dense.RunManaged();
        TensorAssert.Close(headResult.Y, denseResult.Y, "y");
        TensorAssert.Close(headResult.SLast, denseResult.SLast, "s_last");

        RnnInputs.Loss(headResult, weightsY, weightsS).backward();
        RnnInputs.Loss(denseResult, weightsY, weightsS).backward();
        TensorAssert.Close(heads.Wx.grad!, dense.Wx.grad!, "dwx");
        TensorAssert.Close(heads.B.grad!, dense.B.grad!, "db");
        TensorAssert.Close(heads.S0!.grad!, dense.S0!.grad!, "ds0");
        Tensor denseGradBlocks = RnnReference.BlockDiagonal(heads.R.grad!, cell.Gates());
        Tensor offBlockMask = RnnReference.BlockDiagonal(torch.ones_like(heads.R), cell.Gates()).eq(0);
        TensorAssert.Close(denseR.grad![0] * (~offBlockMask).to(ScalarType.Float64), denseGradBlocks,
            "dense dR on the diagonal blocks vs head-wise dR");
    }

    /// <summary>No autograd needed: the op records no graph and the result does not require grad.</summary>
    [Test]
    public void InferenceRecordsNoGraph()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = new RnnCase(RnnCell.Gru, 2, 3, 1, 4).MakeInputs(ScalarType.Float32, seed: 61);
        (Tensor y, Tensor sLast) = x.RunManaged();
        Assert.That(y.requires_grad || sLast.requires_grad, Is.False);
        using (torch.no_grad())
        {
            (Tensor yNoGrad, _) = x.RequiringGrad().RunManaged();
            Assert.That(yNoGrad.requires_grad, Is.False);
            TensorAssert.Identical(yNoGrad, y, "y under no_grad vs without grad inputs");
        }
    }
}
