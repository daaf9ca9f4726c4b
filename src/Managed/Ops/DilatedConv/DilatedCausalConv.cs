using HybridSeq.Managed.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The dense dilated causal convolution of TCN and WaveNet: per batch b, output channel o and time t,
/// <c>y[b,o,t] = bias[o] + sum_{i,k} weight[o,i,k] * x'[b,i,t - (K-1-k)*dilation]</c>, where x' is x with the
/// (K-1)*dilation inputs of the initial state (oldest first; zeros when absent) in front of t = 0. With lengths,
/// y = 0 at t &gt;= lengths[b], inputs there get zero gradient, and the final state holds the (K-1)*dilation inputs
/// just before position lengths[b]. See native/include/hybridseq.h ("Dilated causal convolution").</summary>
public static class DilatedCausalConv
{
    /// <summary>The full convolution, differentiable in x, weight, bias and initialState.</summary>
    /// <param name="x">(Bt, C_in, L) input.</param>
    /// <param name="weight">(C_out, C_in, K), K &gt;= 1: the nn.Conv1d layout; tap K-1 reads the current input.</param>
    /// <param name="bias">optional (C_out).</param>
    /// <param name="dilation">&gt;= 1: the spacing of the taps.</param>
    /// <param name="initialState">optional (Bt, C_in, (K-1)*dilation): the inputs before t = 0, oldest first.</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths (right padding), 0 &lt;= lengths[b] &lt;= L.</param>
    /// <returns>Y (Bt, C_out, L) and FinalState (Bt, C_in, (K-1)*dilation), new tensors on x's device and dtype.
    /// </returns>
    public static (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor weight, Tensor? bias = null,
        long dilation = 1, Tensor? initialState = null, Tensor? lengths = null)
    {
        Check(x, weight, bias, dilation, initialState, lengths, state: null);
        return DilatedCausalConvReference.Forward(x, weight, bias, dilation, initialState, lengths);
    }

    /// <summary>T &gt;= 1 new tokens of the convolution for streaming inference, equal to the matching columns of
    /// <see cref="Forward"/>. Inference only: it always runs without autograd, because it overwrites
    /// <paramref name="state"/> in place.</summary>
    /// <param name="state">(Bt, C_in, (K-1)*dilation): the last inputs, oldest first; advanced in place by T.</param>
    /// <param name="x">(Bt, C_in, T) the new inputs.</param>
    /// <param name="weight">(C_out, C_in, K).</param>
    /// <param name="bias">optional (C_out).</param>
    /// <param name="dilation">&gt;= 1.</param>
    /// <returns>y (Bt, C_out, T), a new tensor.</returns>
    public static Tensor Step(Tensor state, Tensor x, Tensor weight, Tensor? bias = null, long dilation = 1)
    {
        ArgumentNullException.ThrowIfNull(state);
        Check(x, weight, bias, dilation, null, null, state);
        return Autograd.StepInPlace(state, work => DilatedCausalConvReference.Step(work, x, weight, bias, dilation));
    }

    // Interim managed checks while the op runs on the composed reference.
    private static void Check(Tensor x, Tensor weight, Tensor? bias, long dilation, Tensor? initialState,
        Tensor? lengths, Tensor? state)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        if (x.dim() != 3)
            throw new ArgumentException($"x: expected rank 3 (Bt, C_in, L), got shape {TensorView.ShapeText(x)}.",
                nameof(x));
        if (weight.dim() != 3 || weight.shape[1] != x.shape[1] || weight.shape[2] < 1)
            throw new ArgumentException(
                $"weight: expected shape (C_out, C_in, K) with C_in = {x.shape[1]} from x and K >= 1, got " +
                $"{TensorView.ShapeText(weight)}.", nameof(weight));
        if (dilation < 1)
            throw new ArgumentException($"dilation: expected >= 1, got {dilation}.", nameof(dilation));
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException(
                $"bias: expected shape ({weight.shape[0]}) (C_out from weight), got {TensorView.ShapeText(bias)}.",
                nameof(bias));
        long[] stateShape = [x.shape[0], x.shape[1], (weight.shape[2] - 1) * dilation];
        if (initialState is not null && !initialState.shape.SequenceEqual(stateShape))
            throw new ArgumentException(
                $"initialState: expected shape ({string.Join(", ", stateShape)}), got " +
                $"{TensorView.ShapeText(initialState)}.", nameof(initialState));
        if (state is not null && !state.shape.SequenceEqual(stateShape))
            throw new ArgumentException(
                $"state: expected shape ({string.Join(", ", stateShape)}), got {TensorView.ShapeText(state)}.",
                nameof(state));
        if (lengths is not null && (lengths.dtype != ScalarType.Int64 || lengths.dim() != 1 ||
                                    lengths.shape[0] != x.shape[0]))
            throw new ArgumentException(
                $"lengths: expected int64 shape ({x.shape[0]}), got {lengths.dtype} {TensorView.ShapeText(lengths)}.",
                nameof(lengths));
    }
}
