using HybridSeq.Managed;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Layers;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Recurrent;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models;

/// <summary>
/// A sequence backbone: a causal sequence-to-sequence map hidden (Bt, L, InputWidth) -> (Bt, L, OutputWidth) that the
/// one "backbone + head" wiring (<see cref="SequenceModel"/>) and the convolutional language models put between their
/// input (embedding or projection) and their head. Built from a <see cref="BackboneConfig"/> by
/// <see cref="SequenceBackbones.Create"/>.
/// </summary>
public abstract class SequenceBackbone : nn.Module<Tensor, Tensor>
{
    protected SequenceBackbone(string name) : base(name)
    {
    }

    /// <summary>Features per step the backbone reads.</summary>
    public abstract int InputWidth { get; }

    /// <summary>Features per step the backbone returns.</summary>
    public abstract int OutputWidth { get; }

    /// <summary>Whether the parameter of this (backbone-relative) name gets weight decay.</summary>
    public abstract bool IsDecayed(string parameterName);
}

/// <summary>
/// A backbone that streams: from <see cref="InitialState"/>, feeding a sequence through <see cref="Step"/> one step or
/// a chunk of any size at a time gives the full forward's outputs at every position (tested for every streaming
/// backbone, batch &gt; 1). States follow the step contract's rule: never changed after they are created.
/// </summary>
public abstract class StreamingBackbone : SequenceBackbone
{
    protected StreamingBackbone(string name) : base(name)
    {
    }

    /// <summary>The state before the first step for <paramref name="batch"/> sequences, on the parameters' device and
    /// in their dtype (what the full forward starts from).</summary>
    public abstract BackboneState InitialState(long batch);

    /// <summary>x (Bt, T, InputWidth), T &gt;= 1 -> (Bt, T, OutputWidth) and the state after these T steps;
    /// <paramref name="state"/> (Bt rows, from this backbone) is not changed. Runs without autograd.</summary>
    public abstract (Tensor Y, BackboneState Next) Step(Tensor x, BackboneState state);

    /// <summary>Checks a Prefill's input (Bt, L, InputWidth) and lengths ((Bt) int64 in [0, L]).</summary>
    protected void CheckPrefill(Tensor x, Tensor lengths)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 3 || x.shape[1] < 1 || x.shape[2] != InputWidth)
            throw new ArgumentException(
                $"x: expected (Bt, L, {InputWidth}) with L >= 1, got ({string.Join(", ", x.shape)}).", nameof(x));
        if (lengths is null || lengths.dtype != ScalarType.Int64 || lengths.dim() != 1 || lengths.shape[0] != x.shape[0])
            throw new ArgumentException(
                $"lengths: expected ({x.shape[0]}) int64 valid lengths, got {(lengths is null ? "null" : $"({string.Join(", ", lengths.shape)}) {lengths.dtype}")}.",
                nameof(lengths));
        long min = lengths.min().item<long>(), max = lengths.max().item<long>();
        if (min < 0 || max > x.shape[1])
            throw new ArgumentException($"lengths: expected values in [0, {x.shape[1]}], got [{min}, {max}].", nameof(lengths));
    }

    /// <summary>Checks a Step's input and state: (Bt, T, InputWidth) with T &gt;= 1, a state of Bt rows on x's device
    /// holding <paramref name="tensors"/> tensors.</summary>
    protected void CheckStep(Tensor x, BackboneState state, int tensors)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 3 || x.shape[1] < 1 || x.shape[2] != InputWidth)
            throw new ArgumentException(
                $"x: expected (Bt, T, {InputWidth}) with T >= 1, got ({string.Join(", ", x.shape)}).", nameof(x));
        if (state is null)
            throw new ArgumentException("state: expected a state from InitialState or Step, got null.", nameof(state));
        if (state.Owner != this || state.Tensors.Count != tensors)
            throw new ArgumentException($"state: expected a state of this {GetType().Name}, got another backbone's.",
                nameof(state));
        if (state.BatchSize != x.shape[0])
            throw new ArgumentException($"state: expected {x.shape[0]} rows (x's batch), got {state.BatchSize}.", nameof(state));
        if (!DecodingChecks.SameDevice(state.Device, x.device))
            throw new ArgumentException($"state: expected a state on {x.device}, got one on {state.Device}.", nameof(state));
    }
}

/// <summary>
/// The streaming state of a <see cref="StreamingBackbone"/>: tensors whose first dimension is the batch (each
/// convolution's past inputs, attention keys and values, ...; the backbone fixes their order) and the number of steps
/// consumed so far. Immutable: Step and <see cref="Select"/> return new states; owns its tensors.
/// </summary>
public sealed class BackboneState : IDecodingState
{
    internal BackboneState(StreamingBackbone owner, IReadOnlyList<Tensor> tensors, long position, long batch)
    {
        Owner = owner;
        foreach (var tensor in tensors) tensor.DetachFromDisposeScope();
        Tensors = tensors;
        Position = position;
        BatchSize = batch;
        Device = tensors.Count > 0 ? tensors[0].device : new Device(DeviceType.CPU);
    }

    internal StreamingBackbone Owner { get; }

    /// <summary>The state tensors, (Bt, ...) each, in the backbone's order.</summary>
    public IReadOnlyList<Tensor> Tensors { get; }

    /// <summary>Steps consumed since the initial state.</summary>
    public long Position { get; }

    public long BatchSize { get; }

    public Device Device { get; }

    /// <summary>A state owning copies of these tensors (for a step that advances them in place).</summary>
    internal Tensor[] CloneTensors() => Tensors.Select(t => t.clone()).ToArray();

    public IDecodingState Select(Tensor rows) => SelectRows(rows);

    /// <summary>A new state whose row i is row rows[i] of this one (see <see cref="IDecodingState.Select"/>).</summary>
    public BackboneState SelectRows(Tensor rows)
    {
        var indices = DecodingChecks.Rows(rows, BatchSize, Device);
        return new BackboneState(Owner, Tensors.Select(t => t.index_select(0, indices)).ToArray(), Position, indices.shape[0]);
    }

    public void Dispose()
    {
        foreach (var tensor in Tensors) tensor.Dispose();
    }
}

/// <summary>The recurrent families (lstm, gru, slstm) as a backbone: the stacked fused RNN, width d in and out.</summary>
public sealed class RecurrentBackbone : SequenceBackbone
{
    private readonly FusedRecurrentNetwork rnn;
    private readonly int width;

    public RecurrentBackbone(string name, RnnCell cell, int width, int layers, int heads) : base(name)
    {
        this.width = width;
        rnn = cell switch
        {
            RnnCell.Lstm => new FusedLSTM(width, width, layers, heads, batchFirst: true, name: "rnn"),
            RnnCell.Gru => new FusedGRU(width, width, layers, heads, batchFirst: true, name: "rnn"),
            _ => new SLSTM(width, width, layers, heads, batchFirst: true, name: "rnn"),
        };
        RegisterComponents();
    }

    public override int InputWidth => width;
    public override int OutputWidth => width;

    public override Tensor forward(Tensor hidden) => rnn.forward(hidden, null, null).Item1;

    public override bool IsDecayed(string parameterName) => parameterName.StartsWith("rnn.weight_", StringComparison.Ordinal);
}

/// <summary>Mamba as a backbone: pre-norm residual Mamba-1 blocks and a final RMSNorm, width d in and out.</summary>
public sealed class MambaBackbone : SequenceBackbone
{
    private readonly ModuleList<MambaResidualLayer> layers;
    private readonly RMSNorm norm_f;
    private readonly int width;

    public MambaBackbone(string name, int width, int layers, int stateDimension) : base(name)
    {
        this.width = width;
        var config = new MambaConfig(VocabularySize: 1, ModelDimension: width, Layers: layers, StateDimension: stateDimension);
        this.layers = nn.ModuleList(Enumerable.Range(0, layers).Select(i => new MambaResidualLayer($"layer{i}", config)).ToArray());
        norm_f = new RMSNorm("norm_f", width);
        RegisterComponents();
    }

    public override int InputWidth => width;
    public override int OutputWidth => width;

    public override Tensor forward(Tensor hidden)
    {
        foreach (var layer in layers) hidden = layer.forward(hidden);
        return norm_f.forward(hidden);
    }

    public override bool IsDecayed(string parameterName) =>
        parameterName.EndsWith("weight", StringComparison.Ordinal) && !parameterName.Contains("norm", StringComparison.Ordinal);
}

/// <summary>The state-space families (s4d, s4, lssl) as a backbone: the residual <see cref="StateSpace.StateSpaceStack"/>
/// of the language models (norm, SSM layer in convolution mode, activation, output linear), width d in and out, causal
/// (so padding at the end never reaches a sequence's own steps).</summary>
public sealed class StateSpaceBackbone : SequenceBackbone
{
    private readonly StateSpace.StateSpaceStack ssm;
    private readonly int width;

    public StateSpaceBackbone(string name, StateSpace.StateSpaceConfig config) : base(name)
    {
        ArgumentNullException.ThrowIfNull(config);
        width = config.ModelDimension;
        ssm = new StateSpace.StateSpaceStack("ssm", config);
        RegisterComponents();
    }

    public override int InputWidth => width;
    public override int OutputWidth => width;

    public override Tensor forward(Tensor hidden) => ssm.forward(hidden);

    /// <remarks>As the state-space language models: the output linear maps decayed, the SSM parameters not.</remarks>
    public override bool IsDecayed(string parameterName) =>
        parameterName.EndsWith("output_linear.weight", StringComparison.Ordinal);
}

