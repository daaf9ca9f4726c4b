using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The Mamba-1 selective scan (S6) on the native kernels: CPU (float32, float64) and CUDA (float32).
/// See native/include/hybridseq.h for the recurrence.</summary>
public static class SelectiveScan
{
    /// <summary>The full scan, differentiable with respect to every float input (including h0).</summary>
    /// <param name="u">(Bt, Dm, L) input.</param>
    /// <param name="delta">(Bt, Dm, L) step sizes (before deltaBias and softplus).</param>
    /// <param name="A">(Dm, N) state matrix, usually negative.</param>
    /// <param name="B">(Dm, N) constant, or (Bt, G, N, L) time-varying with Dm % G == 0.</param>
    /// <param name="C">(Dm, N) constant, or (Bt, G, N, L) time-varying (the same G as B when both vary).</param>
    /// <param name="D">optional (Dm) skip connection.</param>
    /// <param name="z">optional (Bt, Dm, L) gate: out = y * silu(z).</param>
    /// <param name="deltaBias">optional (Dm) added to delta.</param>
    /// <param name="deltaSoftplus">apply softplus to delta + deltaBias.</param>
    /// <param name="h0">optional (Bt, Dm, N) initial state (zeros when null).</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths (right padding), on the CPU or the scan's device:
    /// the output is 0 from lengths[b] on and the state stops there.</param>
    /// <param name="deterministic">CUDA only: reduce gradients in a fixed order (bitwise repeatable backward).
    /// The CPU backward is always deterministic.</param>
    /// <returns>Output (Bt, Dm, L) and LastState (Bt, Dm, N), new tensors on the inputs' device and dtype.</returns>
    public static (Tensor Output, Tensor LastState) Forward(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
        Tensor? D = null, Tensor? z = null, Tensor? deltaBias = null, bool deltaSoftplus = false, Tensor? h0 = null,
        Tensor? lengths = null, bool deterministic = false)
    {
        Native.Load();
        var arguments = new ScanTensors(u, delta, A, B, C, D, z, deltaBias, h0, lengths, deltaSoftplus);
        SelectiveScanArguments.CheckForward(arguments);
        bool needsGraph = torch.is_grad_enabled() &&
                          new[] { u, delta, A, B, C, D, z, deltaBias, h0 }.Any(t => t?.requires_grad == true);
        if (!needsGraph)
        {
            // Inference: no autograd node and no checkpoints for a backward that will never run.
            using var noGrad = torch.no_grad();
            (Tensor output, Tensor lastState, _) =
                SelectiveScanFunction.RunForward(arguments.Contiguous(), withCheckpoints: false);
            return (output, lastState);
        }
        List<Tensor> outputs = SelectiveScanFunction.apply(
            u, delta, A, B, C, D!, z!, deltaBias!, h0!, lengths!, deltaSoftplus, deterministic);
        return (outputs[0], outputs[1]);
    }

    /// <summary>One token of the recurrence for generation, equal to one column of <see cref="Forward"/>.
    /// Inference only: it always runs without autograd (the result never requires grad, whatever the grad mode and
    /// the inputs' requires_grad), because it overwrites <paramref name="state"/> in place.</summary>
    /// <param name="state">(Bt, Dm, N) h[t-1] on entry, overwritten with h[t].</param>
    /// <param name="u">(Bt, Dm).</param>
    /// <param name="delta">(Bt, Dm).</param>
    /// <param name="A">(Dm, N).</param>
    /// <param name="B">(Dm, N) or (Bt, G, N).</param>
    /// <param name="C">(Dm, N) or (Bt, G, N).</param>
    /// <param name="D">optional (Dm).</param>
    /// <param name="z">optional (Bt, Dm) gate.</param>
    /// <param name="deltaBias">optional (Dm).</param>
    /// <param name="deltaSoftplus">apply softplus to delta + deltaBias.</param>
    /// <returns>out (Bt, Dm), a new tensor.</returns>
    public static Tensor Step(Tensor state, Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D = null,
        Tensor? z = null, Tensor? deltaBias = null, bool deltaSoftplus = false)
    {
        Native.Load();
        var arguments = new ScanTensors(u, delta, A, B, C, D, z, deltaBias, null, null, deltaSoftplus);
        SelectiveScanArguments.CheckStep(state, arguments);
        using var noGrad = torch.no_grad();
        ScanTensors x = arguments.Contiguous();
        // The kernel updates the state buffer it is given; a non-contiguous state is updated through a contiguous
        // copy that is written back.
        Tensor work = state.is_contiguous() ? state : state.contiguous();
        Tensor output = torch.empty([x.Batch, x.Dim], dtype: u.dtype, device: u.device);
        SelectiveScanNative.Step(x, work, output);
        if (!ReferenceEquals(work, state))
            state.copy_(work);
        return output;
    }
}

/// <summary>The autograd node of <see cref="SelectiveScan.Forward"/>. Arguments (in apply order): u, delta, A, B,
/// C, D?, z?, deltaBias?, h0?, lengths?, deltaSoftplus (bool), deterministic (bool). Outputs: out, h_last.
/// Saves the contiguous inputs and the state checkpoints (Bt, Dm, K, N); the backward recomputes the rest.</summary>
internal sealed class SelectiveScanFunction : torch.autograd.MultiTensorFunction<SelectiveScanFunction>
{
    private const int ArgumentCount = 12;

    public override string Name => "HybridSeqSelectiveScan";

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var x = new ScanTensors(
            (Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (Tensor)vars[4],
            vars[5] as Tensor, vars[6] as Tensor, vars[7] as Tensor, vars[8] as Tensor, vars[9] as Tensor,
            (bool)vars[10]).Contiguous();
        bool deterministic = (bool)vars[11];
        (Tensor output, Tensor lastState, Tensor? checkpoints) = RunForward(x, withCheckpoints: true);

        ctx.save_for_backward([x.U, x.Delta, x.A, x.B, x.C, x.D!, x.Z!, x.DeltaBias!, x.H0!, x.Lengths!, checkpoints!]);
        ctx.save_data("deltaSoftplus", x.DeltaSoftplus);
        ctx.save_data("deterministic", deterministic);
        return [output, lastState];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        var x = new ScanTensors(saved[0], saved[1], saved[2], saved[3], saved[4], saved[5], saved[6], saved[7],
            saved[8], saved[9], (bool)ctx.get_data("deltaSoftplus"));
        Tensor checkpoints = saved[10];
        bool deterministic = (bool)ctx.get_data("deterministic");

        // Undefined output gradients arrive as zeros (the context materialises them).
        Tensor dOutput = gradOutputs[0].contiguous();
        Tensor dLastState = gradOutputs[1].contiguous();
        var grads = new ScanGradients(
            torch.empty_like(x.U), torch.empty_like(x.Delta), torch.empty_like(x.A), torch.empty_like(x.B),
            torch.empty_like(x.C), EmptyLikeOrNull(x.D), EmptyLikeOrNull(x.Z), EmptyLikeOrNull(x.DeltaBias),
            EmptyLikeOrNull(x.H0));
        SelectiveScanNative.Backward(x, checkpoints, dOutput, dLastState, grads, deterministic);

        var result = new List<Tensor>(ArgumentCount)
        {
            grads.DU, grads.DDelta, grads.DA, grads.DB, grads.DC, grads.DD!, grads.DZ!, grads.DDeltaBias!,
            grads.DH0!, null!, null!, null!,
        };
        return result;
    }

    /// <summary>The native forward on contiguous inputs: output (Bt, Dm, L), last state (Bt, Dm, N) and, when asked,
    /// the state checkpoints (Bt, Dm, K, N) the backward recomputes from.</summary>
    internal static (Tensor Output, Tensor LastState, Tensor? Checkpoints) RunForward(ScanTensors x, bool withCheckpoints)
    {
        Tensor output = torch.empty(x.U.shape, dtype: x.U.dtype, device: x.U.device);
        Tensor lastState = torch.empty([x.Batch, x.Dim, x.State], dtype: x.U.dtype, device: x.U.device);
        Tensor? checkpoints = withCheckpoints
            ? torch.empty([x.Batch, x.Dim, SelectiveScanNative.NumChunks(x.U.shape[2]), x.State], dtype: x.U.dtype,
                device: x.U.device)
            : null;
        SelectiveScanNative.Forward(x, output, lastState, checkpoints);
        return (output, lastState, checkpoints);
    }

    private static Tensor? EmptyLikeOrNull(Tensor? t) => t is null ? null : torch.empty_like(t);
}
