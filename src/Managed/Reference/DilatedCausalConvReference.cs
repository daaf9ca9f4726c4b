using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed.Reference;

/// <summary>The dense dilated causal convolution composed from plain TorchSharp ops (cat of the state in front of the
/// input, then libtorch's conv1d): obviously correct, differentiable by TorchSharp's own autograd in every input, and
/// the baseline of the tests and the benchmarks, never the production path. Arguments are not validated beyond what
/// libtorch checks.</summary>
public static class DilatedCausalConvReference
{
    /// <summary>Same arguments, shapes and results as <see cref="DilatedCausalConv.Forward"/>: x (Bt, C_in, L),
    /// weight (C_out, C_in, K), bias (C_out), initialState (Bt, C_in, (K-1)*dilation), lengths (Bt) int64.
    /// Returns Y (Bt, C_out, L) and FinalState (Bt, C_in, (K-1)*dilation).</summary>
    public static (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor weight, Tensor? bias = null,
        long dilation = 1, Tensor? initialState = null, Tensor? lengths = null)
    {
        long batch = x.shape[0], channels = x.shape[1], length = x.shape[2];
        long stateLength = (weight.shape[2] - 1) * dilation;
        Tensor? valid = null;
        if (lengths is not null)
        {
            // (Bt, 1, L): true where t < lengths[b]. Inputs past the length are replaced by zeros (where, not a
            // product, so that they get an exact zero gradient even when they hold NaN).
            valid = (torch.arange(length, device: x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(-1))
                .unsqueeze(1);
            x = torch.where(valid, x, torch.zeros_like(x));
        }
        Tensor state = initialState ?? torch.zeros([batch, channels, stateLength], dtype: x.dtype, device: x.device);
        // Position t of x sits at stateLength + t of the padded sequence; output t reads positions
        // stateLength + t - (K-1-k)*dilation for tap k, which is exactly an unpadded dilated conv1d.
        Tensor padded = torch.cat([state, x], 2);
        Tensor y = torch.nn.functional.conv1d(padded, weight, bias, dilation: dilation);
        if (valid is not null)
            y = torch.where(valid, y, torch.zeros_like(y));

        // The state after the last valid input: padded positions [len, len + stateLength).
        Tensor ends = lengths is null
            ? torch.full([batch], length, dtype: ScalarType.Int64, device: x.device)
            : lengths.to(x.device).to(ScalarType.Int64);
        Tensor index = (ends.unsqueeze(-1) + torch.arange(stateLength, device: x.device).unsqueeze(0))
            .unsqueeze(1).expand(batch, channels, stateLength);
        Tensor finalState = padded.gather(2, index);
        return (y, finalState);
    }

    /// <summary>Same as <see cref="DilatedCausalConv.Step"/>: <paramref name="state"/> (Bt, C_in, (K-1)*dilation)
    /// advanced in place by x (Bt, C_in, T); returns y (Bt, C_out, T). Not differentiable (it overwrites the
    /// state).</summary>
    public static Tensor Step(Tensor state, Tensor x, Tensor weight, Tensor? bias = null, long dilation = 1)
    {
        using var noGrad = torch.no_grad();
        long stateLength = state.shape[2];
        Tensor padded = torch.cat([state, x], 2);
        Tensor y = torch.nn.functional.conv1d(padded, weight, bias, dilation: dilation);
        state.copy_(padded.narrow(2, x.shape[2], stateLength));
        return y;
    }
}
