using HybridSeq.Models.Decoding;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>
/// A language model of the S4 family (s4d, s4, lssl): embedding -> <see cref="StateSpaceStack"/> (convolution mode)
/// -> LM head tied to the embedding. Step mode discretises every layer once per decoding session
/// (<see cref="InitialState"/>): the states share those step systems and carry one SSM state per layer.
/// </summary>
public sealed class StateSpaceLanguageModel : LanguageModel
{
    private readonly Embedding embedding;
    private readonly StateSpaceStack backbone;

    private readonly StateSpaceConfig config;

    /// <summary>The config this model was built from (a StateSpaceConfig).</summary>
    // Not a covariant override: TorchSharp's Module.to() reflects over the members by name.
    public override IModelConfig Config => config;

    /// <summary>Builds the model, drawing the initial weights from torch's global generator (seed it first).</summary>
    public StateSpaceLanguageModel(StateSpaceConfig config) : base(nameof(StateSpaceLanguageModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        embedding = nn.Embedding(config.VocabularySize, config.ModelDimension);
        backbone = new StateSpaceStack("backbone", config);
        using (no_grad())
            nn.init.normal_(embedding.weight!, 0.0, 0.02);
        RegisterComponents();
    }

    public StateSpaceStack Backbone => backbone;

    /// <summary>tokens (Bt, L) int64 ids in [0, V) -> logits (Bt, L, V), from the zero state.</summary>
    public override Tensor forward(Tensor tokens)
    {
        CheckSequenceTokens(tokens);
        var (hidden, _) = backbone.Forward(embedding.forward(tokens));
        return nn.functional.linear(hidden, embedding.weight!);
    }

    /// <summary>The zero state for <paramref name="batch"/> sequences, with the layers discretised once (the
    /// parameters as they are now: a state made before a training step keeps the old system).</summary>
    public override IDecodingState InitialState(long batch)
    {
        CheckBatch(batch);
        using var noGrad = no_grad();
        var systems = new SharedStepSystems(backbone.Discretize());
        return new StateSpaceDecodingState(config, systems, backbone.ZeroStates(batch));
    }

    /// <summary>One step: tokens (Bt) int64 -> logits (Bt, V) and the next state; the given state is unchanged.</summary>
    public override (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state)
    {
        var current = CheckStep<StateSpaceDecodingState>(tokens, state);
        if (current.Config != config)
            throw new ArgumentException(
                $"state: expected the state of a state-space model with config {config}, got one made by {current.Config}.",
                nameof(state));
        using var noGrad = no_grad();
        var (hidden, next) = backbone.Step(embedding.forward(tokens), current.Layers, current.Systems.Systems);
        var nextState = new StateSpaceDecodingState(config, current.Systems, next);
        return (nn.functional.linear(hidden, embedding.weight!), nextState);
    }

    /// <remarks>The linear maps' weights are decayed; the SSM parameters, norms, biases and the embedding not (as
    /// in S4, whose SSM parameters train without weight decay).</remarks>
    protected override bool IsDecayed(string name) =>
        name.EndsWith("output_linear.weight", StringComparison.Ordinal);
}

/// <summary>The step systems of one decoding session, shared by every state made from it; freed when the last
/// state holding them is disposed.</summary>
internal sealed class SharedStepSystems
{
    private int references;

    public SharedStepSystems(StateSpaceStepSystem[] systems) => Systems = systems;

    public IReadOnlyList<StateSpaceStepSystem> Systems { get; }

    public void Acquire() => Interlocked.Increment(ref references);

    public void Release()
    {
        if (Interlocked.Decrement(ref references) == 0)
            foreach (var system in Systems) system.Dispose();
    }
}

/// <summary>The decoding state of a <see cref="StateSpaceLanguageModel"/>: one SSM state per layer and the shared
/// step systems. Never changed after it is created (see <see cref="IDecodingState"/>); owns its state tensors.</summary>
public sealed class StateSpaceDecodingState : IDecodingState
{
    private readonly Tensor[] layers;
    private bool disposed;

    internal StateSpaceDecodingState(StateSpaceConfig config, SharedStepSystems systems, Tensor[] layers)
    {
        Config = config;
        Systems = systems;
        foreach (var layer in layers) layer.DetachFromDisposeScope();
        this.layers = layers;
        systems.Acquire();
    }

    /// <summary>The config of the model that made this state.</summary>
    public StateSpaceConfig Config { get; }

    internal SharedStepSystems Systems { get; }

    /// <summary>One (Bt, H, StateWidth) state per layer, first layer first.</summary>
    public IReadOnlyList<Tensor> Layers => layers;

    public long BatchSize => layers[0].shape[0];

    public Device Device => layers[0].device;

    public IDecodingState Select(Tensor rows)
    {
        var indices = DecodingChecks.Rows(rows, BatchSize, Device);
        return new StateSpaceDecodingState(Config, Systems, layers.Select(l => l.index_select(0, indices)).ToArray());
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var layer in layers) layer.Dispose();
        Systems.Release();
    }
}
