using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The autograd node of <see cref="Linear.Forward"/> on the native path: x (M, K), w (N, K), b (N) or
/// null; output y (M, N). Saves x and w (contiguous) and which inputs need a gradient, so that the backward computes
/// only those products.</summary>
internal sealed class LinearFunction : torch.autograd.MultiTensorFunction<LinearFunction>
{
    public override string Name => "HybridSeqLinear";

    /// <summary>Records the node and runs the forward on (M, K) rows.</summary>
    public static Tensor Apply(LinearTensors rows)
        => apply(Autograd.ApplyArguments(rows.Input, rows.Weight, rows.Bias, rows.Names))[0];

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var x = new LinearTensors(Autograd.At(vars, 0), Autograd.At(vars, 1), Autograd.OptionalAt(vars, 2),
            (LinearNames)vars[3]);
        ctx.save_data("wanted", LinearGradientsWanted.Of(x));
        ctx.save_data("names", x.Names);
        x = x.Contiguous();
        ctx.save_for_backward([x.Input, x.Weight]);
        return [LinearNative.Forward(x)];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        var x = new LinearTensors(saved[0], saved[1], null, (LinearNames)ctx.get_data("names"));
        (Tensor? dx, Tensor? dw, Tensor? db) = RunBackward(x, gradOutputs[0].contiguous(),
            (LinearGradientsWanted)ctx.get_data("wanted"));
        // No gradient for the names.
        return Autograd.TensorList(dx, dw, db, null);
    }

    /// <summary>The gradients of y = x W^T + b that are asked for, as new tensors (null otherwise): dx (M, K) = dy w,
    /// dw (N, K) = dy^T x, db (N) = column sums of dy. x (M, K), w (N, K), dy (M, N) contiguous; CPU float through
    /// hs_linear_backward, any other device or dtype through libtorch.</summary>
    internal static (Tensor? Dx, Tensor? Dw, Tensor? Db) RunBackward(LinearTensors x, Tensor dy,
        LinearGradientsWanted wanted)
    {
        if (Linear.RunsNatively(x.Input))
            return LinearNative.Backward(x, dy, wanted);
        using var noGrad = torch.no_grad();
        return (wanted.Input ? dy.mm(x.Weight) : null, wanted.Weight ? dy.t().mm(x.Input) : null,
            wanted.Bias ? dy.sum(dim: 0) : null);
    }
}
