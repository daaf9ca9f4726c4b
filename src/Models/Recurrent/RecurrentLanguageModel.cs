using System.Text.Json.Serialization;
using HybridSeq.Managed;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Recurrent;

/// <summary>
/// Hyper-parameters of a <see cref="RecurrentLanguageModel"/> (families lstm, gru and slstm); serialised into
/// checkpoints.
/// </summary>
/// <param name="Cell">The recurrent cell: Lstm, Gru or Slstm (it names the family).</param>
/// <param name="VocabularySize">Number of token ids; tokens are in [0, VocabularySize).</param>
/// <param name="ModelDimension">Width of the embedding and of the recurrent state h (hidden size H).</param>
/// <param name="Layers">Stacked recurrent layers.</param>
/// <param name="Heads">Independent heads of the recurrent weights (block-diagonal R); must divide ModelDimension.</param>
public sealed record RecurrentConfig(
    [property: JsonConverter(typeof(JsonStringEnumConverter<RnnCell>))] RnnCell Cell,
    int VocabularySize,
    int ModelDimension = 64,
    int Layers = 2,
    int Heads = 1) : ILanguageModelConfig
{
    /// <summary>The registry name of this family: lstm, gru or slstm.</summary>
    [JsonIgnore]
    public string Family => ModelFamilies.RecurrentFamilyName(Cell);

    public void Validate()
    {
        RnnCellInfo.Validate(Cell);
        RequirePositive(VocabularySize, nameof(VocabularySize));
        RequirePositive(ModelDimension, nameof(ModelDimension));
        RequirePositive(Layers, nameof(Layers));
        RequirePositive(Heads, nameof(Heads));
        if (ModelDimension % Heads != 0)
            throw new ArgumentOutOfRangeException(nameof(Heads), Heads,
                $"RecurrentConfig.Heads must divide ModelDimension = {ModelDimension}, got {Heads}.");
    }

    /// <summary>A token task whose ids fit the vocabulary.</summary>
    public void ValidateFor(Tasks.ITask task) => LanguageModel.RequireVocabulary(VocabularySize, task);

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value,
                $"RecurrentConfig.{name} must be a positive integer, got {value}.");
    }
}

/// <summary>
/// A recurrent language model: embedding -> a stacked unidirectional fused RNN (<see cref="FusedLSTM"/>,
/// <see cref="FusedGRU"/> or <see cref="SLSTM"/>, H = d_model) -> final RMSNorm -> LM head tied to the embedding,
/// like <see cref="Mamba.MambaLanguageModel"/>. forward(tokens (Bt, L)) -> logits (Bt, L, V); step mode carries the
/// RNN's <see cref="RecurrentState"/> in a <see cref="RecurrentDecodingState"/>.
/// </summary>
public sealed class RecurrentLanguageModel : LanguageModel
{
    private readonly Embedding embedding;
    private readonly FusedRecurrentNetwork rnn;
    private readonly RMSNorm norm_f;

    private readonly RecurrentConfig config;

    /// <summary>The config this model was built from (a RecurrentConfig).</summary>
    // Not a covariant override: TorchSharp's Module.to() reflects over the members by name and two "Config"
    // properties (base and override) collide there.
    public override IModelConfig Config => config;

    /// <summary>Builds the model, drawing the initial weights from torch's global generator (seed it first).</summary>
    public RecurrentLanguageModel(RecurrentConfig config) : base(nameof(RecurrentLanguageModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        embedding = nn.Embedding(config.VocabularySize, config.ModelDimension);
        rnn = config.Cell switch
        {
            RnnCell.Lstm => new FusedLSTM(config.ModelDimension, config.ModelDimension, config.Layers, config.Heads,
                batchFirst: true, name: "rnn"),
            RnnCell.Gru => new FusedGRU(config.ModelDimension, config.ModelDimension, config.Layers, config.Heads,
                batchFirst: true, name: "rnn"),
            _ => new SLSTM(config.ModelDimension, config.ModelDimension, config.Layers, config.Heads,
                batchFirst: true, name: "rnn"),
        };
        norm_f = new RMSNorm("norm_f", config.ModelDimension);
        using (no_grad())
            nn.init.normal_(embedding.weight!, 0.0, 0.02);
        RegisterComponents();
    }

    /// <summary>The recurrent network (its parameters are named like PyTorch's nn.LSTM / nn.GRU under "rnn.").</summary>
    public FusedRecurrentNetwork Network => rnn;

    /// <summary>tokens (Bt, L) int64 ids in [0, V) -> logits (Bt, L, V), from the zero state.</summary>
    public override Tensor forward(Tensor tokens)
    {
        CheckSequenceTokens(tokens);
        var (output, _) = rnn.forward(embedding.forward(tokens), null, null);
        return nn.functional.linear(norm_f.forward(output), embedding.weight!);
    }

    /// <summary>The zero state (what forward starts from) for <paramref name="batch"/> sequences.</summary>
    public override IDecodingState InitialState(long batch)
    {
        CheckBatch(batch);
        return new RecurrentDecodingState(config, RecurrentState.Zeros(config.Cell, config.Layers, 1, batch,
            config.ModelDimension, ParameterDtype, ParameterDevice));
    }

    /// <summary>One step: tokens (Bt) int64 -> logits (Bt, V) and the new state; the given state is not changed
    /// (the module's Step returns a new <see cref="RecurrentState"/>).</summary>
    public override (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state)
    {
        var current = CheckStep<RecurrentDecodingState>(tokens, state);
        if (current.Config != config)
            throw new ArgumentException(
                $"state: expected the state of a recurrent model with config {config}, got one made by {current.Config}.",
                nameof(state));
        using var noGrad = no_grad();
        var (output, next) = rnn.Step(embedding.forward(tokens), current.Inner);
        var nextState = new RecurrentDecodingState(config, next);
        return (nn.functional.linear(norm_f.forward(output), embedding.weight!), nextState);
    }

    /// <remarks>The input and recurrent matrices are decayed; biases, the norm and the (tied) embedding are not.</remarks>
    protected override bool IsDecayed(string name) =>
        name.StartsWith("rnn.weight_", StringComparison.Ordinal);
}

/// <summary>The decoding state of a <see cref="RecurrentLanguageModel"/>: the RNN's <see cref="RecurrentState"/>.
/// Never changed after it is created (see <see cref="IDecodingState"/>); owns the state's tensors.</summary>
public sealed class RecurrentDecodingState : IDecodingState
{
    internal RecurrentDecodingState(RecurrentConfig config, RecurrentState inner)
    {
        Config = config;
        foreach (var tensor in inner.PerLayer) tensor.DetachFromDisposeScope();
        Inner = inner;
    }

    /// <summary>The config of the model that made this state.</summary>
    public RecurrentConfig Config { get; }

    /// <summary>The RNN state: (S, Bt, H) per layer.</summary>
    public RecurrentState Inner { get; }

    public long BatchSize => Inner.Batch;

    public Device Device => Inner.PerLayer[0].device;

    public IDecodingState Select(Tensor rows)
    {
        var indices = DecodingChecks.Rows(rows, BatchSize, Device);
        var selected = Inner.PerLayer.Select(t => t.index_select(1, indices)).ToArray();
        return new RecurrentDecodingState(Config, new RecurrentState(Inner.Cell, Inner.NumLayers, Inner.Directions, selected));
    }

    public void Dispose()
    {
        foreach (var tensor in Inner.PerLayer) tensor.Dispose();
    }
}
