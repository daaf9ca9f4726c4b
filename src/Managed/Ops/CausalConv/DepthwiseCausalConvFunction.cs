using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The autograd node of <see cref="DepthwiseCausalConv.Forward"/>. Outputs: y, final state. Saves only the
/// contiguous inputs: the backward recomputes the pre-activation where SiLU needs it.</summary>
internal sealed class DepthwiseCausalConvFunction : torch.autograd.MultiTensorFunction<DepthwiseCausalConvFunction>
{
    public override string Name => "HybridSeqDepthwiseCausalConv";

    /// <summary>Records the node and runs the forward.</summary>
    public static (Tensor Y, Tensor FinalState) Apply(DepthwiseConvTensors x)
    {
        List<Tensor> outputs = apply(ApplyArguments.Pack(x));
        return (outputs[0], outputs[1]);
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        DepthwiseConvTensors x = ApplyArguments.Unpack(vars).Contiguous();
        (Tensor y, Tensor finalState) = RunForward(x);
        ctx.save_for_backward(Autograd.TensorList(x.X, x.Weight, x.Bias, x.InitialState, x.Lengths));
        ctx.save_data("dilation", x.Dilation);
        ctx.save_data("silu", x.Silu);
        return [y, finalState];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> s = ctx.get_saved_variables();
        var x = new DepthwiseConvTensors(s[0], s[1], s[2], s[3], s[4], (long)ctx.get_data("dilation"),
            (bool)ctx.get_data("silu"));
        // Undefined output gradients arrive as zeros (the context materialises them).
        Tensor dy = gradOutputs[0].contiguous();
        Tensor dFinalState = gradOutputs[1].contiguous();
        var grads = new DepthwiseConvGradients(torch.empty_like(x.X), torch.empty_like(x.Weight),
            x.Bias is null ? null : torch.empty_like(x.Bias),
            torch.empty([x.Batch, x.Channels, x.StateLength], dtype: x.X.dtype, device: x.X.device));
        DepthwiseCausalConvNative.Backward(x, dy, dFinalState, grads);
        // The state's gradient is always computed (cheap); autograd keeps it only when an initial state was given.
        return Autograd.TensorList(grads.DX, grads.DWeight, grads.DBias,
            x.InitialState is null ? null : grads.DInitialState, null, null, null);
    }

    /// <summary>The native forward on contiguous inputs: y (Bt, D, L) and the final state (Bt, D, S).</summary>
    internal static (Tensor Y, Tensor FinalState) RunForward(DepthwiseConvTensors x)
    {
        Tensor y = torch.empty(x.X.shape, dtype: x.X.dtype, device: x.X.device);
        Tensor finalState = torch.empty([x.Batch, x.Channels, x.StateLength], dtype: x.X.dtype, device: x.X.device);
        DepthwiseCausalConvNative.Forward(x, y, finalState);
        return (y, finalState);
    }

    /// <summary>TorchSharp's untyped apply arguments (x, weight, bias?, initialState?, lengths?, dilation, silu): the
    /// one place that knows the positions (the gradient list above follows it).</summary>
    private static class ApplyArguments
    {
        public static object[] Pack(DepthwiseConvTensors x) => Autograd.ApplyArguments(
            x.X, x.Weight, x.Bias, x.InitialState, x.Lengths, x.Dilation, x.Silu);

        public static DepthwiseConvTensors Unpack(object[] vars) => new(Autograd.At(vars, 0), Autograd.At(vars, 1),
            Autograd.OptionalAt(vars, 2), Autograd.OptionalAt(vars, 3), Autograd.OptionalAt(vars, 4), (long)vars[5],
            (bool)vars[6]);
    }
}
