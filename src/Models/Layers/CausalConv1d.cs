using HybridSeq.Managed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Layers;

/// <summary>
/// Depthwise causal convolution over time on <see cref="DepthwiseCausalConv"/>: input and output (Bt, D, L), output t
/// sees inputs t - (K-1)*dilation .. t (zeros, or the given state, before t = 0). Parameters weight (D, 1, K) (the
/// layout of nn.Conv1d with groups = D, so PyTorch checkpoints load as they are) and bias (D), initialised like
/// nn.Conv1d (uniform in +-1/sqrt(K)).
/// </summary>
public sealed class CausalConv1d : nn.Module<Tensor, Tensor>
{
    // Field names are the parameter names in checkpoints.
    private readonly Parameter weight;
    private readonly Parameter? bias;

    /// <param name="name">module name.</param>
    /// <param name="channels">D &gt;= 1.</param>
    /// <param name="kernelSize">K &gt;= 1.</param>
    /// <param name="dilation">&gt;= 1.</param>
    /// <param name="bias">whether the module has a bias.</param>
    /// <param name="silu">apply SiLU to the output (fused into the op).</param>
    public CausalConv1d(string name, long channels, long kernelSize, long dilation = 1, bool bias = true,
        bool silu = false) : base(name)
    {
        if (channels < 1)
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels: expected >= 1.");
        if (kernelSize < 1)
            throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "kernelSize: expected >= 1.");
        if (dilation < 1)
            throw new ArgumentOutOfRangeException(nameof(dilation), dilation, "dilation: expected >= 1.");
        Channels = channels;
        KernelSize = kernelSize;
        Dilation = dilation;
        Silu = silu;
        // nn.Conv1d's default initialisation (kaiming_uniform with a = sqrt(5) gives the same bound 1/sqrt(fan_in)).
        double bound = 1.0 / Math.Sqrt(kernelSize);
        this.weight = nn.Parameter(torch.empty([channels, 1, kernelSize]).uniform_(-bound, bound));
        this.bias = bias ? nn.Parameter(torch.empty([channels]).uniform_(-bound, bound)) : null;
        RegisterComponents();
    }

    public long Channels { get; }
    public long KernelSize { get; }
    public long Dilation { get; }
    public bool Silu { get; }

    /// <summary>(K-1)*dilation: the inputs the streaming state keeps.</summary>
    public long StateLength => (KernelSize - 1) * Dilation;

    /// <summary>The weight (D, 1, K).</summary>
    public Parameter Weight => weight;

    /// <summary>The bias (D), or null.</summary>
    public Parameter? Bias => bias;

    /// <summary>x (Bt, D, L) -> y (Bt, D, L), zeros before t = 0.</summary>
    public override Tensor forward(Tensor x) => Forward(x).Y;

    /// <summary>x (Bt, D, L), initialState (Bt, D, StateLength)? (zeros when null), lengths (Bt) int64? ->
    /// Y (Bt, D, L) and FinalState (Bt, D, StateLength); see <see cref="DepthwiseCausalConv.Forward"/>.</summary>
    public (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor? initialState = null, Tensor? lengths = null)
        => DepthwiseCausalConv.Forward(x, Taps(), bias, Dilation, Silu, initialState, lengths);

    /// <summary>Advances state (Bt, D, StateLength) in place by x (Bt, D, T); returns y (Bt, D, T). Inference only.
    /// </summary>
    public Tensor Step(Tensor state, Tensor x) => DepthwiseCausalConv.Step(state, x, Taps(), bias, Dilation, Silu);

    /// <summary>The zero state (Bt = batch, D, StateLength) in the weight's dtype and device: the state before the
    /// first token.</summary>
    public Tensor InitialState(long batch)
    {
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch: expected >= 1.");
        return torch.zeros([batch, Channels, StateLength], dtype: weight.dtype, device: weight.device);
    }

    // (D, 1, K) -> (D, K): a view, so gradients flow to the parameter.
    private Tensor Taps() => weight.squeeze(1);
}
