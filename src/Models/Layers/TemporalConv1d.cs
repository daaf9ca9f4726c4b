using HybridSeq.Managed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Layers;

/// <summary>
/// A dense dilated causal convolution layer (TCN / WaveNet) on <see cref="DilatedCausalConv"/>: input
/// (Bt, C_in, L), output (Bt, C_out, L), output t sees inputs t, t - dilation, ..., t - (K-1)*dilation.
/// Parameters <c>weight</c> (C_out, C_in, K) and <c>bias</c> (C_out), initialised like nn.Conv1d
/// (uniform in +-1/sqrt(C_in*K)). Streaming: a state (Bt, C_in, <see cref="StateLength"/>) holds the last inputs,
/// oldest first; <see cref="Step"/> advances it in place by any number of tokens, giving the same outputs as the full
/// forward.
/// </summary>
public sealed class TemporalConv1d : nn.Module<Tensor, Tensor>
{
    // Field names are the parameter names in checkpoints.
    private readonly Parameter weight;
    private readonly Parameter? bias;

    /// <param name="name">Module name.</param>
    /// <param name="inChannels">C_in &gt;= 1.</param>
    /// <param name="outChannels">C_out &gt;= 1.</param>
    /// <param name="kernelSize">K &gt;= 1.</param>
    /// <param name="dilation">&gt;= 1.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    public TemporalConv1d(string name, long inChannels, long outChannels, long kernelSize, long dilation = 1,
        bool bias = true) : base(name)
    {
        Positive(inChannels, nameof(inChannels));
        Positive(outChannels, nameof(outChannels));
        Positive(kernelSize, nameof(kernelSize));
        Positive(dilation, nameof(dilation));
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Dilation = dilation;
        double bound = 1.0 / Math.Sqrt(inChannels * kernelSize);
        weight = nn.Parameter(torch.empty(outChannels, inChannels, kernelSize).uniform_(-bound, bound));
        this.bias = bias ? nn.Parameter(torch.empty(outChannels).uniform_(-bound, bound)) : null;
        RegisterComponents();
    }

    public long InChannels { get; }
    public long OutChannels { get; }
    public long KernelSize { get; }
    public long Dilation { get; }

    /// <summary>(C_out, C_in, K).</summary>
    public Parameter Weight => weight;

    /// <summary>(C_out), or null for a layer without bias.</summary>
    public Parameter? Bias => bias;

    /// <summary>(K-1)*dilation: the inputs of the past the state holds.</summary>
    public long StateLength => (KernelSize - 1) * Dilation;

    /// <summary>x (Bt, C_in, L) -> y (Bt, C_out, L), zeros before t = 0.</summary>
    public override Tensor forward(Tensor x) => Forward(x).Y;

    /// <summary>The full convolution with an optional initial state (Bt, C_in, StateLength) and optional lengths
    /// (Bt) int64; returns Y (Bt, C_out, L) and the FinalState after each sequence's last valid input.</summary>
    public (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor? initialState = null, Tensor? lengths = null)
        => DilatedCausalConv.Forward(x, weight, bias, Dilation, initialState, lengths);

    /// <summary>Advances <paramref name="state"/> (Bt, C_in, StateLength) in place by x (Bt, C_in, T); returns y
    /// (Bt, C_out, T). Inference only (no autograd).</summary>
    public Tensor Step(Tensor state, Tensor x) => DilatedCausalConv.Step(state, x, weight, bias, Dilation);

    /// <summary>A zero state (Bt, C_in, StateLength) on the weight's device and dtype.</summary>
    public Tensor InitialState(long batch)
    {
        if (batch < 0)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "expected a batch size >= 0");
        return torch.zeros([batch, InChannels, StateLength], dtype: weight.dtype, device: weight.device);
    }

    private static void Positive(long value, string name)
    {
        if (value < 1)
            throw new ArgumentOutOfRangeException(name, value, $"{name}: expected >= 1");
    }
}
