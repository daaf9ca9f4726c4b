using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The autograd node of <see cref="DilatedCausalConv.Forward"/>. Outputs: y, final state. Saves the
/// contiguous inputs (the backward recomputes nothing else: the convolution's gradients need only x, the state and
/// the weight) and which inputs need a gradient, so that the backward computes only those.</summary>
internal sealed class DilatedCausalConvFunction : torch.autograd.MultiTensorFunction<DilatedCausalConvFunction>
{
    public override string Name => "HybridSeqDilatedCausalConv";

    public static (Tensor Y, Tensor FinalState) Apply(DilatedConvTensors x)
    {
        List<Tensor> outputs = apply(Autograd.ApplyArguments(x.X, x.Weight, x.Bias, x.InitialState, x.Lengths,
            x.Dilation));
        return (outputs[0], outputs[1]);
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var arguments = new DilatedConvTensors(Autograd.At(vars, 0), Autograd.At(vars, 1), Autograd.OptionalAt(vars, 2),
            Autograd.OptionalAt(vars, 3), Autograd.OptionalAt(vars, 4), (long)vars[5]);
        ctx.save_data("wanted", new[]
        {
            arguments.X.requires_grad, arguments.Weight.requires_grad, arguments.Bias?.requires_grad == true,
            arguments.InitialState?.requires_grad == true,
        });
        DilatedConvTensors x = arguments.Contiguous();
        (Tensor y, Tensor finalState) = RunForward(x);
        ctx.save_for_backward(Autograd.TensorList(x.X, x.Weight, x.Bias, x.InitialState, x.Lengths));
        ctx.save_data("dilation", x.Dilation);
        return [y, finalState];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> s = ctx.get_saved_variables();
        var x = new DilatedConvTensors(s[0], s[1], s[2], s[3], s[4], (long)ctx.get_data("dilation"));
        var wanted = (bool[])ctx.get_data("wanted");
        var grads = new DilatedConvGradients(
            wanted[0] ? torch.empty_like(x.X) : null,
            wanted[1] ? torch.empty_like(x.Weight) : null,
            wanted[2] ? torch.empty_like(x.Bias!) : null,
            wanted[3] ? torch.empty_like(x.InitialState!) : null);
        if (grads.Dx is not null || grads.DWeight is not null || grads.DBias is not null ||
            grads.DInitialState is not null)
        {
            // Undefined output gradients arrive as zeros (the context materialises them).
            DilatedConvNative.Backward(x, gradOutputs[0].contiguous(), gradOutputs[1].contiguous(), grads);
        }
        // No gradient for lengths and dilation.
        return Autograd.TensorList(grads.Dx, grads.DWeight, grads.DBias, grads.DInitialState, null, null);
    }

    /// <summary>The native forward on contiguous inputs: y (Bt, C_out, L) and the final state (Bt, C_in, S).</summary>
    internal static (Tensor Y, Tensor FinalState) RunForward(DilatedConvTensors x)
    {
        Tensor y = torch.empty([x.Batch, x.OutChannels, x.Length], dtype: x.X.dtype, device: x.X.device);
        Tensor finalState = torch.empty([x.Batch, x.InChannels, x.StateLength], dtype: x.X.dtype,
            device: x.X.device);
        DilatedConvNative.Forward(x, y, finalState);
        return (y, finalState);
    }
}
