using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The dense dilated causal convolution of TCN and WaveNet: per batch b, output channel o and time t,
/// <c>y[b,o,t] = bias[o] + sum_{i,k} weight[o,i,k] * x'[b,i,t - (K-1-k)*dilation]</c>, where x' is x with the
/// (K-1)*dilation inputs of the initial state (oldest first; zeros when absent) in front of t = 0. With lengths,
/// y = 0 at t &gt;= lengths[b], inputs there get zero gradient, and the final state holds the (K-1)*dilation inputs
/// just before position lengths[b]. Native kernels: CPU float32/float64 (HybridSeq's GEMM micro-kernel) and CUDA
/// float32; see native/include/hybridseq.h ("Dilated causal convolution").</summary>
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
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        var arguments = new DilatedConvTensors(x, weight, bias, initialState, lengths, dilation);
        Native.Load();
        if (!Autograd.NeedsGraph(x, weight, bias, initialState))
        {
            using var noGrad = torch.no_grad();
            return DilatedCausalConvFunction.RunForward(arguments.Contiguous());
        }
        return DilatedCausalConvFunction.Apply(arguments);
    }

    /// <summary>T &gt;= 1 new tokens of the convolution for streaming inference, equal to the matching columns of
    /// <see cref="Forward"/>. Inference only: it always runs without autograd (the result never requires grad),
    /// because it overwrites <paramref name="state"/> in place.</summary>
    /// <param name="state">(Bt, C_in, (K-1)*dilation): the last inputs, oldest first; advanced in place by T.</param>
    /// <param name="x">(Bt, C_in, T) the new inputs.</param>
    /// <param name="weight">(C_out, C_in, K).</param>
    /// <param name="bias">optional (C_out).</param>
    /// <param name="dilation">&gt;= 1.</param>
    /// <returns>y (Bt, C_out, T), a new tensor.</returns>
    public static Tensor Step(Tensor state, Tensor x, Tensor weight, Tensor? bias = null, long dilation = 1)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        var arguments = new DilatedConvTensors(x, weight, bias, null, null, dilation);
        Native.Load();
        return Autograd.StepInPlace(state, work =>
        {
            Tensor y = torch.empty([arguments.Batch, arguments.OutChannels, arguments.Length], dtype: x.dtype,
                device: x.device);
            DilatedConvNative.Step(arguments.Contiguous(), work, y);
            return y;
        });
    }
}
