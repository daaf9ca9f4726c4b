using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Convolutional;

/// <summary>
/// The dense dilated causal convolution the convolutional models call, in one place: the full forward (x (Bt, C_in, L),
/// weight (C_out, C_in, K), optional bias, dilation, optional initial state) -> (y (Bt, C_out, L), final state
/// (Bt, C_in, (K-1) * dilation)) and the streaming step that advances a state in place, both on HybridSeq's native
/// op (<see cref="DilatedCausalConv"/>: CPU float32/float64, CUDA float32, with gradients of x, weight, bias and the
/// initial state).
/// </summary>
internal static class CausalConvolution
{
    /// <summary>(K - 1) * dilation: the past inputs a causal convolution of width K and this dilation reads.</summary>
    public static long StateLength(long kernelSize, long dilation) => (kernelSize - 1) * dilation;

    /// <summary>y[b, o, t] = bias[o] + sum_{c, k} weight[o, c, k] * x[b, c, t - (K - 1 - k) * dilation], with the
    /// inputs before t = 0 taken from <paramref name="initialState"/> (zeros when null).</summary>
    public static (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor weight, Tensor? bias, long dilation,
        Tensor? initialState = null, Tensor? lengths = null) =>
        DilatedCausalConv.Forward(x, weight, bias, dilation, initialState, lengths);

    /// <summary>One step or a chunk: x (Bt, C_in, T) -> y (Bt, C_out, T) continuing from <paramref name="state"/>
    /// (Bt, C_in, (K-1) * dilation), which is advanced in place to the state after these T inputs.</summary>
    public static Tensor Step(Tensor state, Tensor x, Tensor weight, Tensor? bias, long dilation) =>
        DilatedCausalConv.Step(state, x, weight, bias, dilation);
}
