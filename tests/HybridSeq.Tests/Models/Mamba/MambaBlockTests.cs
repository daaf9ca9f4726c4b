using HybridSeq.Models.Mamba;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Mamba;

/// <summary>The Mamba mixer: the recurrent step path must reproduce the full-sequence path, and its gradients
/// must match finite differences.</summary>
[TestFixture]
public sealed class MambaBlockTests
{
    // Odd sizes everywhere: d_model 10 gives dt_rank 1 ("auto"), d_inner 20, N 5; lengths shorter and longer than
    // the convolution window.
    [TestCase(1, 1, 4)]
    [TestCase(3, 7, 4)]
    [TestCase(2, 13, 3)]
    public void StepLoopEqualsFullForward(int batch, int length, int convolutionWidth)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(7);
        var config = new MambaConfig(VocabularySize: 5, ModelDimension: 10, Layers: 1, StateDimension: 5,
            ConvolutionWidth: convolutionWidth);
        using var block = new MambaBlock("mixer", config);
        block.to(ScalarType.Float64);
        var hidden = randn([batch, length, config.ModelDimension], ScalarType.Float64);

        Tensor full;
        using (no_grad()) full = block.forward(hidden);

        using var cache = new MambaLayerCache(batch, config, CPU, ScalarType.Float64);
        var steps = new List<Tensor>();
        using (no_grad())
        {
            for (int t = 0; t < length; t++) steps.Add(block.Step(hidden[.., t], cache));
        }
        TensorAssert.Close(stack(steps, 1), full, "step outputs vs full forward");
        Assert.That(full.abs().max().item<double>(), Is.GreaterThan(1e-3), "the block output must not be trivially zero");
    }

    [Test]
    public void InputAndParameterGradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(11);
        var config = new MambaConfig(VocabularySize: 5, ModelDimension: 4, Layers: 1, StateDimension: 2,
            ConvolutionWidth: 3);
        using var block = new MambaBlock("mixer", config);
        block.to(ScalarType.Float64);
        var hidden = randn([1, 5, config.ModelDimension], ScalarType.Float64).requires_grad_();
        var weights = randn([1, 5, config.ModelDimension], ScalarType.Float64);

        block.zero_grad();
        (block.forward(hidden) * weights).sum().backward();
        var parameters = block.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        double Loss()
        {
            using var inner = NewDisposeScope();
            using var noGrad = no_grad();
            return (block.forward(hidden) * weights).sum().item<double>();
        }

        // The input gradient covers in_proj, both halves (x and the gate z) and out_proj; the parameters below
        // cover the paths specific to Mamba: delta bias (softplus), A_log (decay), the causal convolution,
        // x_proj (delta, B and C) and the skip D.
        TensorAssert.Close(hidden.grad!, FiniteDifference.Gradient(Loss, hidden.detach()), 1e-6, 1e-8, "d/d hidden");
        foreach (string name in new[] { "dt_proj.bias", "dt_proj.weight", "A_log", "conv1d.weight", "x_proj.weight", "D" })
        {
            var parameter = parameters[name];
            TensorAssert.Close(parameter.grad!, FiniteDifference.Gradient(Loss, parameter.detach()), 1e-6, 1e-8,
                $"d/d {name}");
        }
    }

    [Test]
    public void InitialisationFollowsMamba()
    {
        torch.manual_seed(3);
        var config = new MambaConfig(VocabularySize: 5, ModelDimension: 32, StateDimension: 4);
        using var block = new MambaBlock("mixer", config, dtMin: 0.001, dtMax: 0.1);
        var parameters = block.named_parameters().ToDictionary(p => p.name, p => p.parameter);

        // S4D-real: A = -exp(A_log) = -(1..N) in every channel.
        var expectedA = arange(1, 5, dtype: ScalarType.Float32).repeat(config.InnerDimension, 1);
        TensorAssert.Close(parameters["A_log"].exp(), expectedA, "exp(A_log)");
        TensorAssert.Close(parameters["D"], ones(config.InnerDimension), "D");
        // softplus(dt bias) is the initial step size, inside [dtMin, dtMax].
        var dt = nn.functional.softplus(parameters["dt_proj.bias"]);
        Assert.That(dt.min().item<float>(), Is.GreaterThanOrEqualTo(0.001f * 0.999f));
        Assert.That(dt.max().item<float>(), Is.LessThanOrEqualTo(0.1f * 1.001f));
        Assert.That(parameters["x_proj.weight"].shape, Is.EqualTo(new long[] { config.ResolvedDtRank + 8, 64 }));
        Assert.That(config.ResolvedDtRank, Is.EqualTo(2), "dt_rank auto = ceil(32 / 16)");
    }

    [Test]
    public void StepRejectsANullOrMisSizedCacheByName()
    {
        using var scope = NewDisposeScope();
        var config = new MambaConfig(VocabularySize: 5, ModelDimension: 8, Layers: 1, StateDimension: 3);
        using var block = new MambaBlock("mixer", config);
        var hidden = randn([2, 8]);
        using var noGrad = no_grad();

        var nullError = Assert.Throws<ArgumentNullException>(() => block.Step(hidden, null!));
        Assert.That(nullError!.ParamName, Is.EqualTo("cache"));

        using var wrongBatch = new MambaLayerCache(3, config, CPU, ScalarType.Float32);
        var batchError = Assert.Throws<ArgumentException>(() => block.Step(hidden, wrongBatch));
        Assert.That(batchError!.ParamName, Is.EqualTo("cache"));
        Assert.That(batchError.Message, Does.Contain("batch of 2").And.Contain("got (3, 16, 3) and (3, 16, 3)"));

        using var wrongSize = new MambaLayerCache(2, config with { StateDimension = 4 }, CPU, ScalarType.Float32);
        Assert.That(Assert.Throws<ArgumentException>(() => block.Step(hidden, wrongSize))!.ParamName, Is.EqualTo("cache"));

        var hiddenError = Assert.Throws<ArgumentException>(() => block.Step(randn([2, 7]), wrongBatch));
        Assert.That(hiddenError!.ParamName, Is.EqualTo("hidden"));
    }
}
