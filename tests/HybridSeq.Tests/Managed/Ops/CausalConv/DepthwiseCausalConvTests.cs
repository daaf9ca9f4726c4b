using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The managed depthwise causal convolution against the composed reference (which is itself checked against
/// a scalar loop): forward over odd sizes and every flag, gradients of every input, finite differences, lengths, and
/// full forward == step by step == chunked streaming.</summary>
[TestFixture]
public sealed class DepthwiseCausalConvTests
{
    public static IEnumerable<DepthwiseConvCase> MatrixCases()
    {
        // (L, K, dilation) spread over the issue's matrix; the flags by a fixed pattern and its complement.
        (long L, long K, long Dil)[] shapes =
        [
            (1, 4, 1), (2, 2, 1), (7, 3, 2), (129, 4, 1), (129, 5, 7), (1000, 31, 1), (7, 2, 64), (1003, 4, 2),
            (7, 1, 1),
        ];
        int k = 0;
        foreach ((long length, long width, long dilation) in shapes)
        {
            int bits = (k * 5 + 3) % 16;
            foreach (int pattern in new[] { bits, 15 - bits })
                yield return new DepthwiseConvCase(Batch: 2 + k % 2, Channels: 5 + 2 * (k % 3), length, width, dilation,
                    HasBias: (pattern & 1) != 0, Silu: (pattern & 2) != 0, HasState: (pattern & 4) != 0,
                    HasLengths: (pattern & 8) != 0);
            k++;
        }
    }

    [TestCaseSource(nameof(MatrixCases))]
    public void ForwardMatchesReferenceFloat64(DepthwiseConvCase convCase) => CompareForward(convCase, ScalarType.Float64);

    [TestCaseSource(nameof(MatrixCases))]
    public void ForwardMatchesReferenceFloat32(DepthwiseConvCase convCase) => CompareForward(convCase, ScalarType.Float32);

    private static void CompareForward(DepthwiseConvCase convCase, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        DepthwiseConvInputs x = convCase.MakeInputs(dtype, convCase.Seed);
        (Tensor y, Tensor state) = x.RunManaged();
        (Tensor expectedY, Tensor expectedState) = x.RunReference();
        Assert.That(y.dtype, Is.EqualTo(dtype));
        TensorAssert.Close(y, expectedY, "y");
        TensorAssert.Identical(state, expectedState, "final state (a copy of inputs)");
    }

    /// <summary>The reference itself against the definition, written as a scalar loop.</summary>
    [TestCase(3, 4, 9, 3, 2, true, true, true, true)]
    [TestCase(2, 3, 5, 4, 3, false, false, true, true)]
    [TestCase(1, 2, 2, 1, 1, true, false, false, false)]
    [TestCase(3, 2, 6, 2, 7, false, true, false, true)]
    public void ReferenceMatchesTheDefinition(long batch, long channels, long length, long width, long dilation,
        bool bias, bool silu, bool state, bool lengths)
    {
        using var scope = torch.NewDisposeScope();
        var convCase = new DepthwiseConvCase(batch, channels, length, width, dilation, bias, silu, state, lengths);
        DepthwiseConvInputs x = convCase.MakeInputs(ScalarType.Float64, convCase.Seed);
        (Tensor y, Tensor finalState) = x.RunReference();
        (double[] expectedY, double[] expectedState) = Definition(convCase, x);
        TensorAssert.Close(y, torch.tensor(expectedY).view(batch, channels, length), "reference y");
        TensorAssert.Close(finalState, torch.tensor(expectedState).view(batch, channels, convCase.StateLength),
            "reference final state");
    }

    // y[b,d,t] = act(bias[d] + sum_k w[d,k] * input(t - (K-1-k)*dilation)), input(s) = x for 0 <= s < lengths[b],
    // the initial state for s < 0 (position S + s), 0 otherwise; y = 0 at t >= lengths[b]; the final state holds
    // input(lengths[b] - S .. lengths[b] - 1).
    private static (double[] Y, double[] State) Definition(DepthwiseConvCase c, DepthwiseConvInputs x)
    {
        double[] xs = x.X.data<double>().ToArray(), w = x.Weight.data<double>().ToArray();
        double[]? bias = x.Bias?.data<double>().ToArray(), h0 = x.InitialState?.contiguous().data<double>().ToArray();
        long[] lengths = x.Lengths?.data<long>().ToArray() ?? Enumerable.Repeat(c.Length, (int)c.Batch).ToArray();
        long s = c.StateLength;
        var y = new double[c.Batch * c.Channels * c.Length];
        var state = new double[c.Batch * c.Channels * s];
        for (long b = 0; b < c.Batch; b++)
        for (long d = 0; d < c.Channels; d++)
        {
            double Input(long t) => t < 0 ? (h0 is null ? 0 : h0[(b * c.Channels + d) * s + s + t])
                : t < lengths[b] ? xs[(b * c.Channels + d) * c.Length + t] : 0;
            for (long t = 0; t < lengths[b]; t++)
            {
                double sum = bias?[d] ?? 0;
                for (long k = 0; k < c.Width; k++)
                    sum += w[d * c.Width + k] * Input(t - (c.Width - 1 - k) * c.Dilation);
                y[(b * c.Channels + d) * c.Length + t] = c.Silu ? sum / (1 + Math.Exp(-sum)) : sum;
            }
            for (long i = 0; i < s; i++)
                state[(b * c.Channels + d) * s + i] = Input(lengths[b] - s + i);
        }
        return (y, state);
    }

    public static IEnumerable<DepthwiseConvCase> GradientCases()
    {
        yield return new DepthwiseConvCase(1, 1, 1, 1);
        yield return new DepthwiseConvCase(2, 3, 7, 3, 2, HasBias: true, Silu: true, HasState: true);
        yield return new DepthwiseConvCase(3, 5, 129, 4, 1, HasBias: true, HasState: true, HasLengths: true);
        yield return new DepthwiseConvCase(3, 9, 40, 5, 7, Silu: true, HasState: true, HasLengths: true);
        yield return new DepthwiseConvCase(2, 4, 7, 2, 64, HasBias: true, HasState: true, HasLengths: true);
        yield return new DepthwiseConvCase(2, 3, 1000, 31, 1, HasBias: true, Silu: true);
    }

    /// <summary>float64 gradients of every input (the initial state included) against TorchSharp autograd through the
    /// reference, with a loss on both outputs.</summary>
    [TestCaseSource(nameof(GradientCases))]
    public void GradientsMatchReferenceAutograd(DepthwiseConvCase convCase)
    {
        using var scope = torch.NewDisposeScope();
        DepthwiseConvInputs x = convCase.MakeInputs(ScalarType.Float64, 100 + convCase.Seed);
        (Tensor yWeights, Tensor stateWeights) = LossWeights(convCase, 7);
        DepthwiseConvInputs managed = x.RequiringGrad();
        DepthwiseConvInputs.Loss(managed.RunManaged(), yWeights, stateWeights).backward();
        DepthwiseConvInputs reference = x.RequiringGrad();
        DepthwiseConvInputs.Loss(reference.RunReference(), yWeights, stateWeights).backward();
        foreach (((string name, Tensor actual), (_, Tensor expected)) in managed.FloatInputs().Zip(reference.FloatInputs()))
        {
            Assert.That(actual.grad, Is.Not.Null, $"d{name} was not produced");
            TensorAssert.Close(actual.grad!, expected.grad!, 1e-9, 1e-11, $"d{name}");
        }
    }

    /// <summary>The independent check: central differences of the managed op itself, every input.</summary>
    [TestCase(2, 3, 6, 3, 2, true, true)]
    [TestCase(3, 2, 5, 2, 7, false, false)]
    public void GradientsMatchFiniteDifferences(long batch, long channels, long length, long width, long dilation,
        bool bias, bool silu)
    {
        using var scope = torch.NewDisposeScope();
        var convCase = new DepthwiseConvCase(batch, channels, length, width, dilation, bias, silu, HasState: true,
            HasLengths: true);
        DepthwiseConvInputs x = convCase.MakeInputs(ScalarType.Float64, 11).RequiringGrad();
        (Tensor yWeights, Tensor stateWeights) = LossWeights(convCase, 12);
        DepthwiseConvInputs.Loss(x.RunManaged(), yWeights, stateWeights).backward();
        double Loss()
        {
            using var inner = torch.NewDisposeScope();
            return DepthwiseConvInputs.Loss(x.RunManaged(), yWeights, stateWeights).item<double>();
        }
        foreach ((string name, Tensor input) in x.FloatInputs())
            TensorAssert.Close(input.grad!, FiniteDifference.Gradient(Loss, input), 1e-6, 1e-8,
                $"d{name} vs finite differences");
    }

    /// <summary>Right padding: y is 0 and the inputs get zero gradient at t >= lengths[b], and each row equals the
    /// row run alone at its own length.</summary>
    [Test]
    public void LengthsEqualRunningEachSequenceAlone()
    {
        using var scope = torch.NewDisposeScope();
        var convCase = new DepthwiseConvCase(3, 4, 11, 3, 2, HasBias: true, Silu: true, HasState: true, HasLengths: true);
        DepthwiseConvInputs x = convCase.MakeInputs(ScalarType.Float64, 21).RequiringGrad();
        long[] lengths = x.Lengths!.data<long>().ToArray();
        Assert.That(lengths, Is.EqualTo(new long[] { 11, 6, 0 }));
        (Tensor y, Tensor state) = x.RunManaged();
        (y.sum() + state.sum()).backward();
        for (int b = 0; b < lengths.Length; b++)
        {
            int n = (int)lengths[b];
            (Tensor alone, Tensor aloneState) = DepthwiseCausalConv.Forward(x.X[b..(b + 1), .., ..n], x.Weight, x.Bias,
                x.Dilation, x.Silu, x.InitialState![b..(b + 1)]);
            TensorAssert.Close(y[b..(b + 1), .., ..n], alone, $"y of sequence {b}");
            TensorAssert.Close(state[b..(b + 1)], aloneState, $"final state of sequence {b}");
            Assert.That(torch.count_nonzero(y[b, .., n..]).item<long>(), Is.Zero, $"padded y of sequence {b}");
            Assert.That(torch.count_nonzero(x.X.grad![b, .., n..]).item<long>(), Is.Zero,
                $"dx at padded steps of sequence {b}");
        }
    }

    /// <summary>Streaming a batch of different lengths through Step, one token at a time and in chunks of random
    /// sizes, gives the full forward's y at every valid position, and the state after lengths[b] tokens is row b's
    /// final state; chaining full forwards through their states gives the same as one.</summary>
    [TestCase(ScalarType.Float64, 3, 2)]
    [TestCase(ScalarType.Float64, 4, 1)]
    [TestCase(ScalarType.Float32, 5, 3)]
    [TestCase(ScalarType.Float64, 1, 1)]
    public void FullEqualsStepByStepAndChunkedStreaming(ScalarType dtype, long width, long dilation)
    {
        using var scope = torch.NewDisposeScope();
        var convCase = new DepthwiseConvCase(4, 7, 37, width, dilation, HasBias: true, Silu: true, HasState: true);
        DepthwiseConvInputs x = convCase.MakeInputs(dtype, 31);
        long[] lengths = [37, 20, 1, 9];
        (Tensor fullY, Tensor fullState) = DepthwiseCausalConv.Forward(x.X, x.Weight, x.Bias, x.Dilation, x.Silu,
            x.InitialState, torch.tensor(lengths));
        var random = new Random(5);
        foreach (bool oneAtATime in new[] { true, false })
        {
            // Cut points: every length (so the state can be read there) plus random ones.
            var cuts = new SortedSet<long>(lengths) { 0, convCase.Length };
            if (oneAtATime)
                for (long t = 0; t < convCase.Length; t++) cuts.Add(t);
            else
                for (int i = 0; i < 4; i++) cuts.Add(random.NextInt64(1, convCase.Length));
            long[] points = [.. cuts];
            Tensor state = x.InitialState!.clone();
            var ys = new List<Tensor>();
            for (int i = 0; i + 1 < points.Length; i++)
            {
                ys.Add(DepthwiseCausalConv.Step(state, x.X[.., .., (int)points[i]..(int)points[i + 1]], x.Weight,
                    x.Bias, x.Dilation, x.Silu));
                for (int b = 0; b < lengths.Length; b++)
                    if (lengths[b] == points[i + 1])
                        TensorAssert.Close(state[b], fullState[b], $"state after {lengths[b]} tokens, row {b}");
            }
            Tensor streamed = torch.cat(ys, 2);
            for (int b = 0; b < lengths.Length; b++)
                TensorAssert.Close(streamed[b, .., ..(int)lengths[b]], fullY[b, .., ..(int)lengths[b]],
                    $"{(oneAtATime ? "step by step" : "chunked")} y of row {b}");
        }
        // Full forwards chained through their final states (no lengths: every row runs the whole chunk).
        (Tensor wholeY, Tensor wholeState) = x.RunManaged();
        (Tensor firstY, Tensor firstState) = DepthwiseCausalConv.Forward(x.X[.., .., ..13], x.Weight, x.Bias,
            x.Dilation, x.Silu, x.InitialState);
        (Tensor secondY, Tensor secondState) = DepthwiseCausalConv.Forward(x.X[.., .., 13..], x.Weight, x.Bias,
            x.Dilation, x.Silu, firstState);
        TensorAssert.Close(torch.cat([firstY, secondY], 2), wholeY, "chained full forwards");
        TensorAssert.Close(secondState, wholeState, "chained final state");
    }

    [Test]
    public void StepUpdatesANonContiguousStateInPlaceAndRecordsNoGraph()
    {
        using var scope = torch.NewDisposeScope();
        var convCase = new DepthwiseConvCase(2, 5, 3, 4, 2, HasBias: true, HasState: true);
        DepthwiseConvInputs x = convCase.MakeInputs(ScalarType.Float64, 41);
        (Tensor expectedY, Tensor expectedState) = x.RunManaged();
        Tensor storage = x.InitialState!.transpose(1, 2).contiguous(); // (Bt, S, D)
        Tensor state = storage.transpose(1, 2);                         // (Bt, D, S), not contiguous
        Tensor input = x.X.detach().clone().requires_grad_(true);
        Tensor y = DepthwiseCausalConv.Step(state, input, x.Weight, x.Bias, x.Dilation, x.Silu);
        TensorAssert.Close(y, expectedY, "y");
        TensorAssert.Close(storage.transpose(1, 2), expectedState, "the caller's storage, updated in place");
        Assert.That(y.requires_grad, Is.False);
    }

    internal static (Tensor Y, Tensor State) LossWeights(DepthwiseConvCase convCase, long seed,
        ScalarType dtype = ScalarType.Float64, Device? device = null)
    {
        var generator = new torch.Generator((ulong)seed);
        Tensor y = torch.randn([convCase.Batch, convCase.Channels, convCase.Length], dtype: dtype, generator: generator);
        Tensor state = torch.randn([convCase.Batch, convCase.Channels, convCase.StateLength], dtype: dtype,
            generator: generator);
        return (y.to(device ?? torch.CPU), state.to(device ?? torch.CPU));
    }
}
