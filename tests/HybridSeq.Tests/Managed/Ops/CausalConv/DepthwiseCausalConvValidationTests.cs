using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>Every bad argument of the managed op is an ArgumentException whose ParamName is the argument the user
/// passed (the native shim's message, mapped back to the managed names), never a crash or an opaque libtorch error.
/// </summary>
[TestFixture]
public sealed class DepthwiseCausalConvValidationTests
{
    // Bt 2, D 3, L 5, K 3, dilation 2: S = 4.
    private static Tensor X => randn(2, 3, 5);
    private static Tensor W => randn(3, 3);

    private static void ExpectArgument(TestDelegate call, string paramName, string fragment)
    {
        var error = Assert.Throws(Is.InstanceOf<ArgumentException>(), call) as ArgumentException;
        Assert.That(error!.ParamName, Is.EqualTo(paramName), error.Message);
        Assert.That(error.Message, Does.Contain(fragment));
    }

    [Test]
    public void ForwardNamesTheBadArgument()
    {
        using var scope = NewDisposeScope();
        ExpectArgument(() => DepthwiseCausalConv.Forward(randn(3, 5), W, dilation: 2), "x", "rank");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, randn(4, 3), dilation: 2), "weight", "(3, 3)");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, randn(3, 0)), "weight", "K >= 1");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W.to(ScalarType.Float64)), "weight", "float");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W, bias: randn(2)), "bias", "(3,)");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W, dilation: 0), "dilation", ">= 1, got 0");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W, dilation: long.MaxValue), "dilation", "int64");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W, dilation: 2, initialState: randn(2, 3, 3)),
            "initialState", "(2, 3, 4)");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W, lengths: tensor(new long[] { 5, 6 })), "lengths", "6");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W, lengths: tensor(new long[] { 5 })), "lengths", "(2,)");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, W, lengths: tensor(new[] { 5, 5 })), "lengths", "int64");
        Assert.That(Assert.Throws<ArgumentNullException>(() => DepthwiseCausalConv.Forward(null!, W))!.ParamName,
            Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => DepthwiseCausalConv.Forward(X, null!))!.ParamName,
            Is.EqualTo("weight"));
    }

    [Test]
    public void TheGraphPathNamesTheBadArgumentToo()
    {
        using var scope = NewDisposeScope();
        Tensor w = W.requires_grad_();
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, w, dilation: 0), "dilation", ">= 1");
        ExpectArgument(() => DepthwiseCausalConv.Forward(X, w, initialState: randn(2, 3, 1)), "initialState",
            "(2, 3, 2)");
    }

    [Test]
    public void StepNamesTheBadArgument()
    {
        using var scope = NewDisposeScope();
        ExpectArgument(() => DepthwiseCausalConv.Step(zeros(2, 3, 3), X, W, dilation: 2), "state", "(2, 3, 4)");
        ExpectArgument(() => DepthwiseCausalConv.Step(zeros(2, 3, 4), randn(2, 3), W, dilation: 2), "x", "rank");
        ExpectArgument(() => DepthwiseCausalConv.Step(zeros(2, 3, 4), X, W, dilation: 2, bias: randn(3, 1)), "bias",
            "(3,)");
        ExpectArgument(() => DepthwiseCausalConv.Step(zeros(2, 3, 4, ScalarType.Float64), X, W, dilation: 2), "state",
            "float");
        Assert.That(Assert.Throws<ArgumentNullException>(() => DepthwiseCausalConv.Step(null!, X, W))!.ParamName,
            Is.EqualTo("state"));
    }
}
