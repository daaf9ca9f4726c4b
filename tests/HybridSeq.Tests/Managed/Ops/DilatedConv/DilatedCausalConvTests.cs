using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using HybridSeq.Models.Layers;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The native dilated causal convolution through the managed op against the composed TorchSharp reference
/// (pad/cat + conv1d): forward in float32 and float64, gradients of every input against the reference's autograd and
/// against finite differences, full == step == chunked streaming with lengths for batch &gt; 1, the module, and bad
/// inputs.</summary>
[TestFixture]
public sealed class DilatedCausalConvTests
{
    public static IEnumerable<DilatedConvCase> Cases()
    {
        yield return new DilatedConvCase(2, 3, 5, 3, 2, 7, HasBias: true, HasState: true, HasLengths: true);
        yield return new DilatedConvCase(3, 17, 9, 4, 7, 129, HasBias: true, HasLengths: true);
        yield return new DilatedConvCase(2, 5, 13, 5, 64, 30, HasState: true);
        yield return new DilatedConvCase(1, 1, 2, 1, 1, 1, HasBias: true);
        yield return new DilatedConvCase(4, 9, 6, 31, 1, 1031, HasBias: true, HasState: true, HasLengths: true);
        yield return new DilatedConvCase(2, 33, 40, 2, 1, 2);
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardMatchesReferenceFloat64(DilatedConvCase c) => CompareForward(c, ScalarType.Float64);

    [TestCaseSource(nameof(Cases))]
    public void ForwardMatchesReferenceFloat32(DilatedConvCase c) => CompareForward(c, ScalarType.Float32);

    private static void CompareForward(DilatedConvCase c, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        DilatedConvInputs x = c.MakeInputs(dtype, seed: 3);
        (Tensor y, Tensor state) = x.RunManaged();
        (Tensor expectedY, Tensor expectedState) = x.RunReference();
        Assert.That(y.dtype, Is.EqualTo(dtype));
        // Sums over C_in * K terms: float32 rounds differently in oneDNN than in our kernel.
        double scale = dtype == ScalarType.Float32 ? 1 + c.InChannels * c.Width / 50.0 : 1;
        TensorAssert.Close(y, expectedY, "y", scale);
        TensorAssert.Identical(state, expectedState, "final state");
    }

    [TestCaseSource(nameof(Cases))]
    public void GradientsMatchReferenceAutogradFloat64(DilatedConvCase c)
    {
        using var scope = torch.NewDisposeScope();
        DilatedConvInputs x = c.MakeInputs(ScalarType.Float64, seed: 5);
        using var generator = new Generator(9);
        Tensor yWeights = torch.randn([c.Batch, c.OutChannels, c.Length], dtype: ScalarType.Float64,
            generator: generator);
        Tensor stateWeights = torch.randn([c.Batch, c.InChannels, c.StateLength], dtype: ScalarType.Float64,
            generator: generator);
        DilatedConvInputs managed = x.RequiringGrad();
        DilatedConvInputs.Loss(managed.RunManaged(), yWeights, stateWeights).backward();
        DilatedConvInputs reference = x.RequiringGrad();
        DilatedConvInputs.Loss(reference.RunReference(), yWeights, stateWeights).backward();
        foreach (((string name, Tensor actual), (_, Tensor expected)) in
                 managed.FloatInputs().Zip(reference.FloatInputs()))
            TensorAssert.Close(actual.grad!, expected.grad!, $"d{name}");
    }

    [Test]
    public void GradientsMatchFiniteDifferencesForEveryInputIncludingTheInitialState()
    {
        using var scope = torch.NewDisposeScope();
        var c = new DilatedConvCase(3, 2, 3, 3, 2, 5, HasBias: true, HasState: true, HasLengths: true);
        DilatedConvInputs x = c.MakeInputs(ScalarType.Float64, seed: 11).RequiringGrad();
        using var generator = new Generator(13);
        Tensor yWeights = torch.randn([c.Batch, c.OutChannels, c.Length], dtype: ScalarType.Float64,
            generator: generator);
        Tensor stateWeights = torch.randn([c.Batch, c.InChannels, c.StateLength], dtype: ScalarType.Float64,
            generator: generator);
        DilatedConvInputs.Loss(x.RunManaged(), yWeights, stateWeights).backward();
        double Loss()
        {
            using var inner = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            return DilatedConvInputs.Loss(x.RunManaged(), yWeights, stateWeights).item<double>();
        }
        foreach ((string name, Tensor input) in x.FloatInputs())
            TensorAssert.Close(input.grad!, FiniteDifference.Gradient(Loss, input), 1e-6, 1e-8, $"d{name}");
    }

    [Test]
    public void ChunkedForwardWithLengthsAndStepsEqualTheFullForward()
    {
        using var scope = torch.NewDisposeScope();
        var c = new DilatedConvCase(4, 5, 6, 3, 4, 45, HasBias: true, HasState: true, HasLengths: true);
        DilatedConvInputs x = c.MakeInputs(ScalarType.Float64, seed: 17);
        (Tensor fullY, Tensor fullState) = x.RunManaged();
        long[] lengths = x.Lengths!.data<long>().ToArray();

        // Chunks of random sizes, each with its own lengths clamp(lengths[b] - t0, 0, T): per-sequence state.
        var random = new Random(3);
        Tensor state = x.InitialState!.clone();
        var ys = new List<Tensor>();
        for (long t0 = 0; t0 < c.Length;)
        {
            long n = Math.Min(c.Length - t0, random.Next(1, 10));
            Tensor chunkLengths = torch.tensor(lengths.Select(l => Math.Clamp(l - t0, 0, n)).ToArray());
            (Tensor y, Tensor next) = DilatedCausalConv.Forward(x.X.narrow(2, t0, n), x.Weight, x.Bias, c.Dilation,
                state, chunkLengths);
            ys.Add(y);
            state = next;
            t0 += n;
        }
        TensorAssert.Close(torch.cat(ys, 2), fullY, "chunked y");
        TensorAssert.Identical(state, fullState, "chunked final state");

        // Steps of random sizes (every row advances): row b's outputs before lengths[b] and its state right after
        // lengths[b] tokens equal the full forward's.
        Tensor stepState = x.InitialState!.clone();
        var stepYs = new List<Tensor>();
        var stateAt = new Dictionary<long, Tensor> { [0] = stepState.clone() };
        for (long t0 = 0; t0 < c.Length;)
        {
            long n = Math.Min(c.Length - t0, random.Next(1, 10));
            stepYs.Add(DilatedCausalConv.Step(stepState, x.X.narrow(2, t0, n), x.Weight, x.Bias, c.Dilation));
            t0 += n;
            stateAt[t0] = stepState.clone();
        }
        Tensor stepY = torch.cat(stepYs, 2);
        for (long b = 0; b < c.Batch; b++)
        {
            TensorAssert.Close(stepY[b, .., ..(int)lengths[b]], fullY[b, .., ..(int)lengths[b]], $"step y row {b}");
            // Chunks end at random places: compare the states at the lengths that fall on a chunk end.
            if (stateAt.TryGetValue(lengths[b], out Tensor? atLength))
                TensorAssert.Identical(atLength[b], fullState[b], $"step state row {b}");
        }
        // And token by token, where every length is a chunk end.
        Tensor tokenState = x.InitialState!.clone();
        for (long t = 0; t < c.Length; t++)
        {
            for (long b = 0; b < c.Batch; b++)
                if (lengths[b] == t)
                    TensorAssert.Identical(tokenState[b], fullState[b], $"token state row {b}");
            Tensor y = DilatedCausalConv.Step(tokenState, x.X.narrow(2, t, 1), x.Weight, x.Bias, c.Dilation);
            for (long b = 0; b < c.Batch; b++)
                if (t < lengths[b])
                    TensorAssert.Close(y[b, .., 0], fullY[b, .., t], $"token y row {b} t {t}");
        }
    }

    [Test]
    public void StepNeverRecordsAutogradAndUpdatesANonContiguousState()
    {
        using var scope = torch.NewDisposeScope();
        var c = new DilatedConvCase(2, 3, 4, 3, 2, 6, HasBias: true, HasState: true);
        DilatedConvInputs x = c.MakeInputs(ScalarType.Float32, seed: 19).RequiringGrad();
        (Tensor fullY, Tensor fullState) = x.RunManaged();
        // A (Bt, C_in, S) view with permuted strides: the op works on a contiguous copy and writes it back.
        Tensor state = x.InitialState!.detach().permute(0, 2, 1).contiguous().permute(0, 2, 1);
        Assert.That(state.is_contiguous(), Is.False);
        Tensor y = DilatedCausalConv.Step(state, x.X, x.Weight, x.Bias, c.Dilation);
        Assert.That(y.requires_grad, Is.False);
        TensorAssert.Close(y, fullY, "step y");
        TensorAssert.Identical(state, fullState.detach(), "step state");
    }

    [Test]
    public void TemporalConv1dMatchesTheFunctionalOpAndStreams()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(23);
        var layer = new TemporalConv1d("conv", 4, 6, kernelSize: 3, dilation: 5);
        Assert.That(layer.StateLength, Is.EqualTo(10));
        Assert.That(layer.named_parameters().Select(p => p.name), Is.EquivalentTo(new[] { "weight", "bias" }));
        Assert.That(layer.Weight.shape, Is.EqualTo(new long[] { 6, 4, 3 }));
        Tensor x = torch.randn(3, 4, 20);
        Tensor y = layer.forward(x);
        (Tensor expected, _) = DilatedCausalConvReference.Forward(x, layer.Weight, layer.Bias, 5);
        TensorAssert.Close(y, expected, "module y", 2);
        Tensor state = layer.InitialState(3);
        Assert.That(state.shape, Is.EqualTo(new long[] { 3, 4, 10 }));
        Tensor first = layer.Step(state, x.narrow(2, 0, 7));
        Tensor second = layer.Step(state, x.narrow(2, 7, 13));
        TensorAssert.Close(torch.cat([first, second], 2), y.detach(), "module steps");
        (_, Tensor finalState) = layer.Forward(x);
        TensorAssert.Identical(state, finalState.detach(), "module state");

        var noBias = new TemporalConv1d("plain", 2, 3, kernelSize: 1, bias: false);
        Assert.That(noBias.Bias, Is.Null);
        Assert.That(noBias.named_parameters().Select(p => p.name), Is.EquivalentTo(new[] { "weight" }));
        Assert.That(noBias.InitialState(2).shape, Is.EqualTo(new long[] { 2, 2, 0 }));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new TemporalConv1d("bad", 2, 3, 0))!.ParamName,
            Is.EqualTo("kernelSize"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new TemporalConv1d("bad", 2, 3, 2, 0))!.ParamName,
            Is.EqualTo("dilation"));
    }

    private static void ExpectArgument(Action call, string parameter, string fragment)
    {
        var error = Assert.Throws(Is.InstanceOf<ArgumentException>(), () => call())!;
        Assert.That(((ArgumentException)error).ParamName, Is.EqualTo(parameter), error.Message);
        Assert.That(error.Message, Does.Contain(fragment));
    }

    [Test]
    public void BadInputsThrowArgumentExceptionsNamingTheArgument()
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = torch.randn(2, 3, 6), w = torch.randn(4, 3, 3), b = torch.randn(4);
        Tensor state = torch.zeros(2, 3, 4);
        Assert.That(Assert.Throws<ArgumentNullException>(() => DilatedCausalConv.Forward(null!, w))!.ParamName,
            Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => DilatedCausalConv.Forward(x, null!))!.ParamName,
            Is.EqualTo("weight"));
        ExpectArgument(() => DilatedCausalConv.Forward(torch.randn(2, 3), w), "x", "rank");
        ExpectArgument(() => DilatedCausalConv.Forward(x, torch.randn(4, 2, 3)), "weight", "C_in = 3");
        ExpectArgument(() => DilatedCausalConv.Forward(x, torch.randn(4, 3, 0)), "weight", "K >= 1");
        ExpectArgument(() => DilatedCausalConv.Forward(x, w, torch.randn(5)), "bias", "(C_out,)");
        ExpectArgument(() => DilatedCausalConv.Forward(x, w, b, dilation: 0), "dilation", ">= 1");
        ExpectArgument(() => DilatedCausalConv.Forward(x, w, b, dilation: long.MaxValue / 2), "dilation", "int64");
        ExpectArgument(() => DilatedCausalConv.Forward(x, w, b, 2, torch.zeros(2, 3, 3)), "initialState",
            "(Bt, C_in, (K-1)*dilation)");
        ExpectArgument(() => DilatedCausalConv.Forward(x, w, b, 2, state.to(ScalarType.Float64)), "initialState",
            "float64");
        ExpectArgument(() => DilatedCausalConv.Forward(x, w, b, 2, state, torch.tensor(new long[] { 7, 1 })),
            "lengths", "7");
        ExpectArgument(() => DilatedCausalConv.Forward(x, w, b, 2, state, torch.tensor(new[] { 1, 1 })),
            "lengths", "int64");
        ExpectArgument(() => DilatedCausalConv.Forward(x.to(ScalarType.Int32), w), "x", "float");
        ExpectArgument(() => DilatedCausalConv.Step(torch.zeros(2, 3, 3), x, w, b, 2), "state",
            "(Bt, C_in, (K-1)*dilation)");
        ExpectArgument(() => DilatedCausalConv.Step(state, x, w.to(ScalarType.Float64), b, 2), "weight", "float64");
    }
}
