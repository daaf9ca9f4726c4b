using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed.Reference;

/// <summary>The depthwise causal convolution composed from plain TorchSharp ops: the initial state (or zeros)
/// concatenated in front of the input, then conv1d with groups = D, which is obviously correct and differentiable by
/// TorchSharp's own autograd. It is the baseline for the tests and the CPU benchmark, never the production path.</summary>
public static class DepthwiseCausalConvReference
{
    /// <summary>Same arguments, shapes and results as <see cref="DepthwiseCausalConv.Forward"/>: x (Bt, D, L),
    /// weight (D, K), bias (D)?, initialState (Bt, D, S)? with S = (K-1)*dilation, lengths (Bt) int64?.
    /// Returns Y (Bt, D, L) and FinalState (Bt, D, S).</summary>
    public static (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor weight, Tensor? bias = null,
        long dilation = 1, bool silu = false, Tensor? initialState = null, Tensor? lengths = null)
    {
        long batch = x.shape[0], channels = x.shape[1], length = x.shape[2], width = weight.shape[1];
        long stateLength = (width - 1) * dilation;
        Tensor? valid = null;
        if (lengths is not null)
        {
            // Inputs at t >= lengths[b] must not reach anything: masking them gives them zero gradient and keeps
            // them out of the final state; no valid output reads them anyway (the convolution is causal).
            valid = (torch.arange(length, device: x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(-1))
                .unsqueeze(1).to(x.dtype);                                   // (Bt, 1, L)
            x = x * valid;
        }
        Tensor front = initialState ?? torch.zeros([batch, channels, stateLength], dtype: x.dtype, device: x.device);
        Tensor extended = torch.cat([front, x], dim: 2);                     // (Bt, D, S + L)
        // conv1d refuses an input shorter than its kernel, which L = 0 is: no output then.
        Tensor y = length == 0
            ? torch.zeros([batch, channels, 0], dtype: x.dtype, device: x.device)
            : torch.nn.functional.conv1d(extended, weight.unsqueeze(1), bias, dilation: dilation,
                groups: channels);                                           // (Bt, D, L)
        if (silu)
            y = torch.nn.functional.silu(y);
        if (valid is not null)
            y = y * valid;

        // The final state: the S inputs before position lengths[b] (extended positions lengths[b] .. + S - 1).
        Tensor ends = lengths?.to(x.device) ?? torch.full([batch], length, dtype: ScalarType.Int64, device: x.device);
        Tensor index = (ends.unsqueeze(-1) + torch.arange(stateLength, device: x.device).unsqueeze(0))
            .unsqueeze(1).expand(batch, channels, stateLength);
        Tensor finalState = extended.gather(2, index);
        return (y, finalState);
    }

    /// <summary>Same as <see cref="DepthwiseCausalConv.Step"/>: state (Bt, D, S) advanced in place by x (Bt, D, T);
    /// returns y (Bt, D, T). Runs without autograd.</summary>
    public static Tensor Step(Tensor state, Tensor x, Tensor weight, Tensor? bias = null, long dilation = 1,
        bool silu = false)
    {
        using var noGrad = torch.no_grad();
        long stateLength = state.shape[2], steps = x.shape[2];
        Tensor extended = torch.cat([state, x], dim: 2);
        Tensor y = torch.nn.functional.conv1d(extended, weight.unsqueeze(1), bias, dilation: dilation,
            groups: x.shape[1]);
        if (silu)
            y = torch.nn.functional.silu(y);
        state.copy_(extended.narrow(2, steps, stateLength));
        return y;
    }
}
