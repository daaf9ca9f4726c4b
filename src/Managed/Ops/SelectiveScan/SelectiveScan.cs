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
        var arguments = Required(new ScanTensors(u, delta, A, B, C, D, z, deltaBias, h0, lengths, deltaSoftplus));
        Native.Load();
        if (!Autograd.NeedsGraph(u, delta, A, B, C, D, z, deltaBias, h0))
        {
            // Inference: no autograd node and no checkpoints for a backward that will never run.
            using var noGrad = torch.no_grad();
            (Tensor output, Tensor lastState, _) =
                SelectiveScanFunction.RunForward(arguments.Contiguous(), withCheckpoints: false);
            return (output, lastState);
        }
        return SelectiveScanFunction.Apply(arguments, deterministic);
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
        ArgumentNullException.ThrowIfNull(state);
        ScanTensors x = Required(new ScanTensors(u, delta, A, B, C, D, z, deltaBias, null, null, deltaSoftplus));
        Native.Load();
        return Autograd.StepInPlace(state, work =>
        {
            Tensor output = torch.empty([x.Batch, x.Dim], dtype: u.dtype, device: u.device);
            SelectiveScanNative.Step(x.Contiguous(), work, output);
            return output;
        });
    }

    // The native shim checks everything but null tensors of the required arguments, which sizing the outputs
    // already needs.
    private static ScanTensors Required(ScanTensors x)
    {
        ArgumentNullException.ThrowIfNull(x.U, "u");
        ArgumentNullException.ThrowIfNull(x.Delta, "delta");
        ArgumentNullException.ThrowIfNull(x.A, "A");
        ArgumentNullException.ThrowIfNull(x.B, "B");
        ArgumentNullException.ThrowIfNull(x.C, "C");
        return x;
    }
}
