using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The autograd node of <see cref="SelectiveScan.Forward"/>. Outputs: out, h_last. Saves the contiguous
/// inputs and the state checkpoints (Bt, Dm, K, N); the backward recomputes the rest.</summary>
internal sealed class SelectiveScanFunction : torch.autograd.MultiTensorFunction<SelectiveScanFunction>
{
    public override string Name => "HybridSeqSelectiveScan";

    /// <summary>Records the node and runs the forward.</summary>
    public static (Tensor Output, Tensor LastState) Apply(ScanTensors x, bool deterministic)
    {
        List<Tensor> outputs = apply(ApplyArguments.Pack(x, deterministic));
        return (outputs[0], outputs[1]);
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        (ScanTensors arguments, bool deterministic) = ApplyArguments.Unpack(vars);
        ScanTensors x = arguments.Contiguous();
        (Tensor output, Tensor lastState, Tensor? checkpoints) = RunForward(x, withCheckpoints: true);
        Saved.Save(ctx, x, checkpoints!, deterministic);
        return [output, lastState];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        (ScanTensors x, Tensor checkpoints, bool deterministic) = Saved.Load(ctx);
        // Undefined output gradients arrive as zeros (the context materialises them).
        Tensor dOutput = gradOutputs[0].contiguous();
        Tensor dLastState = gradOutputs[1].contiguous();
        var grads = new ScanGradients(
            torch.empty_like(x.U), torch.empty_like(x.Delta), torch.empty_like(x.A), torch.empty_like(x.B),
            torch.empty_like(x.C), EmptyLikeOrNull(x.D), EmptyLikeOrNull(x.Z), EmptyLikeOrNull(x.DeltaBias),
            EmptyLikeOrNull(x.H0));
        SelectiveScanNative.Backward(x, checkpoints, dOutput, dLastState, grads, deterministic);
        return ApplyArguments.Gradients(grads);
    }

    /// <summary>The native forward on contiguous inputs: output (Bt, Dm, L), last state (Bt, Dm, N) and, when asked,
    /// the state checkpoints (Bt, Dm, K, N) the backward recomputes from.</summary>
    internal static (Tensor Output, Tensor LastState, Tensor? Checkpoints) RunForward(ScanTensors x, bool withCheckpoints)
    {
        Tensor output = torch.empty(x.U.shape, dtype: x.U.dtype, device: x.U.device);
        Tensor lastState = torch.empty([x.Batch, x.Dim, x.State], dtype: x.U.dtype, device: x.U.device);
        Tensor? checkpoints = withCheckpoints
            ? torch.empty([x.Batch, x.Dim, SelectiveScanNative.NumChunks(x.Length), x.State], dtype: x.U.dtype,
                device: x.U.device)
            : null;
        SelectiveScanNative.Forward(x, output, lastState, checkpoints);
        return (output, lastState, checkpoints);
    }

    private static Tensor? EmptyLikeOrNull(Tensor? t) => t is null ? null : torch.empty_like(t);

    /// <summary>The apply arguments in TorchSharp's untyped order (u, delta, A, B, C, D?, z?, deltaBias?, h0?,
    /// lengths?, deltaSoftplus, deterministic) and the gradient list in the same order: the one place that knows
    /// the positions.</summary>
    private static class ApplyArguments
    {
        public static object[] Pack(ScanTensors x, bool deterministic) => Autograd.ApplyArguments(
            x.U, x.Delta, x.A, x.B, x.C, x.D, x.Z, x.DeltaBias, x.H0, x.Lengths, x.DeltaSoftplus, deterministic);

        public static (ScanTensors X, bool Deterministic) Unpack(object[] vars) => (
            new ScanTensors(Autograd.At(vars, 0), Autograd.At(vars, 1), Autograd.At(vars, 2), Autograd.At(vars, 3),
                Autograd.At(vars, 4), Autograd.OptionalAt(vars, 5), Autograd.OptionalAt(vars, 6),
                Autograd.OptionalAt(vars, 7), Autograd.OptionalAt(vars, 8), Autograd.OptionalAt(vars, 9),
                (bool)vars[10]),
            (bool)vars[11]);

        // No gradient for lengths and the two flags.
        public static List<Tensor> Gradients(ScanGradients g) => Autograd.TensorList(
            g.DU, g.DDelta, g.DA, g.DB, g.DC, g.DD, g.DZ, g.DDeltaBias, g.DH0, null, null, null);
    }

    /// <summary>What the forward saves for the backward: the contiguous inputs, the checkpoints and the flags.</summary>
    private static class Saved
    {
        public static void Save(torch.autograd.AutogradContext ctx, ScanTensors x, Tensor checkpoints,
            bool deterministic)
        {
            ctx.save_for_backward(Autograd.TensorList(
                x.U, x.Delta, x.A, x.B, x.C, x.D, x.Z, x.DeltaBias, x.H0, x.Lengths, checkpoints));
            ctx.save_data("deltaSoftplus", x.DeltaSoftplus);
            ctx.save_data("deterministic", deterministic);
        }

        public static (ScanTensors X, Tensor Checkpoints, bool Deterministic) Load(torch.autograd.AutogradContext ctx)
        {
            List<Tensor> s = ctx.get_saved_variables();
            var x = new ScanTensors(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9],
                (bool)ctx.get_data("deltaSoftplus"));
            return (x, s[10], (bool)ctx.get_data("deterministic"));
        }
    }
}
