using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Convolutional;

/// <summary>
/// A dilated causal convolution whose weight is optionally weight-normalised (Salimans and Kingma 2016): w = g v / ||v||
/// per output channel, v (C_out, C_in, K) and g (C_out) the parameters; the op under it sees the plain weight w.
/// Input and output channel-first: x (Bt, C_in, L) -> (Bt, C_out, L). Its streaming state is the op's: the last
/// (K - 1) * dilation inputs, (Bt, C_in, (K - 1) * dilation).
/// </summary>
public sealed class DilatedConvolution : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight_v;
    private readonly Parameter? weight_g;
    private readonly Parameter bias;

    public DilatedConvolution(string name, int inChannels, int outChannels, int kernelSize, long dilation, bool weightNorm)
        : base(name)
    {
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, $"inChannels: expected at least 1, got {inChannels}.");
        if (outChannels < 1) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, $"outChannels: expected at least 1, got {outChannels}.");
        if (kernelSize < 1) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, $"kernelSize: expected at least 1, got {kernelSize}.");
        if (dilation < 1) throw new ArgumentOutOfRangeException(nameof(dilation), dilation, $"dilation: expected at least 1, got {dilation}.");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Dilation = dilation;
        // PyTorch's Conv1d initialisation: uniform in +-1/sqrt(fan_in) for the weight and the bias.
        double bound = 1.0 / Math.Sqrt(inChannels * kernelSize);
        weight_v = nn.Parameter(empty(outChannels, inChannels, kernelSize).uniform_(-bound, bound));
        // g = ||v|| at the start, so w = v until training moves them apart.
        if (weightNorm) weight_g = nn.Parameter(weight_v.detach().flatten(1).norm(1).clone());
        bias = nn.Parameter(empty(outChannels).uniform_(-bound, bound));
        RegisterComponents();
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public long Dilation { get; }

    /// <summary>(K - 1) * dilation: the past inputs the state holds.</summary>
    public long StateLength => CausalConvolution.StateLength(KernelSize, Dilation);

    /// <summary>The weight the op sees: g v / ||v|| (weight norm) or v, (C_out, C_in, K).</summary>
    public Tensor Weight()
    {
        if (weight_g is null) return weight_v;
        var norm = weight_v.flatten(1).norm(1).clamp_min(1e-12);
        return weight_v * (weight_g / norm).reshape(-1, 1, 1);
    }

    /// <summary>The zero state (what forward starts from), (Bt, C_in, StateLength).</summary>
    public Tensor InitialState(long batch) => zeros([batch, InChannels, StateLength], weight_v.dtype, weight_v.device);

    public override Tensor forward(Tensor x) => CausalConvolution.Forward(x, Weight(), bias, Dilation).Y;

    /// <summary>x (Bt, C_in, L) of per-row valid lengths (Bt) int64 -> (y, the state after each row's last valid
    /// input); y is zero at and after each row's length.</summary>
    public (Tensor Y, Tensor FinalState) Forward(Tensor x, Tensor lengths) =>
        CausalConvolution.Forward(x, Weight(), bias, Dilation, lengths: lengths);

    /// <summary>x (Bt, C_in, T) -> (Bt, C_out, T); advances <paramref name="state"/> in place.</summary>
    public Tensor Step(Tensor state, Tensor x) => CausalConvolution.Step(state, x, Weight(), bias, Dilation);
}

/// <summary>
/// One temporal block of Bai, Kolter and Koltun's TCN: two weight-normalised dilated causal convolutions of the same
/// dilation, each followed by ReLU and dropout, and a residual connection (a 1x1 convolution where the widths differ),
/// then ReLU: out = ReLU(net(x) + res(x)). Channel-first: (Bt, C_in, L) -> (Bt, C_out, L).
/// </summary>
public sealed class TemporalBlock : nn.Module<Tensor, Tensor>
{
    private readonly DilatedConvolution conv1;
    private readonly DilatedConvolution conv2;
    private readonly Conv1d? downsample;
    private readonly Dropout dropout;

    public TemporalBlock(string name, int inChannels, int outChannels, int kernelSize, long dilation, double dropout)
        : base(name)
    {
        conv1 = new DilatedConvolution("conv1", inChannels, outChannels, kernelSize, dilation, weightNorm: true);
        conv2 = new DilatedConvolution("conv2", outChannels, outChannels, kernelSize, dilation, weightNorm: true);
        if (inChannels != outChannels) downsample = nn.Conv1d(inChannels, outChannels, 1);
        this.dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    /// <summary>Whether the residual is a 1x1 convolution (the widths differ) rather than the identity.</summary>
    public bool HasDownsample => downsample is not null;

    internal DilatedConvolution First => conv1;
    internal DilatedConvolution Second => conv2;

    public override Tensor forward(Tensor x)
    {
        var h = dropout.forward(nn.functional.relu(conv1.forward(x)));
        h = dropout.forward(nn.functional.relu(conv2.forward(h)));
        return nn.functional.relu(h + (downsample?.forward(x) ?? x));
    }

    /// <summary>x (Bt, C_in, L) with valid lengths: the output (right of each length: not meaningful) and both
    /// convolutions' states after each row's last valid step.</summary>
    internal (Tensor Y, Tensor State1, Tensor State2) Prefill(Tensor x, Tensor lengths)
    {
        var (h, state1) = conv1.Forward(x, lengths);
        var (h2, state2) = conv2.Forward(nn.functional.relu(h), lengths);
        return (nn.functional.relu(nn.functional.relu(h2) + (downsample?.forward(x) ?? x)), state1, state2);
    }

    /// <summary>A chunk x (Bt, C_in, T) with the two convolutions' states (advanced in place).</summary>
    internal Tensor Step(Tensor x, Tensor state1, Tensor state2)
    {
        var h = nn.functional.relu(conv1.Step(state1, x));
        h = nn.functional.relu(conv2.Step(state2, h));
        return nn.functional.relu(h + (downsample?.forward(x) ?? x));
    }
}

/// <summary>
/// The TCN of Bai, Kolter and Koltun (2018): levels of <see cref="TemporalBlock"/>s, the dilation doubling per level
/// (1, 2, 4, ...), so the receptive field is 1 + 2 (K - 1) (2^levels - 1). Batch-first as a backbone:
/// (Bt, L, InputWidth) -> (Bt, L, channels of the last level). Streams: its state holds both convolutions' past
/// inputs of every level.
/// </summary>
public sealed class TemporalConvNet : StreamingBackbone
{
    private readonly ModuleList<TemporalBlock> blocks;
    private readonly int inputWidth;
    private readonly int[] channels;

    /// <param name="name">Module name.</param>
    /// <param name="inputWidth">Features per input step.</param>
    /// <param name="channels">Output channels of each level (the paper's num_channels).</param>
    /// <param name="kernelSize">K of every convolution.</param>
    /// <param name="dropout">Dropout after each convolution (training only).</param>
    public TemporalConvNet(string name, int inputWidth, IReadOnlyList<int> channels, int kernelSize, double dropout)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(channels);
        if (channels.Count == 0)
            throw new ArgumentException("channels: expected at least one level, got none.", nameof(channels));
        if (channels.Count > 30)
            throw new ArgumentOutOfRangeException(nameof(channels), channels.Count, $"channels: expected at most 30 levels (dilation 2^level), got {channels.Count}.");
        this.inputWidth = inputWidth;
        this.channels = channels.ToArray();
        blocks = nn.ModuleList(Enumerable.Range(0, channels.Count).Select(i =>
            new TemporalBlock($"block{i}", i == 0 ? inputWidth : channels[i - 1], channels[i], kernelSize, 1L << i, dropout)).ToArray());
        KernelSize = kernelSize;
        RegisterComponents();
    }

    public override int InputWidth => inputWidth;
    public override int OutputWidth => channels[^1];
    public int KernelSize { get; }
    public int Levels => channels.Length;

    /// <summary>1 + 2 (K - 1) (2^levels - 1).</summary>
    public long ReceptiveField => 1 + 2L * (KernelSize - 1) * ((1L << Levels) - 1);

    /// <summary>The temporal blocks, level 0 first.</summary>
    public IReadOnlyList<TemporalBlock> Blocks => blocks.ToList();

    public override Tensor forward(Tensor hidden)
    {
        var x = hidden.transpose(1, 2);
        foreach (var block in blocks) x = block.forward(x);
        return x.transpose(1, 2);
    }

    /// <summary>Per level: conv1's and conv2's past inputs, (Bt, C, (K - 1) 2^level) each.</summary>
    public override BackboneState InitialState(long batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected at least 1 sequence, got {batch}.");
        using var noGrad = no_grad();
        var tensors = blocks.SelectMany(b => new[] { b.First.InitialState(batch), b.Second.InitialState(batch) }).ToArray();
        return new BackboneState(this, tensors, 0, batch);
    }

    /// <summary>Sequences of different lengths at once (right padding): x (Bt, L, InputWidth), lengths (Bt) int64 in
    /// [0, L] -> the outputs (valid before each row's length) and the state of each row after its own last valid
    /// step, from which <see cref="Step"/> continues every row as if it had been fed alone.</summary>
    public (Tensor Y, BackboneState State) Prefill(Tensor x, Tensor lengths)
    {
        CheckPrefill(x, lengths);
        using var noGrad = no_grad();
        var h = x.transpose(1, 2);
        var tensors = new List<Tensor>();
        foreach (var block in blocks)
        {
            var (y, state1, state2) = block.Prefill(h, lengths);
            tensors.Add(state1);
            tensors.Add(state2);
            h = y;
        }
        return (h.transpose(1, 2), new BackboneState(this, tensors, 0, x.shape[0]));
    }

    public override (Tensor Y, BackboneState Next) Step(Tensor x, BackboneState state)
    {
        CheckStep(x, state, 2 * blocks.Count);
        using var noGrad = no_grad();
        var next = state.CloneTensors();
        var h = x.transpose(1, 2);
        int i = 0;
        foreach (var block in blocks)
        {
            h = block.Step(h, next[2 * i], next[2 * i + 1]);
            i++;
        }
        return (h.transpose(1, 2), new BackboneState(this, next, state.Position + x.shape[1], state.BatchSize));
    }

    public override bool IsDecayed(string parameterName) =>
        parameterName.EndsWith("weight_v", StringComparison.Ordinal) || parameterName.EndsWith("downsample.weight", StringComparison.Ordinal);
}
