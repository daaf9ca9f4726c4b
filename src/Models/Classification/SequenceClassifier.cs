using System.Text.Json.Serialization;
using HybridSeq.Models.Layers;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Classification;

/// <summary>How a <see cref="SequenceClassifier"/> turns the backbone's outputs (Bt, L, d) into one vector per
/// sequence: the mean over the sequence's own positions, or its last position. Padding is never read.</summary>
public enum ClassifierPooling
{
    Mean,
    Last,
}

/// <summary>
/// Hyper-parameters of a <see cref="SequenceClassifier"/>: one of the sequence families (mamba, lstm, gru, slstm)
/// as a sequence classifier; serialised into checkpoints under that family's name (as
/// <see cref="Forecasting.SequenceForecasterConfig"/> is for forecasting).
/// </summary>
/// <param name="Backbone">The family: mamba, lstm, gru or slstm.</param>
/// <param name="VocabularySize">Token ids the embedding reads, padding included.</param>
/// <param name="Classes">C: the classes the head scores.</param>
/// <param name="ModelDimension">Width of the embedding and the backbone (d_model, the RNN's hidden size).</param>
/// <param name="Layers">Mamba residual layers or stacked RNN layers.</param>
/// <param name="StateDimension">mamba only: the SSM state size N.</param>
/// <param name="Heads">lstm, gru, slstm only: heads of the recurrent weights (must divide ModelDimension).</param>
/// <param name="Pooling">Mean over the sequence (the default; LRA's classifiers pool so) or its last position.</param>
public sealed record SequenceClassifierConfig(
    string Backbone,
    int VocabularySize,
    int Classes,
    int ModelDimension = 64,
    int Layers = 2,
    int StateDimension = 16,
    int Heads = 1,
    [property: JsonConverter(typeof(JsonStringEnumConverter<ClassifierPooling>))]
    ClassifierPooling Pooling = ClassifierPooling.Mean) : IModelConfig
{
    public static IReadOnlyList<string> Backbones { get; } =
        [ModelFamilies.Mamba, ModelFamilies.Lstm, ModelFamilies.Gru, ModelFamilies.Slstm];

    [JsonIgnore]
    public string Family => Backbone;

    public void Validate()
    {
        if (!Backbones.Contains(Backbone))
            throw new ArgumentOutOfRangeException(nameof(Backbone), Backbone,
                $"SequenceClassifierConfig.Backbone must be one of {string.Join(", ", Backbones)}, got '{Backbone}'.");
        Require(VocabularySize >= 1, VocabularySize, nameof(VocabularySize));
        Require(Classes >= 2, Classes, nameof(Classes), "at least 2");
        Require(ModelDimension >= 1, ModelDimension, nameof(ModelDimension));
        Require(Layers >= 1, Layers, nameof(Layers));
        Require(StateDimension >= 1, StateDimension, nameof(StateDimension));
        Require(Heads >= 1, Heads, nameof(Heads));
        if (ModelDimension % Heads != 0)
            throw new ArgumentOutOfRangeException(nameof(Heads), Heads,
                $"SequenceClassifierConfig.Heads must divide ModelDimension = {ModelDimension}, got {Heads}.");
        if (!Enum.IsDefined(Pooling))
            throw new ArgumentOutOfRangeException(nameof(Pooling), Pooling,
                $"SequenceClassifierConfig.Pooling must be Mean or Last, got {Pooling}.");
    }

    /// <summary>A classification task whose token ids fit the vocabulary and whose classes are the head's.</summary>
    public void ValidateFor(ITask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task is not IClassificationTask classification)
            throw new ArgumentException(
                $"config: a sequence classifier reads classification tasks, got {task.Name} (kind {task.Kind}).", "config");
        if (VocabularySize < classification.VocabularySize)
            throw new ArgumentException(
                $"config.VocabularySize must cover the task's {classification.VocabularySize} token ids, got {VocabularySize}.", "config");
        if (Classes != classification.ClassCount)
            throw new ArgumentException(
                $"config.Classes must be the task's {classification.ClassCount} classes, got {Classes}.", "config");
    }

    /// <summary>The default classifier of family <paramref name="backbone"/> for <paramref name="task"/>.</summary>
    public static SequenceClassifierConfig For(string backbone, IClassificationTask task) =>
        new(backbone, task.VocabularySize, task.ClassCount, Heads: backbone == ModelFamilies.Slstm ? 4 : 1);

    private static void Require(bool ok, object value, string name, string expected = "at least 1")
    {
        if (!ok)
            throw new ArgumentOutOfRangeException(name, value, $"SequenceClassifierConfig.{name} must be {expected}, got {value}.");
    }
}

/// <summary>
/// A sequence family as a sequence classifier: embedding -> the backbone (Mamba residual layers and a final RMSNorm,
/// or the fused LSTM / GRU / sLSTM and an RMSNorm) -> pooling over each sequence's own positions
/// (<see cref="ClassifierPooling"/>) -> linear to C class logits. Batches are padded at the end; the backbones are
/// causal, so a sequence's outputs do not depend on its padding, and the pooling masks the padding out: a padded
/// batch classifies every sequence as it would alone (tested).
/// </summary>
public sealed class SequenceClassifier : TaskModel
{
    private readonly SequenceClassifierConfig config;
    private readonly Embedding embedding;
    private readonly FusedRecurrentNetwork? rnn;
    private readonly ModuleList<MambaResidualLayer>? layers;
    private readonly RMSNorm norm_f;
    private readonly Linear head;

    public override IModelConfig Config => config;

    /// <summary>Builds the model, drawing the initial weights from torch's global generator (seed it first).</summary>
    public SequenceClassifier(SequenceClassifierConfig config) : base(nameof(SequenceClassifier))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        int d = config.ModelDimension;
        embedding = nn.Embedding(config.VocabularySize, d);
        switch (config.Backbone)
        {
            case ModelFamilies.Lstm:
                rnn = new FusedLSTM(d, d, config.Layers, config.Heads, batchFirst: true, name: "rnn");
                break;
            case ModelFamilies.Gru:
                rnn = new FusedGRU(d, d, config.Layers, config.Heads, batchFirst: true, name: "rnn");
                break;
            case ModelFamilies.Slstm:
                rnn = new SLSTM(d, d, config.Layers, config.Heads, batchFirst: true, name: "rnn");
                break;
            default:
                var mamba = new MambaConfig(config.VocabularySize, d, config.Layers, config.StateDimension);
                layers = nn.ModuleList(Enumerable.Range(0, config.Layers)
                    .Select(i => new MambaResidualLayer($"layer{i}", mamba)).ToArray());
                break;
        }
        norm_f = new RMSNorm("norm_f", d);
        head = nn.Linear(d, config.Classes);
        using (no_grad())
        {
            nn.init.normal_(embedding.weight!, 0.0, 0.02);
            if (layers is not null)
                foreach (var layer in layers)
                    layer.Mixer.OutputProjection.weight!.div_(Math.Sqrt(config.Layers));
        }
        RegisterComponents();
    }

    /// <summary>tokens (Bt, L) int64 ids in [0, V), padded at the end; lengths (Bt) int64 in [1, L], each
    /// sequence's own tokens -> class logits (Bt, C).</summary>
    public Tensor forward(Tensor tokens, Tensor lengths)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(lengths);
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException(
                $"tokens: expected (Bt, L) int64, got ({string.Join(", ", tokens.shape)}) {tokens.dtype}.", nameof(tokens));
        if (lengths.dim() != 1 || lengths.shape[0] != tokens.shape[0] || lengths.dtype != ScalarType.Int64)
            throw new ArgumentException(
                $"lengths: expected ({tokens.shape[0]}) int64, got ({string.Join(", ", lengths.shape)}) {lengths.dtype}.", nameof(lengths));
        long maxLength = tokens.shape[1];
        using (no_grad())
        {
            if (lengths.min().item<long>() < 1 || lengths.max().item<long>() > maxLength)
                throw new ArgumentException($"lengths: expected every length in [1, {maxLength}].", nameof(lengths));
            if (tokens.min().item<long>() < 0 || tokens.max().item<long>() >= config.VocabularySize)
                throw new ArgumentException(
                    $"tokens: expected ids in [0, {config.VocabularySize}).", nameof(tokens));
        }
        // No dispose scope here: the fused kernels' autograd functions keep managed tensors for their backward.
        var hidden = embedding.forward(tokens);
        if (rnn is not null)
        {
            (hidden, _) = rnn.forward(hidden, null, null);
        }
        else
        {
            foreach (var layer in layers!) hidden = layer.forward(hidden);
        }
        hidden = norm_f.forward(hidden);
        Tensor pooled;
        if (config.Pooling == ClassifierPooling.Last)
        {
            var index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, hidden.shape[2]);
            pooled = hidden.gather(1, index).squeeze(1);
        }
        else
        {
            var mask = arange(maxLength, device: hidden.device).unsqueeze(0).lt(lengths.unsqueeze(1));
            var weights = mask.to(hidden.dtype).unsqueeze(-1);
            pooled = (hidden * weights).sum(1) / lengths.to(hidden.dtype).unsqueeze(1);
        }
        return head.forward(pooled);
    }

    /// <summary>Mean cross-entropy of the classes of a <see cref="ClassificationBatch"/>, with autograd.</summary>
    public override Tensor Loss(ITask task, TaskBatch batch)
    {
        var classification = ExpectTask<IClassificationTask>(task);
        var examples = ExpectBatch<ClassificationBatch>(batch);
        var (tokens, lengths, labels) = ToTensors(classification, examples);
        return nn.functional.cross_entropy(forward(tokens, lengths), labels);
    }

    /// <summary>Correct arg-max classes over the batch's examples (the accuracy metric).</summary>
    public override MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var classification = ExpectTask<IClassificationTask>(task);
        var examples = ExpectBatch<ClassificationBatch>(batch);
        var totals = MetricTotals.For(task);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (tokens, lengths, labels) = ToTensors(classification, examples);
        var (correct, total) = TaskMetrics.CountCorrect(forward(tokens, lengths).argmax(-1), labels);
        totals.Add(0, correct, total);
        return totals;
    }

    /// <summary>The batch as tensors on the model's device: tokens (Bt, Lmax), lengths (Bt), labels (Bt), int64.</summary>
    private (Tensor Tokens, Tensor Lengths, Tensor Labels) ToTensors(IClassificationTask task, ClassificationBatch batch)
    {
        var (tokens, maxLength, lengths, labels) = batch.ToArrays(task.PaddingToken);
        var device = ParameterDevice;
        return (tensor(tokens, [batch.Count, maxLength], ScalarType.Int64).to(device),
                tensor(lengths, [batch.Count], ScalarType.Int64).to(device),
                tensor(labels, [batch.Count], ScalarType.Int64).to(device));
    }

    /// <remarks>The matrices of the backbone and the head are decayed; norms, biases, the embedding, Mamba's A_log
    /// and D are not (as in the language models).</remarks>
    protected override bool IsDecayed(string name) =>
        name.StartsWith("rnn.weight_", StringComparison.Ordinal)
        || name.StartsWith("layer", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal)
            && !name.Contains("norm", StringComparison.Ordinal)
        || name == "head.weight";
}
