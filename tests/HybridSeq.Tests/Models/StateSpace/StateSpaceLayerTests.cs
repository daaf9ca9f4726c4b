using HybridSeq.Models.StateSpace;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.StateSpace;

/// <summary>The S4 family's layers: each kernel against a direct recurrence of its discretised system (S4's DPLR
/// kernel against the materialised complex A), convolution mode == recurrent mode == chunked convolution with
/// states, lengths and batches, the bidirectional kernel, gradients and the argument checks.</summary>
[TestFixture]
public sealed class StateSpaceLayerTests
{
    public enum Kind
    {
        S4DLinZoh,
        S4DInvBilinear,
        S4DLegSZoh,
        S4,
        Lssl,
        LsslLearned,
    }

    private static StateSpaceLayer Create(Kind kind, int channels, int stateSize, bool bidirectional = false) => kind switch
    {
        Kind.S4DLinZoh => new S4DLayer("ssm", channels, stateSize, S4DInit.Lin, SsmDiscretization.Zoh, bidirectional),
        Kind.S4DInvBilinear => new S4DLayer("ssm", channels, stateSize, S4DInit.Inv, SsmDiscretization.Bilinear, bidirectional),
        Kind.S4DLegSZoh => new S4DLayer("ssm", channels, stateSize, S4DInit.LegS, SsmDiscretization.Zoh, bidirectional),
        Kind.S4 => new S4Layer("ssm", channels, stateSize, bidirectional),
        Kind.Lssl => new LsslLayer("ssm", channels, stateSize, bidirectional: bidirectional),
        _ => new LsslLayer("ssm", channels, stateSize, learnA: true, learnDt: true, bidirectional: bidirectional),
    };

    /// <summary>A float64 layer with step sizes large enough that the kernel does not vanish within a few steps.</summary>
    private static StateSpaceLayer Layer(Kind kind, int channels = 3, int stateSize = 6, bool bidirectional = false,
        ScalarType dtype = ScalarType.Float64)
    {
        torch.manual_seed(17);
        var layer = Create(kind, channels, stateSize, bidirectional);
        layer.to(dtype);
        using (no_grad())
        {
            Get(layer, "log_dt").copy_(linspace(Math.Log(0.05), Math.Log(0.5), channels, dtype: dtype));
        }
        return layer;
    }

    private static Tensor Get(StateSpaceLayer layer, string name) =>
        layer.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(layer.named_buffers().Select(b => (b.name, b.buffer))).First(p => p.name == name).Item2;

    /// <summary>Complex states compared by their real and imaginary parts.</summary>
    private static Tensor AsReal(Tensor state) => state.is_complex() ? view_as_real(state) : state;

    /// <summary>The impulse response of a discretised system run as a recurrence: K_l = C Ā^l B̄.</summary>
    private static Tensor Recurrence(Func<Tensor, Tensor> transition, Tensor input, Func<Tensor, Tensor> output, long length)
    {
        var state = input;
        var values = new List<Tensor>();
        for (long l = 0; l < length; l++)
        {
            values.Add(output(state));
            state = transition(state);
        }
        return stack(values, -1);
    }

    [TestCase(S4DInit.Lin, SsmDiscretization.Zoh, 9)]
    [TestCase(S4DInit.Inv, SsmDiscretization.Bilinear, 8)]
    [TestCase(S4DInit.LegS, SsmDiscretization.Zoh, 5)]
    public void S4DKernelIsTheImpulseResponseOfItsDiscretisedRecurrence(S4DInit init, SsmDiscretization discretization, int length)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        using var layer = new S4DLayer("ssm", 3, 6, init, discretization);
        layer.to(ScalarType.Float64);
        var a = layer.StateMatrix();
        var dt = Get(layer, "log_dt").exp().unsqueeze(-1);
        var b = view_as_complex(Get(layer, "B"));
        var c = view_as_complex(Get(layer, "C"))[0];
        Tensor dA, dB;
        if (discretization == SsmDiscretization.Zoh)
        {
            dA = (a * dt).exp();
            dB = (dA - 1) / a * b;
        }
        else
        {
            dA = (1 + a * dt / 2) / (1 - a * dt / 2);
            dB = dt * b / (1 - a * dt / 2);
        }
        var expected = Recurrence(x => dA * x, dB, x => (c * x).sum(-1).real * 2, length);
        TensorAssert.Close(layer.Kernel(length)[0], expected, "S4D kernel vs recurrence");
        Assert.That(expected.abs().max().item<double>(), Is.GreaterThan(1e-3));
    }

    [TestCase(8)]
    [TestCase(7)]
    [TestCase(1)]
    public void S4KernelFromCauchyAndWoodburyEqualsTheMaterialisedDplrRecurrence(int length)
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(Kind.S4, channels: 2, stateSize: 6);
        var s4 = (S4Layer)layer;
        // The full complex system over [λ, conj λ]: A = diag(Λ) − P P*, bilinear, recurrence of the impulse.
        var lambda = s4.Lambda();
        var p = view_as_complex(Get(layer, "P"));
        var b = view_as_complex(Get(layer, "B"));
        var c = view_as_complex(Get(layer, "C"))[0];
        Tensor Full(Tensor half) => cat([half, half.conj()], -1).resolve_conj();
        var pFull = Full(p);
        var a = diag_embed(Full(lambda)) - pFull.unsqueeze(-1) * pFull.conj().unsqueeze(-2);   // (H, N, N)
        var dt = Get(layer, "log_dt").exp().to_type(ScalarType.ComplexFloat64).reshape(-1, 1, 1);
        var identity = eye(6, dtype: ScalarType.ComplexFloat64);
        var inverse = linalg.inv(identity - dt / 2 * a);
        var dA = inverse.matmul(identity + dt / 2 * a);
        var dB = inverse.matmul(Full(b).unsqueeze(-1)).squeeze(-1) * dt.reshape(-1, 1);
        var cFull = Full(c);
        var expected = Recurrence(x => dA.matmul(x.unsqueeze(-1)).squeeze(-1), dB, x => (cFull * x).sum(-1), length);
        Assert.That(expected.imag.abs().max().item<double>(), Is.LessThan(1e-12), "the full system is real");
        TensorAssert.Close(layer.Kernel(length)[0], expected.real, 1e-8, 1e-10, "S4 kernel vs materialised DPLR");
        Assert.That(expected.real.abs().max().item<double>(), Is.GreaterThan(1e-3));
    }

    [TestCase(false, 10)]
    [TestCase(true, 3)]
    public void LsslKernelIsTheKrylovSumOfTheHippoSystem(bool learnA, int length)
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(learnA ? Kind.LsslLearned : Kind.Lssl, channels: 2, stateSize: 5);
        // The layer's own A and B (HiPPO-LegS rounded to float32 at construction).
        var a = Get(layer, "A");
        var bVector = Get(layer, "B");
        TensorAssert.Close(a, Hippo.LegSMatrix(5), 1e-6, 1e-6, "A starts at HiPPO-LegS");
        TensorAssert.Close(bVector, Hippo.LegSInput(5), 1e-6, 1e-6, "B starts at HiPPO-LegS");
        var dt = Get(layer, "log_dt").exp().reshape(-1, 1, 1);
        var identity = eye(5, dtype: ScalarType.Float64);
        var inverse = linalg.inv(identity - dt / 2 * a);
        var dA = inverse.matmul(identity + dt / 2 * a);
        var dB = inverse.matmul(bVector.unsqueeze(-1)).squeeze(-1) * dt.reshape(-1, 1);
        var c = Get(layer, "C")[0];
        var expected = Recurrence(x => dA.matmul(x.unsqueeze(-1)).squeeze(-1), dB, x => (c * x).sum(-1), length);
        TensorAssert.Close(layer.Kernel(length)[0], expected, "LSSL kernel vs recurrence");
    }

    public static IEnumerable<TestCaseData> ModeCases()
    {
        foreach (Kind kind in Enum.GetValues<Kind>())
        {
            yield return new TestCaseData(kind, ScalarType.Float64).SetName($"ConvolutionStepAndChunkedAgree({kind}, float64)");
            yield return new TestCaseData(kind, ScalarType.Float32).SetName($"ConvolutionStepAndChunkedAgree({kind}, float32)");
        }
    }

    [TestCaseSource(nameof(ModeCases))]
    public void ConvolutionStepAndChunkedAgree(Kind kind, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        const int batch = 3, length = 11, split = 4;
        using var layer = Layer(kind, channels: 3, stateSize: 6, dtype: dtype);
        var input = randn([batch, length, 3], dtype);
        var lengths = tensor(new long[] { length, 6, 2 });
        var initial = layer.ZeroState(batch);
        using (no_grad())
            initial = initial + randn(initial.shape, initial.dtype) * 0.5;
        double scale = dtype == ScalarType.Float32 ? 10 : 1e3;

        Tensor output;
        Tensor final;
        using (no_grad())
        {
            var (o, f) = layer.Forward(input, initial, lengths, returnFinalState: true);
            output = o;
            final = f!;
        }

        // Recurrent mode, each row for its own length.
        using var system = layer.Discretize();
        var stepped = zeros_like(output);
        var steppedFinal = zeros_like(final);
        using (no_grad())
        {
            long[] rowLengths = [length, 6, 2];
            for (int row = 0; row < batch; row++)
            {
                var state = initial[row..(row + 1)];
                for (int t = 0; t < rowLengths[row]; t++)
                {
                    var (y, next) = layer.Step(input[row..(row + 1), t], state, system);
                    stepped[row, t] = y[0];
                    state = next;
                }
                steppedFinal[row] = state[0];
            }
        }
        TensorAssert.Close(stepped, output, $"{kind}: step vs convolution outputs", scale);
        TensorAssert.Close(AsReal(steppedFinal), AsReal(final), $"{kind}: step vs convolution final state", scale);

        // Chunked: the first chunk's final state is the second chunk's initial state.
        using (no_grad())
        {
            var firstLengths = lengths.clamp_max(split);
            var secondLengths = (lengths - split).clamp_min(0);
            var (first, middle) = layer.Forward(input[.., ..split], initial, firstLengths, returnFinalState: true);
            var (second, last) = layer.Forward(input[.., split..], middle, secondLengths, returnFinalState: true);
            TensorAssert.Close(cat([first, second], 1), output, $"{kind}: chunked vs whole outputs", scale);
            TensorAssert.Close(AsReal(last!), AsReal(final), $"{kind}: chunked vs whole final state", scale);
        }
        Assert.That(output.abs().max().ToDouble(), Is.GreaterThan(1e-2), "outputs must not vanish");
        Assert.That(output[2, 2..].abs().max().ToDouble(), Is.EqualTo(0), "outputs past the length are zero");
        Assert.That((final[0] - initial[0]).abs().max().ToDouble(), Is.GreaterThan(1e-3), "the state moves");
    }

    [TestCase(Kind.S4DLinZoh)]
    [TestCase(Kind.S4)]
    [TestCase(Kind.Lssl)]
    public void BidirectionalAddsTheAntiCausalKernelOnFutureInputs(Kind kind)
    {
        using var scope = NewDisposeScope();
        const int length = 7;
        using var layer = Layer(kind, channels: 2, stateSize: 4, bidirectional: true);
        var input = randn([2, length, 2], ScalarType.Float64);
        using var noGrad = no_grad();
        var kernel = layer.Kernel(length);                                         // (2, H, L)
        Assert.That(kernel.shape, Is.EqualTo(new long[] { 2, 2, length }));
        var d = Get(layer, "D");
        var expected = zeros_like(input);
        for (int t = 0; t < length; t++)
            for (int j = 0; j < length; j++)
            {
                var weight = j <= t ? kernel[0, .., t - j] : kernel[1, .., j - t - 1];
                expected[.., t] += weight * input[.., j];
            }
        expected += input * d;
        TensorAssert.Close(layer.forward(input), expected, $"{kind}: bidirectional output vs direct sums");

        Assert.Throws<NotSupportedException>(() => layer.Discretize());
        var error = Assert.Throws<ArgumentException>(() => layer.Forward(input, layer.ZeroState(2)));
        Assert.That(error!.ParamName, Is.EqualTo("initialState"));
    }

    [TestCase(Kind.S4DLinZoh)]
    [TestCase(Kind.S4DInvBilinear)]
    [TestCase(Kind.S4)]
    [TestCase(Kind.LsslLearned)]
    public void GradientsReachEveryParameterAndTheInitialState(Kind kind)
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(kind, channels: 2, stateSize: 4, bidirectional: false);
        var input = randn([2, 6, 2], ScalarType.Float64).requires_grad_();
        var initial = (layer.ZeroState(2) + randn(layer.ZeroState(2).shape, layer.StateDtype)).requires_grad_();
        var (output, final) = layer.Forward(input, initial, tensor(new long[] { 6, 4 }), returnFinalState: true);
        var loss = (output * randn(output.shape, ScalarType.Float64)).sum() + final!.abs().sum();
        loss.backward();
        foreach (var (name, parameter) in layer.named_parameters())
        {
            Assert.That(parameter.grad, Is.Not.Null, $"{kind}: {name} has no gradient");
            Assert.That(parameter.grad!.abs().max().item<double>(), Is.GreaterThan(0), $"{kind}: {name} gradient is zero");
        }
        Assert.That(input.grad!.abs().max().item<double>(), Is.GreaterThan(0));
        Assert.That(initial.grad!.abs().max().item<double>(), Is.GreaterThan(0));
    }

    [Test]
    public void S4DParameterGradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(Kind.S4DLinZoh, channels: 2, stateSize: 4);
        var input = randn([1, 5, 2], ScalarType.Float64);
        var weights = randn([1, 5, 2], ScalarType.Float64);
        layer.zero_grad();
        (layer.forward(input) * weights).sum().backward();
        foreach (var (name, parameter) in layer.named_parameters())
        {
            var analytic = parameter.grad!.clone();
            var numeric = FiniteDifference.Gradient(() =>
            {
                using var inner = NewDisposeScope();
                using var noGrad = no_grad();
                return (layer.forward(input) * weights).sum().item<double>();
            }, parameter);
            TensorAssert.Close(analytic, numeric, 1e-5, 1e-7, $"d loss / d {name}");
        }
    }

    [Test]
    public void BadInputsAreArgumentExceptionsNamingTheArgument()
    {
        using var scope = NewDisposeScope();
        using var layer = Layer(Kind.S4DLinZoh, channels: 3, stateSize: 4);
        var good = randn([2, 5, 3], ScalarType.Float64);
        Assert.That(Assert.Throws<ArgumentException>(() => layer.forward(randn([2, 5, 4], ScalarType.Float64)))!.ParamName,
            Is.EqualTo("input"));
        Assert.That(Assert.Throws<ArgumentException>(() => layer.forward(randn([2, 5, 3])))!.ParamName, Is.EqualTo("input"));
        Assert.That(Assert.Throws<ArgumentException>(() => layer.Forward(good, lengths: tensor(new long[] { 6, 1 })))!.ParamName,
            Is.EqualTo("lengths"));
        Assert.That(Assert.Throws<ArgumentException>(() => layer.Forward(good, lengths: tensor(new[] { 1, 1 })))!.ParamName,
            Is.EqualTo("lengths"));
        Assert.That(Assert.Throws<ArgumentException>(() => layer.Forward(good, zeros([2, 3, 2], ScalarType.Float64)))!.ParamName,
            Is.EqualTo("initialState"));
        using var system = layer.Discretize();
        Assert.That(Assert.Throws<ArgumentException>(() => layer.Step(good[.., 0], layer.ZeroState(3), system))!.ParamName,
            Is.EqualTo("state"));
        using var other = Layer(Kind.Lssl, channels: 3, stateSize: 4);
        using var otherSystem = other.Discretize();
        Assert.That(Assert.Throws<ArgumentException>(() => layer.Step(good[.., 0], layer.ZeroState(2), otherSystem))!.ParamName,
            Is.EqualTo("system"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new S4DLayer("ssm", 3, 5))!.ParamName,
            Is.EqualTo("stateSize"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new S4Layer("ssm", 0, 4))!.ParamName,
            Is.EqualTo("channels"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new LsslLayer("ssm", 2, 4, dtMin: 0))!.ParamName,
            Is.EqualTo("dtMin"));
    }
}
