using System.Text.Json.Serialization;
using HybridSeq.Managed;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Linear = TorchSharp.Modules.Linear;

namespace HybridSeq.Models.Seq2Seq;

/// <summary>Hyper-parameters of a <see cref="Seq2SeqModel"/> (family seq2seq); serialised into checkpoints.</summary>
/// <param name="VocabularySize">Token ids of sources and targets (one vocabulary), in [0, VocabularySize).</param>
/// <param name="Cell">The recurrent cell of encoder and decoder: Lstm (the paper's), Gru or Slstm.</param>
/// <param name="EmbeddingDimension">Width of the source and target embeddings.</param>
/// <param name="HiddenSize">H of every encoder and decoder layer.</param>
/// <param name="Layers">Stacked layers of the encoder and of the decoder (the decoder starts from the encoder's
/// final state, layer by layer).</param>
/// <param name="Attention">The decoder's attention over the encoder states (None: the paper's model).</param>
/// <param name="ReverseSource">Feed each source reversed (the paper's trick; padding stays at the end).</param>
public sealed record Seq2SeqConfig(
    int VocabularySize,
    [property: JsonConverter(typeof(JsonStringEnumConverter<RnnCell>))] RnnCell Cell = RnnCell.Lstm,
    int EmbeddingDimension = 32,
    int HiddenSize = 128,
    int Layers = 2,
    Seq2SeqAttention Attention = Seq2SeqAttention.Additive,
    bool ReverseSource = false) : IModelConfig
{
    public const string FamilyName = "seq2seq";

    [JsonIgnore]
    public string Family => FamilyName;

    public void Validate()
    {
        RnnCellInfo.Validate(Cell);
        RequirePositive(VocabularySize, nameof(VocabularySize));
        RequirePositive(EmbeddingDimension, nameof(EmbeddingDimension));
        RequirePositive(HiddenSize, nameof(HiddenSize));
        RequirePositive(Layers, nameof(Layers));
        if (!Enum.IsDefined(Attention))
            throw new ArgumentOutOfRangeException(nameof(Attention), Attention,
                $"Seq2SeqConfig.Attention must be None, Additive, Dot or General, got {(int)Attention}.");
    }

    /// <summary>A seq2seq task whose token ids fit the vocabulary.</summary>
    public void ValidateFor(ITask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task is not ISeq2SeqTask seq2seq)
            throw new ArgumentException($"config: a seq2seq model reads seq2seq tasks, got {task.Name} (kind {task.Kind}).",
                "config");
        if (VocabularySize < seq2seq.VocabularySize)
            throw new ArgumentException(
                $"config.VocabularySize must cover the task's {seq2seq.VocabularySize} token ids, got {VocabularySize}.",
                "config");
    }

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"Seq2SeqConfig.{name} must be a positive integer, got {value}.");
    }
}

/// <summary>
/// Sequence to sequence learning (Sutskever, Vinyals and Le 2014) with optional attention (Bahdanau et al. 2015's
/// additive score, Luong et al. 2015's dot and general scores). A multi-layer encoder on the fused recurrence reads
/// the source (reversed with <see cref="Seq2SeqConfig.ReverseSource"/>); a decoder of the same shape starts from the
/// encoder's final state and reads the target shifted right (teacher forcing in training). With attention the
/// decoder's top state h_t is the query: weights over the valid source positions, context c_t, then
/// h~_t = tanh(W_c [c_t; h_t]) and logits = W_o h~_t (Luong's global attention without input feeding, so the decoder
/// recurrence over the whole target is one fused call in training); without attention logits = W_o h_t.
/// After <see cref="Encode"/> the decoder is an <see cref="IStepModel"/> whose states hold the encoder memory rows,
/// so greedy decoding and beam search (<see cref="BeamSearch"/>) run through the step contract.
/// </summary>
public sealed class Seq2SeqModel : TaskModel
{
    private readonly Embedding source_embedding;
    private readonly Embedding target_embedding;
    private readonly FusedRecurrentNetwork encoder;
    private readonly FusedRecurrentNetwork decoder;
    private readonly AttentionLayer? attention;
    private readonly Linear? combine;
    private readonly Linear output;

    private readonly Seq2SeqConfig config;

    // Not a covariant override: TorchSharp's Module.to() reflects over the members by name.
    public override IModelConfig Config => config;

    /// <summary>Builds the model, drawing the initial weights from torch's global generator (seed it first).</summary>
    public Seq2SeqModel(Seq2SeqConfig config) : base(nameof(Seq2SeqModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        source_embedding = nn.Embedding(config.VocabularySize, config.EmbeddingDimension);
        target_embedding = nn.Embedding(config.VocabularySize, config.EmbeddingDimension);
        encoder = Network("encoder", config);
        decoder = Network("decoder", config);
        if (config.Attention != Seq2SeqAttention.None)
        {
            attention = new AttentionLayer("attention", config.Attention, config.HiddenSize);
            combine = nn.Linear(2L * config.HiddenSize, config.HiddenSize);
        }
        output = nn.Linear(config.HiddenSize, config.VocabularySize);
        RegisterComponents();
    }

    public int VocabularySize => config.VocabularySize;

    private static FusedRecurrentNetwork Network(string name, Seq2SeqConfig config) => config.Cell switch
    {
        RnnCell.Lstm => new FusedLSTM(config.EmbeddingDimension, config.HiddenSize, config.Layers, batchFirst: true, name: name),
        RnnCell.Gru => new FusedGRU(config.EmbeddingDimension, config.HiddenSize, config.Layers, batchFirst: true, name: name),
        _ => new SLSTM(config.EmbeddingDimension, config.HiddenSize, config.Layers, batchFirst: true, name: name),
    };

    /// <summary>
    /// The encoder's input: each row's first lengths[b] tokens, reversed when the config says so, padding
    /// (<see cref="Seq2SeqVocabulary.Pad"/>) after them. source (B, S) int64 padded on the right, lengths (B) int64
    /// in [1, S]; returns a new (B, S) tensor.
    /// </summary>
    public Tensor EncoderInput(Tensor source, Tensor lengths)
    {
        CheckSource(source, lengths);
        if (!config.ReverseSource) return source.clone();
        // Position p of row b reads position lengths[b] - 1 - p where p < lengths[b], stays padding otherwise.
        long width = source.shape[1];
        var positions = torch.arange(width, dtype: ScalarType.Int64, device: source.device).unsqueeze(0);
        var valid = positions.lt(lengths.unsqueeze(1));
        var reversed = (lengths.unsqueeze(1) - 1 - positions).clamp_min(0);
        return torch.where(valid, source.gather(1, reversed), torch.full_like(source, Seq2SeqVocabulary.Pad));
    }

    /// <summary>The encoder over source (B, S) with lengths (B): memory (B, S, H) (zero at padding), the mask (B, S)
    /// bool of valid positions, and the encoder's final state (at each row's last valid token).</summary>
    private (Tensor Memory, Tensor Mask, RecurrentState Final) RunEncoder(Tensor source, Tensor lengths)
    {
        var input = EncoderInput(source, lengths);
        var (memory, final) = encoder.forward(source_embedding.forward(input), null, lengths);
        var positions = torch.arange(source.shape[1], dtype: ScalarType.Int64, device: source.device).unsqueeze(0);
        return (memory, positions.lt(lengths.unsqueeze(1)), final);
    }

    /// <summary>
    /// Teacher-forced logits: source (B, S) int64 padded, lengths (B) int64, decoder inputs (B, T) int64 (the target
    /// shifted right: Begin, y_0, ..., y_{T-2}) -> logits (B, T, V) of y_0 .. y_{T-1}. Also returns the attention
    /// weights (B, T, S) (null without attention).
    /// </summary>
    public (Tensor Logits, Tensor? Weights) forward(Tensor source, Tensor lengths, Tensor decoderInputs)
    {
        DecodingChecks.Tokens(decoderInputs, 2, VocabularySize, nameof(decoderInputs), "(B, T)");
        if (decoderInputs.shape[0] != source.shape[0])
            throw new ArgumentException(
                $"decoderInputs: expected {source.shape[0]} rows (the source's), got {decoderInputs.shape[0]}.",
                nameof(decoderInputs));
        var (memory, mask, final) = RunEncoder(source, lengths);
        var (states, _) = decoder.forward(target_embedding.forward(decoderInputs), final, null);
        if (attention is null) return (output.forward(states), null);
        var (weights, context) = attention.forward(states, memory, attention.PrepareMemory(memory), mask);
        return (output.forward(torch.tanh(combine!.forward(torch.cat([context, states], 2)))), weights);
    }

    /// <summary>Encodes source (B, S) int64 padded with lengths (B) int64 and returns the decoder as a step model
    /// whose <see cref="IStepModel.InitialState"/>(B) holds the encoder memory rows and the encoder's final state;
    /// its first input is <see cref="Seq2SeqVocabulary.Begin"/>. Runs without autograd.</summary>
    public Seq2SeqDecoder Encode(Tensor source, Tensor lengths)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (memory, mask, final) = RunEncoder(source, lengths);
        Tensor prepared = attention?.PrepareMemory(memory) ?? memory;
        var state = new Seq2SeqDecodingState(this, final, memory, prepared, mask);
        return new Seq2SeqDecoder(this, state);
    }

    /// <summary>One decoder step for <see cref="Seq2SeqDecoder"/>: tokens (B) -> logits (B, V), the new state, and the
    /// attention weights (B, S) (null without attention).</summary>
    internal (Tensor Logits, Seq2SeqDecodingState Next, Tensor? Weights) DecoderStep(Tensor tokens,
        Seq2SeqDecodingState state)
    {
        using var noGrad = no_grad();
        var (top, next) = decoder.Step(target_embedding.forward(tokens), state.Recurrent);
        var nextState = state.With(next);
        if (attention is null) return (output.forward(top), nextState, null);
        var query = top.unsqueeze(1);
        var (weights, context) = attention.forward(query, state.Memory, state.Prepared, state.Mask);
        var logits = output.forward(torch.tanh(combine!.forward(torch.cat([context.squeeze(1), top], 1))));
        return (logits, nextState, weights.squeeze(1));
    }

    /// <summary>Mean cross-entropy of the targets (end token included, padding ignored), teacher-forced.</summary>
    public override Tensor Loss(ITask task, TaskBatch batch)
    {
        ExpectTask<ISeq2SeqTask>(task);
        var examples = ExpectBatch<Seq2SeqBatch>(batch).Examples;
        var (source, lengths, decoderInputs, targets) = ToTensors(examples, ParameterDevice);
        var (logits, _) = forward(source, lengths, decoderInputs);
        return nn.functional.cross_entropy(logits.reshape(-1, VocabularySize), targets.reshape(-1),
            ignore_index: Seq2SeqVocabulary.Pad);
    }

    /// <summary>Exact-sequence and token accuracy of the decoded targets: greedy (BeamSize 1) or the best hypothesis
    /// of beam search, at most (longest target + 1) tokens per row.</summary>
    public override MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ExpectTask<ISeq2SeqTask>(task);
        var examples = ExpectBatch<Seq2SeqBatch>(batch).Examples;
        var totals = MetricTotals.For(task);
        int maxLength = examples.Max(e => e.Target.Length) + 1;
        Seq2SeqMetrics.Score(examples, Decode(examples.Select(e => e.Source).ToArray(), maxLength, options.BeamSize),
            totals);
        return totals;
    }

    /// <summary>Decodes each source (token ids, no padding) into at most <paramref name="maxLength"/> tokens, cut
    /// after the first end token: greedy with <paramref name="beamSize"/> 1, else the best hypothesis of beam search
    /// (length penalty 1). Runs without autograd.</summary>
    public IReadOnlyList<long[]> Decode(IReadOnlyList<long[]> sources, int maxLength, int beamSize = 1)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(beamSize, 1);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (source, lengths) = SourceTensors(sources, ParameterDevice);
        using var decoderModel = Encode(source, lengths);
        var begin = torch.full([sources.Count, 1], Seq2SeqVocabulary.Begin, ScalarType.Int64, ParameterDevice);
        if (beamSize == 1)
        {
            long[] flat = GreedyDecoding.Generate(decoderModel, begin, maxLength).cpu().data<long>().ToArray();
            return Enumerable.Range(0, sources.Count)
                .Select(r => Seq2SeqMetrics.CutAtEnd(flat.AsSpan(r * maxLength, maxLength).ToArray())).ToList();
        }
        var result = BeamSearch.Run(decoderModel, begin,
            new BeamSearchOptions(beamSize, maxLength, EndToken: Seq2SeqVocabulary.End));
        return result.Rows.Select(row => row.Count == 0 ? Array.Empty<long>() : row[0].Tokens).ToList();
    }

    /// <summary>Sources (B, S) int64 padded with Pad and lengths (B) int64 on <paramref name="device"/>.</summary>
    public static (Tensor Source, Tensor Lengths) SourceTensors(IReadOnlyList<long[]> sources, Device device)
    {
        if (sources.Count == 0)
            throw new ArgumentException("sources: expected at least one source, got none.", nameof(sources));
        int width = sources.Max(s => s.Length);
        if (sources.Any(s => s.Length == 0))
            throw new ArgumentException("sources: expected every source to hold at least one token, got an empty one.",
                nameof(sources));
        var flat = new long[sources.Count * width];
        for (int b = 0; b < sources.Count; b++) sources[b].CopyTo(flat, b * width);
        return (tensor(flat, [sources.Count, width], ScalarType.Int64).to(device),
            tensor(sources.Select(s => (long)s.Length).ToArray(), ScalarType.Int64).to(device));
    }

    /// <summary>The tensors of a batch: source (B, S) and lengths (B), decoder inputs (B, T) = Begin then the target
    /// shifted right, targets (B, T) padded with Pad.</summary>
    public static (Tensor Source, Tensor Lengths, Tensor DecoderInputs, Tensor Targets) ToTensors(
        IReadOnlyList<Seq2SeqExample> examples, Device device)
    {
        var (source, lengths) = SourceTensors(examples.Select(e => e.Source).ToArray(), device);
        int width = examples.Max(e => e.Target.Length);
        if (examples.Any(e => e.Target.Length == 0))
            throw new ArgumentException("examples: expected every target to hold at least its end token, got an empty one.",
                nameof(examples));
        var inputs = new long[examples.Count * width];
        var targets = new long[examples.Count * width];
        for (int b = 0; b < examples.Count; b++)
        {
            long[] target = examples[b].Target;
            inputs[b * width] = Seq2SeqVocabulary.Begin;
            Array.Copy(target, 0, inputs, b * width + 1, target.Length - 1);
            target.CopyTo(targets, b * width);
        }
        return (source, lengths, tensor(inputs, [examples.Count, width], ScalarType.Int64).to(device),
            tensor(targets, [examples.Count, width], ScalarType.Int64).to(device));
    }

    public override int EvaluationChunk(int size, int batchSize) => Math.Max(batchSize, 256);

    /// <remarks>The recurrent matrices and the linear maps' weights are decayed; biases, embeddings and the additive
    /// score vector are not.</remarks>
    protected override bool IsDecayed(string name) =>
        name.StartsWith("encoder.weight_", StringComparison.Ordinal) ||
        name.StartsWith("decoder.weight_", StringComparison.Ordinal) ||
        (name.EndsWith(".weight", StringComparison.Ordinal) && !name.Contains("embedding", StringComparison.Ordinal));

    private void CheckSource(Tensor source, Tensor lengths)
    {
        DecodingChecks.Tokens(source, 2, VocabularySize, nameof(source), "(B, S)");
        if (lengths is null || lengths.dtype != ScalarType.Int64 || lengths.dim() != 1 || lengths.shape[0] != source.shape[0])
            throw new ArgumentException(
                $"lengths: expected (B = {source.shape[0]}) int64 source lengths, got " +
                (lengths is null ? "null" : $"{lengths.dtype} of shape ({string.Join(", ", lengths.shape)})") + ".",
                nameof(lengths));
        using var range = torch.stack([lengths.min(), lengths.max()]).cpu();
        long low = range[0].item<long>(), high = range[1].item<long>();
        if (low < 1 || high > source.shape[1])
            throw new ArgumentException(
                $"lengths: expected lengths in [1, {source.shape[1]}] (the source width), got lengths in [{low}, {high}].",
                nameof(lengths));
    }
}

/// <summary>
/// The decoder of a <see cref="Seq2SeqModel"/> after encoding a batch: a step model over the target vocabulary.
/// <see cref="InitialState"/> returns (a copy of) the encoded state, so it accepts only the encoded batch size;
/// beam search repeats and reorders its rows through <see cref="IDecodingState.Select"/>, which carries the encoder
/// memory rows along. Owns the encoded state (dispose it).
/// </summary>
public sealed class Seq2SeqDecoder : IStepModel, IDisposable
{
    private readonly Seq2SeqModel model;
    private readonly Seq2SeqDecodingState encoded;

    internal Seq2SeqDecoder(Seq2SeqModel model, Seq2SeqDecodingState encoded)
    {
        this.model = model;
        this.encoded = encoded;
    }

    public int VocabularySize => model.VocabularySize;

    /// <summary>The encoded rows.</summary>
    public long BatchSize => encoded.BatchSize;

    /// <summary>A new state equal to the encoded one; <paramref name="batch"/> must be the encoded batch size.</summary>
    public IDecodingState InitialState(long batch)
    {
        if (batch != encoded.BatchSize)
            throw new ArgumentOutOfRangeException(nameof(batch), batch,
                $"batch: this decoder encoded {encoded.BatchSize} sources; expected batch {encoded.BatchSize}, got {batch} (repeat rows with Select).");
        return encoded.Select(torch.arange(batch, dtype: ScalarType.Int64, device: encoded.Device));
    }

    public (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state)
    {
        var (logits, next, _) = StepWithAttention(tokens, state);
        return (logits, next);
    }

    /// <summary><see cref="Step"/> that also returns the attention weights (B, S) over the source positions (null
    /// without attention).</summary>
    public (Tensor Logits, IDecodingState Next, Tensor? Weights) StepWithAttention(Tensor tokens, IDecodingState state)
    {
        DecodingChecks.Tokens(tokens, 1, VocabularySize, nameof(tokens), "(B)");
        var current = DecodingChecks.State<Seq2SeqDecodingState>(state, tokens.shape[0], tokens.device,
            nameof(Seq2SeqModel), nameof(state));
        if (!ReferenceEquals(current.Owner, model))
            throw new ArgumentException("state: expected a state of this seq2seq model, got one of another model.",
                nameof(state));
        return model.DecoderStep(tokens, current);
    }

    public void Dispose() => encoded.Dispose();
}

/// <summary>The decoding state of a <see cref="Seq2SeqDecoder"/>: the decoder's recurrent state and, per row, the
/// encoder memory (S, H), its prepared form for the attention score and the source mask. Never changed after it is
/// created; owns its tensors (a Select copies the rows).</summary>
public sealed class Seq2SeqDecodingState : IDecodingState
{
    internal Seq2SeqDecodingState(Seq2SeqModel owner, RecurrentState recurrent, Tensor memory, Tensor prepared, Tensor mask)
    {
        Owner = owner;
        foreach (var tensor in recurrent.PerLayer) tensor.DetachFromDisposeScope();
        Recurrent = recurrent;
        Memory = memory.DetachFromDisposeScope();
        // Additive and general attention prepare a new tensor; dot attention's is the memory itself (owned once).
        Prepared = ReferenceEquals(prepared, memory) ? Memory : prepared.DetachFromDisposeScope();
        Mask = mask.DetachFromDisposeScope();
    }

    internal Seq2SeqModel Owner { get; }

    /// <summary>The decoder's state: (S, B, H) per layer.</summary>
    public RecurrentState Recurrent { get; }

    /// <summary>(B, S, H) encoder states (zero at padding).</summary>
    public Tensor Memory { get; }

    /// <summary>(B, S, H) what the attention score reads from the memory.</summary>
    public Tensor Prepared { get; }

    /// <summary>(B, S) bool: true at valid source positions.</summary>
    public Tensor Mask { get; }

    public long BatchSize => Memory.shape[0];

    public Device Device => Memory.device;

    /// <summary>The same memory rows with a new recurrent state (the memory is copied: states own their tensors).</summary>
    internal Seq2SeqDecodingState With(RecurrentState next)
    {
        var memory = Memory.clone();
        return new Seq2SeqDecodingState(Owner, next, memory, ReferenceEquals(Prepared, Memory) ? memory : Prepared.clone(),
            Mask.clone());
    }

    public IDecodingState Select(Tensor rows)
    {
        var indices = DecodingChecks.Rows(rows, BatchSize, Device);
        var recurrent = new RecurrentState(Recurrent.Cell, Recurrent.NumLayers, Recurrent.Directions,
            Recurrent.PerLayer.Select(t => t.index_select(1, indices)).ToArray());
        var memory = Memory.index_select(0, indices);
        var prepared = ReferenceEquals(Prepared, Memory) ? memory : Prepared.index_select(0, indices);
        return new Seq2SeqDecodingState(Owner, recurrent, memory, prepared, Mask.index_select(0, indices));
    }

    public void Dispose()
    {
        foreach (var tensor in Recurrent.PerLayer) tensor.Dispose();
        if (!ReferenceEquals(Prepared, Memory)) Prepared.Dispose();
        Memory.Dispose();
        Mask.Dispose();
    }
}
