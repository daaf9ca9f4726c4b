using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
// HybridSeq.Managed.Linear is the op; the layers here are TorchSharp modules.
using Linear = TorchSharp.Modules.Linear;

namespace HybridSeq.Models.StateSpace;

/// <summary>
/// One pre-norm residual block of the S4 family: x + Linear(Dropout(GELU(SSM(LayerNorm(x))))). The SSM mixes along
/// time, channel by channel; the output linear mixes the channels. Input and output (Bt, L, H), or (Bt, H) per step.
/// </summary>
public sealed class StateSpaceBlock : nn.Module<Tensor, Tensor>
{
    // Field names are the parameter names in checkpoints.
    private readonly LayerNorm norm;
    private readonly StateSpaceLayer ssm;
    private readonly Dropout dropout;
    private readonly Linear output_linear;

    public StateSpaceBlock(string name, StateSpaceConfig config, bool bidirectional = false) : base(name)
    {
        norm = nn.LayerNorm(config.ModelDimension);
        ssm = config.CreateLayer("ssm", config.ModelDimension, bidirectional);
        dropout = nn.Dropout(config.Dropout);
        output_linear = nn.Linear(config.ModelDimension, config.ModelDimension);
        RegisterComponents();
    }

    /// <summary>The SSM layer.</summary>
    public StateSpaceLayer Layer => ssm;

    public override Tensor forward(Tensor input) => Forward(input).Output;

    /// <summary>input (Bt, L, H) -> (Bt, L, H) and, when asked, the SSM's final state; lengths and the initial
    /// state as <see cref="StateSpaceLayer.Forward"/> (outputs past the lengths are the residual input).</summary>
    public (Tensor Output, Tensor? FinalState) Forward(Tensor input, Tensor? initialState = null,
        Tensor? lengths = null, bool returnFinalState = false)
    {
        var (y, final) = ssm.Forward(norm.forward(input), initialState, lengths, returnFinalState);
        return (input + output_linear.forward(dropout.forward(nn.functional.gelu(y))), final);
    }

    /// <summary>One token: input (Bt, H) -> (Bt, H) and the SSM's next state.</summary>
    public (Tensor Output, Tensor Next) Step(Tensor input, Tensor state, StateSpaceStepSystem system)
    {
        var (y, next) = ssm.Step(norm.forward(input), state, system);
        return (input + output_linear.forward(dropout.forward(nn.functional.gelu(y))), next);
    }
}

/// <summary>
/// The residual stack of the S4 family: Layers x <see cref="StateSpaceBlock"/> then a final LayerNorm, over
/// (Bt, L, H); the backbone of <see cref="StateSpaceLanguageModel"/>, the s4d forecaster and sequence classifiers.
/// States are one SSM state per block.
/// </summary>
public sealed class StateSpaceStack : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<StateSpaceBlock> layers;
    private readonly LayerNorm norm_f;

    /// <param name="name">Module name.</param>
    /// <param name="config">Kind, width, depth, state size and the layer options (the vocabulary is not read).</param>
    /// <param name="bidirectional">Bidirectional SSM layers (convolution mode only, no states): for classifiers.</param>
    public StateSpaceStack(string name, StateSpaceConfig config, bool bidirectional = false) : base(name)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        layers = nn.ModuleList(Enumerable.Range(0, config.Layers)
            .Select(i => new StateSpaceBlock($"layer{i}", config, bidirectional)).ToArray());
        norm_f = nn.LayerNorm(config.ModelDimension);
        RegisterComponents();
    }

    public IReadOnlyList<StateSpaceBlock> Blocks => layers.ToArray();

    public override Tensor forward(Tensor input) => Forward(input).Output;

    /// <summary>input (Bt, L, H) -> normalised output (Bt, L, H) and, when asked, the final state of every block.</summary>
    /// <param name="input">(Bt, L, H).</param>
    /// <param name="initialStates">optional: one state per block (see <see cref="StateSpaceLayer.Forward"/>).</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths.</param>
    /// <param name="returnFinalStates">also return each block's state after the last valid token.</param>
    public (Tensor Output, Tensor[]? FinalStates) Forward(Tensor input, IReadOnlyList<Tensor>? initialStates = null,
        Tensor? lengths = null, bool returnFinalStates = false)
    {
        if (initialStates is not null && initialStates.Count != layers.Count)
            throw new ArgumentException(
                $"initialStates: expected one state per block ({layers.Count}), got {initialStates.Count}.",
                nameof(initialStates));
        var finals = returnFinalStates ? new Tensor[layers.Count] : null;
        var hidden = input;
        for (int i = 0; i < layers.Count; i++)
        {
            var (output, final) = layers[i].Forward(hidden, initialStates?[i], lengths, returnFinalStates);
            hidden = output;
            if (finals is not null) finals[i] = final!;
        }
        return (norm_f.forward(hidden), finals);
    }

    /// <summary>One step through every block: input (Bt, H) -> normalised output (Bt, H) and the next states.</summary>
    public (Tensor Output, Tensor[] Next) Step(Tensor input, IReadOnlyList<Tensor> states,
        IReadOnlyList<StateSpaceStepSystem> systems)
    {
        var next = new Tensor[layers.Count];
        var hidden = input;
        for (int i = 0; i < layers.Count; i++)
            (hidden, next[i]) = layers[i].Step(hidden, states[i], systems[i]);
        return (norm_f.forward(hidden), next);
    }

    /// <summary>The zero state of every block for <paramref name="batch"/> rows.</summary>
    public Tensor[] ZeroStates(long batch) => layers.Select(l => l.Layer.ZeroState(batch)).ToArray();

    /// <summary>Every block's step system (computed once; the caller owns them).</summary>
    public StateSpaceStepSystem[] Discretize() => layers.Select(l => l.Layer.Discretize()).ToArray();
}
