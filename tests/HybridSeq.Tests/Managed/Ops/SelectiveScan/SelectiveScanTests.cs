using HybridSeq.Managed;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The managed op against the plain-TorchSharp reference: forward over the flag matrix with odd sizes,
/// gradients of every input, finite differences, lengths, Step, and bitwise-repeatable backward.</summary>
[TestFixture]
public sealed class SelectiveScanTests
{
    private static readonly long[] Lengths = [1, 7, 129, 300];
    private static readonly long[] States = [1, 5, 16];

    /// <summary>Two cases per (L, N): flag sets spread by a fixed pattern and its complement, so every flag is on
    /// and off across the matrix; G alternates 1 / 2 and the batch 2 / 3 (odd).</summary>
    public static IEnumerable<ScanCase> MatrixCases()
    {
        int k = 0;
        foreach (long length in Lengths)
        foreach (long state in States)
        {
            int bits = (k * 37 + 11) % 128;
            foreach (int pattern in new[] { bits, 127 - bits })
                yield return FromBits(pattern, batch: 2 + k % 2, dim: 4, state, length, groups: 1 + k % 2);
            k++;
        }
    }

    private static ScanCase FromBits(int bits, long batch, long dim, long state, long length, long groups)
        => new(batch, dim, state, length, groups,
            BVarying: (bits & 1) != 0, CVarying: (bits & 2) != 0, HasD: (bits & 4) != 0, HasZ: (bits & 8) != 0,
            HasDeltaBias: (bits & 16) != 0, Softplus: (bits & 32) != 0, HasH0: (bits & 64) != 0);

    [TestCaseSource(nameof(MatrixCases))]
    public void ForwardMatchesReferenceFloat64(ScanCase scanCase) => CompareForward(scanCase, ScalarType.Float64);

    [TestCaseSource(nameof(MatrixCases))]
    public void ForwardMatchesReferenceFloat32(ScanCase scanCase) => CompareForward(scanCase, ScalarType.Float32);

    private static void CompareForward(ScanCase scanCase, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        ScanInputs x = scanCase.MakeInputs(dtype, seed: scanCase.Seed);
        (Tensor output, Tensor state) = x.RunManaged();
        (Tensor expectedOutput, Tensor expectedState) = x.RunReference();
        Assert.That(output.dtype, Is.EqualTo(dtype));
        // Long float32 recurrences round differently in a fused loop than in op-by-op TorchSharp.
        double scale = dtype == ScalarType.Float32 ? 1 + scanCase.Length / 30.0 : 1;
        TensorAssert.Close(output, expectedOutput, "output", scale);
        TensorAssert.Close(state, expectedState, "last state", scale);
    }

    public static IEnumerable<ScanCase> GradientCases()
    {
        yield return new ScanCase(1, 2, 1, 1);
        yield return new ScanCase(2, 4, 5, 7, Groups: 2, BVarying: true, CVarying: true, HasD: true, HasZ: true,
            HasDeltaBias: true, Softplus: true, HasH0: true);
        yield return new ScanCase(3, 3, 16, 129, BVarying: true, HasD: true, HasH0: true, HasLengths: true);
        yield return new ScanCase(3, 4, 5, 300, Groups: 2, CVarying: true, HasZ: true, Softplus: true,
            HasDeltaBias: true, HasLengths: true);
        yield return new ScanCase(2, 2, 3, 257, BVarying: true, CVarying: true, HasH0: true);
    }

    /// <summary>float64 gradients of every input (including h0) against TorchSharp autograd through the reference.</summary>
    [TestCaseSource(nameof(GradientCases))]
    public void GradientsMatchReferenceAutograd(ScanCase scanCase)
    {
        using var scope = torch.NewDisposeScope();
        ScanInputs x = scanCase.MakeInputs(ScalarType.Float64, seed: 100 + scanCase.Seed);
        (Tensor outputWeights, Tensor stateWeights) = LossWeights(scanCase, seed: 7);

        ScanInputs managed = x.RequiringGrad();
        ScanInputs.Loss(managed.RunManaged(), outputWeights, stateWeights).backward();
        ScanInputs reference = x.RequiringGrad();
        ScanInputs.Loss(reference.RunReference(), outputWeights, stateWeights).backward();

        foreach (((string name, Tensor actual), (_, Tensor expected)) in
                 managed.FloatInputs().Zip(reference.FloatInputs()))
        {
            Assert.That(actual.grad, Is.Not.Null, $"d{name} was not produced");
            TensorAssert.Close(actual.grad!, expected.grad!, 1e-8, 1e-10, $"d{name}");
        }
    }

    /// <summary>The independent check: central differences of the managed op itself, every input, one small case.</summary>
    [Test]
    public void GradientsMatchFiniteDifferences()
    {
        using var scope = torch.NewDisposeScope();
        ScanCase scanCase = new(2, 2, 3, 5, Groups: 2, BVarying: true, CVarying: true, HasD: true, HasZ: true,
            HasDeltaBias: true, Softplus: true, HasH0: true, HasLengths: true);
        ScanInputs x = scanCase.MakeInputs(ScalarType.Float64, seed: 11).RequiringGrad();
        (Tensor outputWeights, Tensor stateWeights) = LossWeights(scanCase, seed: 12);
        ScanInputs.Loss(x.RunManaged(), outputWeights, stateWeights).backward();

        double Loss()
        {
            using var inner = torch.NewDisposeScope();
            return ScanInputs.Loss(x.RunManaged(), outputWeights, stateWeights).item<double>();
        }

        foreach ((string name, Tensor input) in x.FloatInputs())
        {
            Tensor numeric = FiniteDifference.Gradient(Loss, input);
            TensorAssert.Close(input.grad!, numeric, 1e-6, 1e-7, $"d{name} vs finite differences");
        }
    }

    /// <summary>A padded batch equals each sequence run alone at its own length; padded outputs are 0 and padded
    /// inputs get zero gradient.</summary>
    [Test]
    public void LengthsEqualRunningEachSequenceAlone()
    {
        using var scope = torch.NewDisposeScope();
        ScanCase scanCase = new(3, 4, 5, 11, Groups: 2, BVarying: true, HasD: true, HasZ: true, Softplus: true,
            HasDeltaBias: true, HasH0: true, HasLengths: true);
        ScanInputs x = scanCase.MakeInputs(ScalarType.Float64, seed: 21).RequiringGrad();
        long[] lengths = x.Lengths!.data<long>().ToArray();
        Assert.That(lengths, Is.EqualTo(new long[] { 11, 5, 0 }));

        (Tensor output, Tensor state) = x.RunManaged();
        output.sum().backward();
        for (int b = 0; b < lengths.Length; b++)
        {
            long n = lengths[b];
            Tensor expectedState = x.H0![b];
            if (n > 0)
            {
                Range t = ..(int)n;
                (Tensor alone, Tensor aloneState) = HybridSeq.Managed.SelectiveScan.Forward(
                    x.U[b..(b + 1), .., t], x.Delta[b..(b + 1), .., t], x.A, x.B[b..(b + 1), .., .., t], x.C, x.D,
                    x.Z![b..(b + 1), .., t], x.DeltaBias, true, x.H0![b..(b + 1)]);
                TensorAssert.Close(output[b..(b + 1), .., t], alone, $"output of sequence {b}");
                expectedState = aloneState[0];
            }
            TensorAssert.Close(state[b], expectedState, $"last state of sequence {b}");
            Tensor padded = output[b, .., (int)n..];
            Assert.That(torch.count_nonzero(padded).item<long>(), Is.Zero, $"padded output of sequence {b}");
            Assert.That(torch.count_nonzero(x.U.grad![b, .., (int)n..]).item<long>(), Is.Zero,
                $"du at padded steps of sequence {b}");
        }
    }

    [Test]
    public void StepUpdatesANonContiguousStateInPlaceAndRecordsNoGraph()
    {
        using var scope = torch.NewDisposeScope();
        ScanCase scanCase = new(2, 3, 4, 1, HasH0: true);
        ScanInputs x = scanCase.MakeInputs(ScalarType.Float64, seed: 41);
        (_, Tensor expectedState) = x.RunManaged();
        Tensor storage = x.H0!.transpose(1, 2).contiguous(); // (Bt, N, Dm)
        Tensor state = storage.transpose(1, 2);               // (Bt, Dm, N), not contiguous
        Tensor u = x.U[.., .., 0].detach().clone().requires_grad_(true);
        Tensor output = HybridSeq.Managed.SelectiveScan.Step(state, u, x.Delta[.., .., 0], x.A, x.B, x.C);
        TensorAssert.Close(state, expectedState, "state updated in place");
        TensorAssert.Close(storage.transpose(1, 2), expectedState, "the caller's storage");
        Assert.That(output.requires_grad, Is.False);
    }

    internal static (Tensor Output, Tensor State) LossWeights(ScanCase scanCase, long seed,
        ScalarType dtype = ScalarType.Float64, Device? device = null)
    {
        var generator = new torch.Generator((ulong)seed);
        Tensor output = torch.randn([scanCase.Batch, scanCase.Dim, scanCase.Length], dtype: dtype, generator: generator);
        Tensor state = torch.randn([scanCase.Batch, scanCase.Dim, scanCase.State], dtype: dtype, generator: generator);
        return (output.to(device ?? torch.CPU), state.to(device ?? torch.CPU));
    }
}
