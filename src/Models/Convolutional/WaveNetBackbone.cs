using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Convolutional;

/// <summary>One gated layer of <see cref="WaveNetBackbone"/>: z = tanh(f) * sigmoid(g) with [f; g] = a dilated causal
/// convolution of the residual stream (plus a 1x1 projection of the conditioning input, when there is one); the
/// residual stream gains a 1x1 convolution of z, the skip sum another.</summary>
public sealed class WaveNetLayer : nn.Module<Tensor, Tensor>
{
    private readonly DilatedConvolution dilated;
    private readonly Conv1d? condition;
    private readonly Conv1d residual;
    private readonly Conv1d skip;
    private readonly Dropout dropout;
    private readonly int channels;

    public WaveNetLayer(string name, int channels, int kernelSize, long dilation, int conditionChannels, double dropout)
        : base(name)
    {
        this.channels = channels;
        dilated = new DilatedConvolution("dilated", channels, 2 * channels, kernelSize, dilation, weightNorm: false);
        if (conditionChannels > 0) condition = nn.Conv1d(conditionChannels, 2 * channels, 1);
        residual = nn.Conv1d(channels, channels, 1);
        skip = nn.Conv1d(channels, channels, 1);
        this.dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    internal DilatedConvolution Dilated => dilated;

    public override Tensor forward(Tensor x) => Forward(x, null).Residual;

    /// <summary>x (Bt, C, L), cond (Bt, C_cond, L) or null -> the new residual stream and this layer's skip output.</summary>
    public (Tensor Residual, Tensor Skip) Forward(Tensor x, Tensor? cond) => Gate(x, dilated.forward(x), cond);

    internal (Tensor Residual, Tensor Skip) Step(Tensor state, Tensor x, Tensor? cond) => Gate(x, dilated.Step(state, x), cond);

    /// <summary>x (Bt, C, L) with valid lengths: the layer's outputs and its convolution's state after each row's
    /// last valid step.</summary>
    internal (Tensor Residual, Tensor Skip, Tensor State) Prefill(Tensor x, Tensor? cond, Tensor lengths)
    {
        var (filterGate, state) = dilated.Forward(x, lengths);
        var (residual, skip) = Gate(x, filterGate, cond);
        return (residual, skip, state);
    }

    private (Tensor Residual, Tensor Skip) Gate(Tensor x, Tensor filterGate, Tensor? cond)
    {
        if (condition is not null)
        {
            if (cond is null)
                throw new ArgumentException("condition: this WaveNet is conditioned; expected a conditioning input, got null.", "condition");
            filterGate = filterGate + condition.forward(cond);
        }
        var z = tanh(filterGate.narrow(1, 0, channels)) * sigmoid(filterGate.narrow(1, channels, channels));
        z = dropout.forward(z);
        return (x + residual.forward(z), skip.forward(z));
    }
}

/// <summary>
/// A WaveNet-style stack (van den Oord et al. 2016; the vocoder of the multispeaker-TTS paper is built this way):
/// gated layers (tanh x sigmoid) over dilated causal convolutions with dilations 1, 2, 4, ... restarting every
/// <c>cycle</c> layers, residual and skip 1x1 convolutions, an optional conditioning input (C_cond channels per step,
/// projected into every gate), and the output ReLU -> 1x1 -> ReLU -> 1x1 over the sum of the skips. Batch-first as a
/// backbone: (Bt, L, d) -> (Bt, L, d). Streams: the state holds every layer's convolution past.
/// </summary>
public sealed class WaveNetBackbone : StreamingBackbone
{
    private readonly ModuleList<WaveNetLayer> layers;
    private readonly Conv1d output1;
    private readonly Conv1d output2;
    private readonly int width;

    /// <param name="name">Module name.</param>
    /// <param name="width">d: residual, skip and output channels.</param>
    /// <param name="layers">Gated layers.</param>
    /// <param name="kernelSize">K of the dilated convolutions (WaveNet: 2).</param>
    /// <param name="cycle">Dilations 1 .. 2^(cycle-1), repeated; 0: 2^layer throughout.</param>
    /// <param name="dropout">Dropout on the gated activations (training only).</param>
    /// <param name="conditionChannels">C_cond: conditioning features per step (0: unconditioned).</param>
    public WaveNetBackbone(string name, int width, int layers, int kernelSize, int cycle, double dropout,
        int conditionChannels = 0) : base(name)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), layers, $"layers: expected at least 1, got {layers}.");
        if (conditionChannels < 0)
            throw new ArgumentOutOfRangeException(nameof(conditionChannels), conditionChannels, $"conditionChannels: expected 0 or more, got {conditionChannels}.");
        this.width = width;
        Cycle = cycle;
        ConditionChannels = conditionChannels;
        this.layers = nn.ModuleList(Enumerable.Range(0, layers).Select(i =>
            new WaveNetLayer($"layer{i}", width, kernelSize, Dilation(i, cycle), conditionChannels, dropout)).ToArray());
        output1 = nn.Conv1d(width, width, 1);
        output2 = nn.Conv1d(width, width, 1);
        RegisterComponents();
    }

    /// <summary>The dilation of layer <paramref name="layer"/>: 2^(layer mod cycle), or 2^layer for cycle 0.</summary>
    public static long Dilation(int layer, int cycle) => 1L << (cycle > 0 ? layer % cycle : layer);

    public int Cycle { get; }
    public int ConditionChannels { get; }
    public override int InputWidth => width;
    public override int OutputWidth => width;

    public override Tensor forward(Tensor hidden) => Forward(hidden, null);

    /// <summary>hidden (Bt, L, d), condition (Bt, L, C_cond) (null when unconditioned) -> (Bt, L, d).</summary>
    public Tensor Forward(Tensor hidden, Tensor? condition)
    {
        var cond = CheckCondition(condition, hidden);
        var x = hidden.transpose(1, 2);
        Tensor? skips = null;
        foreach (var layer in layers)
        {
            var (residual, skip) = layer.Forward(x, cond);
            x = residual;
            skips = skips is null ? skip : skips + skip;
        }
        return Output(skips!);
    }

    public override BackboneState InitialState(long batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected at least 1 sequence, got {batch}.");
        using var noGrad = no_grad();
        return new BackboneState(this, layers.Select(l => l.Dilated.InitialState(batch)).ToArray(), 0, batch);
    }

    public override (Tensor Y, BackboneState Next) Step(Tensor x, BackboneState state) => Step(x, state, null);

    /// <summary>Sequences of different lengths at once (right padding): x (Bt, L, d), lengths (Bt) int64 in [0, L],
    /// the conditioning (Bt, L, C_cond) or null -> the outputs (valid before each row's length) and each row's state
    /// after its own last valid step.</summary>
    public (Tensor Y, BackboneState State) Prefill(Tensor x, Tensor lengths, Tensor? condition = null)
    {
        CheckPrefill(x, lengths);
        var cond = CheckCondition(condition, x);
        using var noGrad = no_grad();
        var h = x.transpose(1, 2);
        Tensor? skips = null;
        var tensors = new List<Tensor>();
        foreach (var layer in layers)
        {
            var (residual, skip, state) = layer.Prefill(h, cond, lengths);
            tensors.Add(state);
            h = residual;
            skips = skips is null ? skip : skips + skip;
        }
        return (Output(skips!), new BackboneState(this, tensors, 0, x.shape[0]));
    }

    /// <summary>A chunk x (Bt, T, d) with its conditioning (Bt, T, C_cond) (null when unconditioned).</summary>
    public (Tensor Y, BackboneState Next) Step(Tensor x, BackboneState state, Tensor? condition)
    {
        CheckStep(x, state, layers.Count);
        var cond = CheckCondition(condition, x);
        using var noGrad = no_grad();
        var next = state.CloneTensors();
        var h = x.transpose(1, 2);
        Tensor? skips = null;
        int i = 0;
        foreach (var layer in layers)
        {
            var (residual, skip) = layer.Step(next[i++], h, cond);
            h = residual;
            skips = skips is null ? skip : skips + skip;
        }
        return (Output(skips!), new BackboneState(this, next, state.Position + x.shape[1], state.BatchSize));
    }

    private Tensor Output(Tensor skips) =>
        output2.forward(nn.functional.relu(output1.forward(nn.functional.relu(skips)))).transpose(1, 2);

    /// <summary>The conditioning input channel-first, after checking it matches the steps it conditions.</summary>
    private Tensor? CheckCondition(Tensor? condition, Tensor hidden)
    {
        if (ConditionChannels == 0)
        {
            if (condition is not null)
                throw new ArgumentException("condition: this WaveNet is unconditioned; expected null, got a tensor.", nameof(condition));
            return null;
        }
        if (condition is null)
            throw new ArgumentException($"condition: expected (Bt, L, {ConditionChannels}) conditioning features, got null.", nameof(condition));
        if (condition.dim() != 3 || condition.shape[0] != hidden.shape[0] || condition.shape[1] != hidden.shape[1]
            || condition.shape[2] != ConditionChannels)
            throw new ArgumentException(
                $"condition: expected ({hidden.shape[0]}, {hidden.shape[1]}, {ConditionChannels}), got ({string.Join(", ", condition.shape)}).",
                nameof(condition));
        return condition.transpose(1, 2);
    }

    public override bool IsDecayed(string parameterName) => parameterName.EndsWith("weight_v", StringComparison.Ordinal)
        || parameterName.EndsWith(".weight", StringComparison.Ordinal);
}
