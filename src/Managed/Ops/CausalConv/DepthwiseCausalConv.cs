using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The depthwise causal convolution with streaming state on the native kernels: CPU (float32, float64) and
/// CUDA (float32). Per batch b, channel d, time t, with S = (K-1)*dilation and xe = cat(initialState, x) along time
/// (the S inputs before t = 0, oldest first), y[b,d,t] = act(bias[d] + sum_k weight[d,k] * xe[b,d,t + k*dilation]),
/// act = SiLU when asked, else identity. See native/include/hybridseq.h.</summary>
public static class DepthwiseCausalConv
{
    /// <summary>The full convolution, differentiable in x, weight, bias and initialState.</summary>
    /// <param name="x">(Bt, D, L) input.</param>
    /// <param name="weight">(D, K) taps, K &gt;= 1; tap K-1 multiplies the newest input.</param>
    /// <param name="bias">optional (D).</param>
    /// <param name="dilation">&gt;= 1: the distance in time between taps.</param>
    /// <param name="silu">apply SiLU to the output (fused).</param>
    /// <param name="initialState">optional (Bt, D, (K-1)*dilation): the inputs before t = 0, oldest first (zeros
    /// when null).</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths (right padding), on the CPU or x's device: y is 0 at
    /// t &gt;= lengths[b] and inputs there get zero gradient.</param>
    /// <returns>Y (Bt, D, L) and FinalState (Bt, D, (K-1)*dilation): the last (K-1)*dilation inputs before position
    /// lengths[b] (reaching into the initial state when lengths[b] is short), new tensors.</returns>
    /// <exception cref="ArgumentException">a shape, dtype, device or value that does not fit (ParamName names the
    /// argument).</exception>
    public static (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor weight, Tensor? bias = null,
        long dilation = 1, bool silu = false, Tensor? initialState = null, Tensor? lengths = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        var arguments = new DepthwiseConvTensors(x, weight, bias, initialState, lengths, dilation, silu);
        Native.Load();
        if (!Autograd.NeedsGraph(x, weight, bias, initialState))
        {
            // Inference: no autograd node and nothing saved for a backward that will never run.
            using var noGrad = torch.no_grad();
            return DepthwiseCausalConvFunction.RunForward(arguments.Contiguous());
        }
        return DepthwiseCausalConvFunction.Apply(arguments);
    }

    /// <summary>Streaming: advances <paramref name="state"/> in place by T new tokens and returns their outputs,
    /// equal to the corresponding columns of <see cref="Forward"/>. Inference only: it always runs without autograd
    /// (the result never requires grad), because it overwrites the state.</summary>
    /// <param name="state">(Bt, D, (K-1)*dilation): the last inputs, oldest first; overwritten.</param>
    /// <param name="x">(Bt, D, T): T new inputs (T = 0 leaves the state as it is).</param>
    /// <param name="weight">(D, K), as for <see cref="Forward"/>.</param>
    /// <param name="bias">optional (D).</param>
    /// <param name="dilation">&gt;= 1, as for <see cref="Forward"/>.</param>
    /// <param name="silu">apply SiLU to the output.</param>
    /// <returns>y (Bt, D, T), a new tensor.</returns>
    public static Tensor Step(Tensor state, Tensor x, Tensor weight, Tensor? bias = null, long dilation = 1,
        bool silu = false)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        var arguments = new DepthwiseConvTensors(x, weight, bias, null, null, dilation, silu);
        Native.Load();
        return Autograd.StepInPlace(state, work =>
        {
            DepthwiseConvTensors contiguous = arguments.Contiguous();
            Tensor y = torch.empty(contiguous.X.shape, dtype: x.dtype, device: x.device);
            DepthwiseCausalConvNative.Step(contiguous, work, y);
            return y;
        });
    }
}
