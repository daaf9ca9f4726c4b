using HybridSeq.Models.Layers;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Layers;

/// <summary>The CausalConv1d module: nn.Conv1d's parameter names and shapes, the same outputs as a left-padded
/// nn.Conv1d with groups = D, streaming through Step, and its argument checks.</summary>
[TestFixture]
public sealed class CausalConv1dTests
{
    [TestCase(4, 1, true, false)]
    [TestCase(3, 5, false, true)]
    [TestCase(1, 1, true, true)]
    public void MatchesAPaddedDepthwiseConv1dAndStreams(long width, long dilation, bool bias, bool silu)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        using var conv = new CausalConv1d("conv", 6, width, dilation, bias, silu);
        conv.to(ScalarType.Float64);
        var parameters = conv.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.That(parameters["weight"].shape, Is.EqualTo(new long[] { 6, 1, width }));
        Assert.That(parameters.ContainsKey("bias"), Is.EqualTo(bias));
        Assert.That(conv.StateLength, Is.EqualTo((width - 1) * dilation));

        Tensor x = randn([2, 6, 23], ScalarType.Float64);
        Tensor expected = nn.functional.conv1d(nn.functional.pad(x, [conv.StateLength, 0]), parameters["weight"],
            bias ? parameters["bias"] : null, dilation: dilation, groups: 6);
        if (silu) expected = nn.functional.silu(expected);
        Tensor y;
        using (no_grad()) y = conv.forward(x);
        TensorAssert.Close(y, expected, "forward vs padded conv1d");

        Tensor state = conv.InitialState(2);
        Assert.That(state.shape, Is.EqualTo(new long[] { 2, 6, conv.StateLength }));
        Assert.That(state.dtype, Is.EqualTo(ScalarType.Float64));
        Tensor first = conv.Step(state, x[.., .., ..10]);
        Tensor rest = conv.Step(state, x[.., .., 10..]);
        TensorAssert.Close(cat([first, rest], 2), expected, "two streamed chunks vs padded conv1d");
        (_, Tensor finalState) = conv.Forward(x);
        TensorAssert.Close(state, finalState, "streamed state vs final state");
    }

    [Test]
    public void GradientsReachTheParameters()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(5);
        using var conv = new CausalConv1d("conv", 3, 3, 2, bias: true, silu: true);
        conv.to(ScalarType.Float64);
        Tensor x = randn([2, 3, 7], ScalarType.Float64);
        Tensor weights = randn([2, 3, 7], ScalarType.Float64);
        (conv.forward(x) * weights).sum().backward();
        double Loss()
        {
            using var inner = NewDisposeScope();
            using var noGrad = no_grad();
            return (conv.forward(x) * weights).sum().item<double>();
        }
        foreach ((string name, var parameter) in conv.named_parameters())
            TensorAssert.Close(parameter.grad!, FiniteDifference.Gradient(Loss, parameter.detach()), 1e-6, 1e-8,
                $"d/d {name}");
    }

    [Test]
    public void RejectsBadSizesByName()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CausalConv1d("c", 0, 3))!.ParamName,
            Is.EqualTo("channels"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CausalConv1d("c", 2, 0))!.ParamName,
            Is.EqualTo("kernelSize"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CausalConv1d("c", 2, 3, 0))!.ParamName,
            Is.EqualTo("dilation"));
        using var conv = new CausalConv1d("c", 2, 3);
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => conv.InitialState(0))!.ParamName,
            Is.EqualTo("batch"));
    }
}
