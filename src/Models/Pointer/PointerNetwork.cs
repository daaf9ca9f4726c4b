using System.Text.Json.Serialization;
using HybridSeq.Managed;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Tasks.Pointer;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Pointer;

/// <summary>How a <see cref="PointerNetwork"/> encodes its input set.</summary>
public enum PointerEncoder
{
    /// <summary>Vinyals, Fortunato &amp; Jaitly 2015: an LSTM reads the elements in their given order (order
    /// sensitive); its outputs are the memory the decoder points into, its final state the decoder's first.</summary>
    Lstm,

    /// <summary>Vinyals, Bengio &amp; Kudlur 2016 ("Order Matters"), read-process-write: read embeds every element on
    /// its own, process runs an LSTM without input for P steps that attends over the embeddings (content-based,
    /// dot product) and concatenates the read-out to its state, write is the pointer decoder. Invariant to the
    /// order of the input set.</summary>
    ReadProcessWrite,
}

/// <summary>Hyper-parameters of a <see cref="PointerNetwork"/>; serialised into checkpoints.</summary>
/// <param name="Encoder">The set encoder: Lstm (family ptrnet) or ReadProcessWrite (family rpw).</param>
/// <param name="InputFeatures">F: features per input element (2 for points, 1 for numbers).</param>
/// <param name="HiddenSize">H: width of the embeddings, of the LSTM states and of the memory.</param>
/// <param name="EncoderLayers">Stacked LSTM layers of the Lstm encoder (the read-process-write encoder has none).</param>
/// <param name="ProcessSteps">P: process steps of the read-process-write encoder (0: the decoder starts from a
/// learned state that has seen nothing of the set); must be 0 for the Lstm encoder.</param>
/// <param name="AttentionSize">A: width of the additive pointer attention v^T tanh(W1 e_j + W2 d).</param>
public sealed record PointerNetworkConfig(
    [property: JsonConverter(typeof(JsonStringEnumConverter<PointerEncoder>))] PointerEncoder Encoder = PointerEncoder.Lstm,
    int InputFeatures = 2,
    int HiddenSize = 128,
    int EncoderLayers = 1,
    int ProcessSteps = 0,
    int AttentionSize = 128) : IModelConfig
{
    /// <summary>ptrnet for the LSTM encoder, rpw for read-process-write.</summary>
    [JsonIgnore]
    public string Family => Encoder == PointerEncoder.Lstm ? PointerNetwork.PtrNetFamily : PointerNetwork.RpwFamily;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Encoder))
            throw new ArgumentOutOfRangeException(nameof(Encoder), Encoder,
                $"PointerNetworkConfig.Encoder must be Lstm or ReadProcessWrite, got {Encoder}.");
        Positive(InputFeatures, nameof(InputFeatures));
        Positive(HiddenSize, nameof(HiddenSize));
        Positive(EncoderLayers, nameof(EncoderLayers));
        Positive(AttentionSize, nameof(AttentionSize));
        if (ProcessSteps < 0)
            throw new ArgumentOutOfRangeException(nameof(ProcessSteps), ProcessSteps,
                $"PointerNetworkConfig.ProcessSteps must be zero or more, got {ProcessSteps}.");
        if (Encoder == PointerEncoder.Lstm && ProcessSteps != 0)
            throw new ArgumentOutOfRangeException(nameof(ProcessSteps), ProcessSteps,
                $"PointerNetworkConfig.ProcessSteps belongs to the ReadProcessWrite encoder; the Lstm encoder expects 0, got {ProcessSteps}.");
    }

    /// <summary>The task must be a pointer task whose elements have InputFeatures features.</summary>
    public void ValidateFor(ITask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task is not IPointerTask pointerTask)
            throw new ArgumentException($"config: a {Family} model reads pointer tasks, got {task.Name} (kind {task.Kind}).",
                "config");
        if (pointerTask.InputFeatures != InputFeatures)
            throw new ArgumentException(
                $"config: InputFeatures must be {task.Name}'s {pointerTask.InputFeatures} features per element, got {InputFeatures}.",
                "config");
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"PointerNetworkConfig.{name} must be positive, got {value}.");
    }
}

/// <summary>
/// A pointer network: an encoder over a set of N elements (F features each), and an LSTM decoder whose additive
/// attention over the encoder's memory is the output distribution. Output position 0 is the end of the sequence
/// (a learned memory row) and position j in 1..N points at input element j - 1; so a target sequence of element
/// indices i is written i + 1 and ends with 0. The decoder reads the element it pointed at last (its embedding),
/// and a learned go vector at the first step (token 0 doubles as go: after the end nothing is read).
/// <para>Training: <see cref="forward"/> with teacher forcing (the trainer calls <see cref="Loss"/>). Decoding:
/// <see cref="EncodeForDecoding"/> a batch, then its <see cref="PointerStepModel"/> is an <see cref="IStepModel"/>
/// with VocabularySize N + 1 (<see cref="PointerDecoding"/>: greedy, constrained greedy, constrained beam search).
/// Evaluation (<see cref="Evaluate"/>): greedy decoding without constraints for beam size 1 (what the network
/// itself predicts), beam search under the task's constraint for larger beams.</para>
/// </summary>
public sealed class PointerNetwork : TaskModel
{
    public const string PtrNetFamily = "ptrnet";
    public const string RpwFamily = "rpw";

    /// <summary>The output position of the end of the sequence (and the decoder's go input).</summary>
    public const long EndPosition = 0;

    private readonly PointerNetworkConfig config;
    private readonly TorchSharp.Modules.Linear embed;
    private readonly FusedLSTM? encoder;
    private readonly FusedLSTM? process;
    private readonly TorchSharp.Modules.Linear? processToDecoder;
    private readonly FusedLSTM decoder;
    private readonly TorchSharp.Modules.Linear keyProjection;
    private readonly TorchSharp.Modules.Linear queryProjection;
    private readonly Parameter attentionVector;
    private readonly Parameter goInput;
    private readonly Parameter endMemory;

    /// <summary>Builds the network, drawing its weights from torch's global generator (seed it first).</summary>
    public PointerNetwork(PointerNetworkConfig config) : base(nameof(PointerNetwork))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        int h = config.HiddenSize, a = config.AttentionSize;
        embed = nn.Linear(config.InputFeatures, h);
        if (config.Encoder == PointerEncoder.Lstm)
            encoder = new FusedLSTM(h, h, config.EncoderLayers, batchFirst: true, name: "encoder");
        else
        {
            process = new FusedLSTM(2 * h, h, batchFirst: true, name: "process");
            processToDecoder = nn.Linear(2 * h, h);
        }
        decoder = new FusedLSTM(h, h, batchFirst: true, name: "decoder");
        keyProjection = nn.Linear(h, a, hasBias: false);
        queryProjection = nn.Linear(h, a);
        double bound = 1.0 / Math.Sqrt(h);
        attentionVector = new Parameter(torch.empty(a).uniform_(-1.0 / Math.Sqrt(a), 1.0 / Math.Sqrt(a)));
        goInput = new Parameter(torch.empty(h).uniform_(-bound, bound));
        endMemory = new Parameter(torch.empty(h).uniform_(-bound, bound));
        RegisterComponents();
    }

    // Not a covariant override: TorchSharp's Module.to() reflects over the members by name and two "Config"
    // properties (base and override) collide there.
    public override IModelConfig Config => config;

    /// <summary>The config as its record type.</summary>
    public PointerNetworkConfig PointerConfig => config;

    /// <summary>Mean cross-entropy of the target output positions (the end included), teacher-forced.</summary>
    public override Tensor Loss(ITask task, TaskBatch batch)
    {
        var pointerTask = ExpectTask<IPointerTask>(task);
        var examples = ExpectBatch<PointerTaskBatch>(batch).Examples;
        var (inputs, lengths, targets) = PointerTasks.ToTensors(examples, pointerTask.InputFeatures, ParameterDevice,
            ParameterDtype);
        var logits = forward(inputs, lengths, targets);
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1), ignore_index: -1);
    }

    /// <summary>Decodes the batch (beam size 1: greedy without constraints; more: the task-constrained beam search
    /// of that width) and scores it with the task's metrics.</summary>
    public override MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options)
    {
        var pointerTask = ExpectTask<IPointerTask>(task);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var examples = ExpectBatch<PointerTaskBatch>(batch).Examples;
        var predictions = options.BeamSize == 1
            ? PointerDecoding.Greedy(this, pointerTask, examples, constrained: false)
            : PointerDecoding.Beam(this, pointerTask, examples, options.BeamSize, constrained: true);
        return pointerTask.Score(examples, predictions);
    }

    /// <summary>Chunks of at most 256 sets, fewer for large n (decoding keeps (B, N + 1, H) per row and step).</summary>
    public override int EvaluationChunk(int size, int batchSize) => Math.Max(16, Math.Min(256, 8192 / Math.Max(1, size)));

    /// <remarks>The linear maps' and recurrences' weight matrices are decayed; biases, the attention vector and the
    /// learned go / end vectors are not.</remarks>
    protected override bool IsDecayed(string name) =>
        name.Contains("weight", StringComparison.Ordinal) && !name.Contains("bias", StringComparison.Ordinal);

    /// <summary>
    /// Teacher-forced full forward: inputs (B, N, F) float, lengths (B) int64 in [1, N] (elements beyond are
    /// padding, null: all N), targets (B, T) int64 output positions in [0, N] (-1 marks padding after a row's end;
    /// it is read as the end marker) -> logits (B, T, N + 1), -inf at positions beyond a row's length. Step t reads
    /// go at t = 0 and the embedding of targets[t - 1] after.
    /// </summary>
    public Tensor forward(Tensor inputs, Tensor? lengths, Tensor targets)
    {
        var memory = Encode(inputs, lengths, nameof(inputs));
        if (targets is null || targets.dtype != ScalarType.Int64 || targets.dim() != 2 || targets.shape[0] != inputs.shape[0])
            throw new ArgumentException(
                $"targets: expected (B, T) int64 output positions with B = {inputs.shape[0]}, got " +
                (targets is null ? "null" : $"{targets.dtype} of shape ({string.Join(", ", targets.shape)})") + ".",
                nameof(targets));
        long n = inputs.shape[1];
        if (targets.numel() > 0)
        {
            long low = targets.min().item<long>(), high = targets.max().item<long>();
            if (low < -1 || high > n)
                throw new ArgumentException(
                    $"targets: expected output positions in [0, {n}] (0 the end, j the input j - 1) or -1 for padding, got values in [{low}, {high}].",
                    nameof(targets));
        }
        long steps = targets.shape[1];
        var previous = torch.cat([torch.zeros([targets.shape[0], 1], ScalarType.Int64, targets.device),
            targets.narrow(1, 0, Math.Max(0, steps - 1)).clamp_min(0)], 1).narrow(1, 0, steps);
        var decoderInputs = memory.Inputs.gather(1, previous.unsqueeze(-1).expand(-1, -1, config.HiddenSize));
        var (decoded, _) = decoder.forward(decoderInputs, memory.DecoderState, null);
        return PointerLogits(memory.Keys, memory.Valid, decoded);
    }

    /// <summary>The additive pointer attention: keys (B, N + 1, A), valid (B, N + 1) bool, decoder outputs
    /// (B, T, H) -> logits (B, T, N + 1) with -inf where not valid.</summary>
    internal Tensor PointerLogits(Tensor keys, Tensor valid, Tensor decoded)
    {
        var query = queryProjection.forward(decoded).unsqueeze(2);                  // (B, T, 1, A)
        var scores = torch.tanh(keys.unsqueeze(1) + query).matmul(attentionVector);  // (B, T, N + 1)
        return scores.masked_fill(valid.logical_not().unsqueeze(1), double.NegativeInfinity);
    }

    /// <summary>
    /// The process block of read-process-write on its own: inputs (B, N, F), lengths (B) or null -> q*_P (B, 2H),
    /// the concatenated LSTM state and attention read-out after P steps (zeros for P = 0). Invariant to a
    /// permutation of each row's valid elements.
    /// </summary>
    public Tensor ProcessBlock(Tensor inputs, Tensor? lengths)
    {
        if (process is null)
            throw new InvalidOperationException("ProcessBlock: this network has the Lstm encoder, which has no process block.");
        var (features, valid) = CheckInputs(inputs, lengths, nameof(inputs));
        return Process(embed.forward(features), valid).QStar;
    }

    /// <summary>Encodes a batch for decoding: inputs (B, N, F), lengths (B) int64 or null. The returned step model
    /// decodes these B sets (VocabularySize N + 1); it keeps the encoder's tensors (no autograd).</summary>
    public PointerStepModel EncodeForDecoding(Tensor inputs, Tensor? lengths)
    {
        using var noGrad = torch.no_grad();
        return new PointerStepModel(this, Encode(inputs, lengths, nameof(inputs)));
    }

    internal EncodedSets Encode(Tensor inputs, Tensor? lengths, string argument)
    {
        var (features, valid) = CheckInputs(inputs, lengths, argument);
        long batch = features.shape[0];
        int h = config.HiddenSize;
        var embedded = embed.forward(features);                                      // (B, N, H)
        Tensor elementMemory;
        RecurrentState decoderState;
        if (encoder is not null)
        {
            var rowLengths = valid.sum(1, type: ScalarType.Int64);
            var (outputs, final) = encoder.forward(embedded, null, rowLengths);
            elementMemory = outputs;
            // The decoder starts from the last layer's final (h, c).
            decoderState = new RecurrentState(RnnCell.Lstm, 1, 1, [final[config.EncoderLayers - 1, 0]]);
        }
        else
        {
            elementMemory = embedded;
            var (qStar, c) = Process(embedded, valid);
            var h0 = torch.tanh(processToDecoder!.forward(qStar));
            decoderState = new RecurrentState(RnnCell.Lstm, 1, 1, [torch.stack([h0, c])]);
        }
        var end = endMemory.expand(batch, 1, h);
        var memory = torch.cat([end, elementMemory], 1);                              // (B, N + 1, H)
        var inputsTable = torch.cat([goInput.expand(batch, 1, h), embedded], 1);     // (B, N + 1, H)
        var keys = keyProjection.forward(memory);                                    // (B, N + 1, A)
        var validWithEnd = torch.cat([torch.ones([batch, 1], ScalarType.Bool, valid.device), valid], 1);
        return new EncodedSets(keys, inputsTable, validWithEnd, decoderState);
    }

    /// <summary>P process steps over memory m (B, N, H) with valid (B, N): q_t = LSTM(q*_{t-1}), a = softmax(m q_t)
    /// over the valid elements, r_t = sum a m, q*_t = [q_t, r_t]. Returns q*_P (B, 2H) and the LSTM's c (B, H).</summary>
    private (Tensor QStar, Tensor C) Process(Tensor memory, Tensor valid)
    {
        long batch = memory.shape[0];
        int h = config.HiddenSize;
        var qStar = torch.zeros([batch, 2 * h], memory.dtype, memory.device);
        var c = torch.zeros([batch, h], memory.dtype, memory.device);
        RecurrentState? state = null;
        for (int step = 0; step < config.ProcessSteps; step++)
        {
            var (output, next) = process!.forward(qStar.unsqueeze(1), state, null);
            state = next;
            var q = output.squeeze(1);                                               // (B, H)
            var scores = memory.matmul(q.unsqueeze(-1)).squeeze(-1)                  // (B, N)
                .masked_fill(valid.logical_not(), double.NegativeInfinity);
            var read = torch.softmax(scores, 1).unsqueeze(1).matmul(memory).squeeze(1);
            qStar = torch.cat([q, read], 1);
            c = next[0, 0][1];
        }
        return (qStar, c);
    }

    private (Tensor Features, Tensor Valid) CheckInputs(Tensor inputs, Tensor? lengths, string argument)
    {
        if (inputs is null)
            throw new ArgumentNullException(argument, $"{argument}: expected (B, N, F) features, got null.");
        if (inputs.dim() != 3 || inputs.shape[2] != config.InputFeatures || inputs.shape[1] < 1 || inputs.shape[0] < 1 ||
            !inputs.is_floating_point())
            throw new ArgumentException(
                $"{argument}: expected floating-point (B, N, F) features with B, N >= 1 and F = {config.InputFeatures}, got {inputs.dtype} of shape ({string.Join(", ", inputs.shape)}).",
                argument);
        if (inputs.dtype != ParameterDtype || !DecodingChecks.SameDevice(inputs.device, ParameterDevice))
            throw new ArgumentException(
                $"{argument}: expected {ParameterDtype} on {ParameterDevice} (the network's parameters), got {inputs.dtype} on {inputs.device}.",
                argument);
        long batch = inputs.shape[0], n = inputs.shape[1];
        var positions = torch.arange(n, ScalarType.Int64, inputs.device).unsqueeze(0);
        if (lengths is null) return (inputs, torch.ones([batch, n], ScalarType.Bool, inputs.device));
        if (lengths.dtype != ScalarType.Int64 || lengths.dim() != 1 || lengths.shape[0] != batch)
            throw new ArgumentException(
                $"lengths: expected (B) int64 with B = {batch}, got {lengths.dtype} of shape ({string.Join(", ", lengths.shape)}).",
                nameof(lengths));
        long low = lengths.min().item<long>(), high = lengths.max().item<long>();
        if (low < 1 || high > n)
            throw new ArgumentException($"lengths: expected values in [1, {n}] (N), got values in [{low}, {high}].",
                nameof(lengths));
        return (inputs, positions.lt(lengths.to(inputs.device).unsqueeze(1)));
    }

    /// <summary>One decoder step for <see cref="PointerStepModel"/>: tokens (R) output positions read this step.</summary>
    internal (Tensor Logits, RecurrentState Next) DecodeStep(Tensor tokens, PointerDecodingState state)
    {
        var x = state.Inputs.gather(1, tokens.view(-1, 1, 1).expand(-1, 1, config.HiddenSize)).squeeze(1);
        var (output, next) = decoder.Step(x, state.Decoder);
        var logits = PointerLogits(state.Keys, state.Valid, output.unsqueeze(1)).squeeze(1);
        return (logits, next);
    }
}

/// <summary>What the encoder leaves for the decoder: keys W1 e (B, N + 1, A), the decoder's input table
/// (B, N + 1, H: go, then the element embeddings), valid (B, N + 1) bool, and the decoder's first state.</summary>
internal sealed record EncodedSets(Tensor Keys, Tensor Inputs, Tensor Valid, RecurrentState DecoderState);
