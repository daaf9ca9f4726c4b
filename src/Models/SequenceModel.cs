using System.Text.Json.Serialization;
using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models;

/// <summary>
/// Hyper-parameters of a <see cref="SequenceModel"/>: a backbone of any family with the task's input and output shape;
/// serialised into checkpoints under the backbone family's name.
/// </summary>
/// <param name="Network">The backbone (its family names the model family).</param>
/// <param name="InputVocabulary">&gt; 0: token inputs embedded from this vocabulary; 0: real-valued inputs.</param>
/// <param name="InputChannels">Real values per step (1 for token inputs).</param>
/// <param name="Outputs">O: values per output vector (regression outputs or classes).</param>
/// <param name="Readout">Last step or every step.</param>
public sealed record SequenceModelConfig(
    BackboneConfig Network,
    int InputVocabulary,
    int InputChannels,
    int Outputs,
    [property: JsonConverter(typeof(JsonStringEnumConverter<SequenceReadout>))] SequenceReadout Readout) : IModelConfig
{
    [JsonIgnore] public string Family => Network.Family;

    public void Validate()
    {
        if (Network is null)
            throw new ArgumentOutOfRangeException(nameof(Network), null, "SequenceModelConfig.Network must be a backbone config, got null.");
        Network.Validate();
        if (InputVocabulary < 0)
            throw new ArgumentOutOfRangeException(nameof(InputVocabulary), InputVocabulary,
                $"SequenceModelConfig.InputVocabulary must be 0 (real-valued inputs) or a vocabulary size, got {InputVocabulary}.");
        if (InputChannels < 1)
            throw new ArgumentOutOfRangeException(nameof(InputChannels), InputChannels,
                $"SequenceModelConfig.InputChannels must be at least 1, got {InputChannels}.");
        if (Outputs < 1)
            throw new ArgumentOutOfRangeException(nameof(Outputs), Outputs, $"SequenceModelConfig.Outputs must be at least 1, got {Outputs}.");
        if (!Enum.IsDefined(Readout))
            throw new ArgumentOutOfRangeException(nameof(Readout), Readout, $"SequenceModelConfig.Readout must be LastStep or EveryStep, got {Readout}.");
    }

    /// <summary>The task must be an <see cref="IBackboneTask"/> of exactly this input and output shape.</summary>
    public void ValidateFor(ITask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task is not IBackboneTask t)
            throw new ArgumentException($"config: a {Family} sequence model reads backbone tasks, got {task.Name} (kind {task.Kind}).", "config");
        if (t.InputVocabulary != InputVocabulary || t.InputChannels != InputChannels || t.Outputs != Outputs || t.Readout != Readout)
            throw new ArgumentException(
                $"config: the {Family} model reads vocabulary {InputVocabulary} / {InputChannels} channel(s) and writes {Outputs} output(s) at {Readout}; the task {task.Name} has vocabulary {t.InputVocabulary} / {t.InputChannels} channel(s), {t.Outputs} output(s) at {t.Readout}.",
                "config");
    }

    /// <summary>The default model of backbone family <paramref name="family"/> for <paramref name="task"/> (the
    /// convolutional backbones sized to cover its length).</summary>
    public static SequenceModelConfig For(string family, IBackboneTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return new(BackboneConfig.For(family, task.SequenceLength), task.InputVocabulary, task.InputChannels, task.Outputs, task.Readout);
    }
}

/// <summary>
/// The one "backbone + head" wiring: inputs (token ids embedded, or real values projected by a linear map) -> a
/// <see cref="SequenceBackbone"/> of any family -> a linear head, read out at the last step ((Bt, O): the adding
/// problem), pooled over each sequence ((Bt, O): ListOps, padded sequences of varying length) or at every step
/// ((Bt, L, O): copy memory). The task defines the loss and the
/// metrics over those outputs (<see cref="IBackboneTask"/>), so every backbone trains on every such task.
/// </summary>
public sealed class SequenceModel : TaskModel
{
    private readonly SequenceModelConfig config;
    private readonly Embedding? embedding;
    private readonly Linear? input_proj;
    private readonly SequenceBackbone backbone;
    private readonly Linear head;

    public override IModelConfig Config => config;

    /// <summary>Builds the model, drawing the initial weights from torch's global generator (seed it first).</summary>
    public SequenceModel(SequenceModelConfig config) : base(nameof(SequenceModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        backbone = SequenceBackbones.Create(config.Network, "backbone");
        if (config.InputVocabulary > 0)
            embedding = nn.Embedding(config.InputVocabulary, backbone.InputWidth);
        else
            input_proj = nn.Linear(config.InputChannels, backbone.InputWidth);
        head = nn.Linear(backbone.OutputWidth, config.Outputs);
        RegisterComponents();
    }

    /// <summary>The backbone between input and head.</summary>
    public SequenceBackbone Backbone => backbone;

    /// <summary>inputs: tokens (Bt, L) int64 or values (Bt, L, C) -> outputs (Bt, O) at the last step or pooled over
    /// the sequence, or (Bt, L, O) at every step. <paramref name="lengths"/> (Bt) int64 in [1, L], for sequences
    /// padded at the end: the last step and the mean are each sequence's own (the backbones are causal, so a
    /// sequence's outputs do not depend on its padding); null: every sequence has L steps.</summary>
    public Tensor forward(Tensor inputs, Tensor? lengths = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (lengths is not null)
        {
            if (lengths.dim() != 1 || lengths.shape[0] != inputs.shape[0] || lengths.dtype != ScalarType.Int64)
                throw new ArgumentException(
                    $"lengths: expected ({inputs.shape[0]}) int64, got ({string.Join(", ", lengths.shape)}) {lengths.dtype}.",
                    nameof(lengths));
            if (inputs.dim() < 2 || lengths.min().item<long>() < 1 || lengths.max().item<long>() > inputs.shape[1])
                throw new ArgumentException(
                    $"lengths: expected every length in [1, {(inputs.dim() < 2 ? 0 : inputs.shape[1])}].", nameof(lengths));
        }
        Tensor hidden;
        if (embedding is not null)
        {
            Decoding.DecodingChecks.Tokens(inputs, 2, config.InputVocabulary, nameof(inputs), "(Bt, L)");
            hidden = embedding.forward(inputs);
        }
        else
        {
            if (inputs.dim() != 3 || inputs.shape[2] != config.InputChannels || inputs.shape[1] < 1)
                throw new ArgumentException(
                    $"inputs: expected (Bt, L, {config.InputChannels}) values with L >= 1, got ({string.Join(", ", inputs.shape)}).",
                    nameof(inputs));
            hidden = input_proj!.forward(inputs);
        }
        hidden = backbone.forward(hidden);
        return config.Readout switch
        {
            SequenceReadout.EveryStep => head.forward(hidden),
            SequenceReadout.LastStep when lengths is null => head.forward(hidden[.., -1, ..]),
            SequenceReadout.LastStep => head.forward(hidden.gather(1,
                (lengths - 1).view(-1, 1, 1).expand(-1, 1, hidden.shape[2])).squeeze(1)),
            _ => head.forward(MeanOverOwnSteps(hidden, lengths)),
        };
    }

    /// <summary>hidden (Bt, L, d) -> (Bt, d): the mean over steps [0, lengths[b]) of each row (all L steps when
    /// lengths is null).</summary>
    private static Tensor MeanOverOwnSteps(Tensor hidden, Tensor? lengths)
    {
        if (lengths is null) return hidden.mean([1]);
        var own = arange(hidden.shape[1], device: hidden.device).unsqueeze(0).lt(lengths.unsqueeze(1));
        return (hidden * own.to(hidden.dtype).unsqueeze(-1)).sum(1) / lengths.to(hidden.dtype).unsqueeze(1);
    }

    public override Tensor Loss(ITask task, TaskBatch batch)
    {
        var backboneTask = ExpectTask<IBackboneTask>(task);
        var sequences = ExpectBatch<SequenceBatch>(batch);
        return backboneTask.Loss(forward(sequences.InputTensor(ParameterDevice, ParameterDtype),
            sequences.LengthTensor(ParameterDevice)), sequences);
    }

    public override MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var backboneTask = ExpectTask<IBackboneTask>(task);
        var sequences = ExpectBatch<SequenceBatch>(batch);
        var totals = MetricTotals.For(task);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        backboneTask.AddMetrics(totals, forward(sequences.InputTensor(ParameterDevice, ParameterDtype),
            sequences.LengthTensor(ParameterDevice)), sequences);
        return totals;
    }

    /// <remarks>The backbone's matrices and the input and head weights are decayed; biases, norms and the embedding
    /// are not.</remarks>
    protected override bool IsDecayed(string parameterName) =>
        parameterName.StartsWith("backbone.", StringComparison.Ordinal)
            ? backbone.IsDecayed(parameterName["backbone.".Length..])
            : parameterName is "input_proj.weight" or "head.weight";
}
