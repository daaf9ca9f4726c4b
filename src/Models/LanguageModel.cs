using HybridSeq.Models.Decoding;
using HybridSeq.Models.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models;

/// <summary>The config of a language-model family (mamba, lstm, gru, slstm): a vocabulary and the family's sizes.</summary>
public interface ILanguageModelConfig : IModelConfig
{
    /// <summary>Number of token ids; tokens are in [0, VocabularySize).</summary>
    int VocabularySize { get; }
}

/// <summary>
/// What every language-model family offers: forward(tokens (Bt, L) int64) -> logits (Bt, L, V) for training and
/// evaluation, the step contract (<see cref="IStepModel"/>) for decoding, and the model contract
/// (<see cref="TaskModel"/>) for the token tasks (<see cref="ISequenceTask"/>): the loss is the cross-entropy at the
/// answer positions, the metrics the token accuracy there by the full forward and by step-mode greedy decoding.
/// </summary>
public abstract class LanguageModel : TaskModel, IStepModel
{
    protected LanguageModel(string name) : base(name)
    {
    }

    public int VocabularySize => ((ILanguageModelConfig)Config).VocabularySize;

    /// <summary>tokens (Bt, L) int64 ids in [0, V) -> logits (Bt, L, V), from the zero state.</summary>
    public abstract Tensor forward(Tensor tokens);

    public abstract IDecodingState InitialState(long batch);

    public abstract (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state);

    /// <summary>Mean cross-entropy of the answers of a <see cref="TokenTaskBatch"/>, with autograd.</summary>
    public override Tensor Loss(ITask task, TaskBatch batch)
    {
        var sequenceTask = ExpectTask<ISequenceTask>(task);
        var tokens = ExpectBatch<TokenTaskBatch>(batch);
        var (inputs, answers) = sequenceTask.ToTensors(tokens.Examples, ParameterDevice);
        return sequenceTask.AnswerLoss(forward(inputs), answers);
    }

    /// <summary>Correct answer tokens by the full forward's arg-max (metric 0) and by step-mode greedy decoding
    /// through the step contract (metric 1, skipped with PrimaryOnly), over the batch's answer tokens.</summary>
    public override MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sequenceTask = ExpectTask<ISequenceTask>(task);
        var tokens = ExpectBatch<TokenTaskBatch>(batch);
        var totals = MetricTotals.For(task);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (inputs, answers) = sequenceTask.ToTensors(tokens.Examples, ParameterDevice);
        var predicted = sequenceTask.AnswerLogits(forward(inputs)).argmax(-1);
        var (correct, total) = TaskMetrics.CountCorrect(predicted, answers);
        totals.Add(0, correct, total);
        if (options.PrimaryOnly) return totals;
        var (stepCorrect, stepTotal) = TaskMetrics.CountCorrect(sequenceTask.DecodeAnswers(this, inputs), answers);
        totals.Add(1, stepCorrect, stepTotal);
        return totals;
    }

    /// <summary>Checks forward's tokens: (Bt, L) int64 ids in the vocabulary.</summary>
    protected void CheckSequenceTokens(Tensor tokens) =>
        DecodingChecks.Tokens(tokens, 2, VocabularySize, nameof(tokens), "(Bt, L)");

    /// <summary>Checks Step's tokens ((Bt) int64 ids in the vocabulary) and state; returns the state typed.</summary>
    protected TState CheckStep<TState>(Tensor tokens, IDecodingState state) where TState : class, IDecodingState
    {
        DecodingChecks.Tokens(tokens, 1, VocabularySize, nameof(tokens), "(Bt)");
        return DecodingChecks.State<TState>(state, tokens.shape[0], tokens.device, GetType().Name, nameof(state));
    }

    /// <summary>Checks InitialState's batch size.</summary>
    protected static void CheckBatch(long batch)
    {
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected at least 1 sequence, got {batch}.");
    }

    /// <summary>The check of <see cref="IModelConfig.ValidateFor"/> for language models: a token task whose ids fit
    /// the vocabulary.</summary>
    internal static void RequireVocabulary(int vocabularySize, ITask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task is not ISequenceTask sequenceTask)
            throw new ArgumentException(
                $"config: a language model reads token tasks, got {task.Name} (kind {task.Kind}).", "config");
        if (vocabularySize < sequenceTask.VocabularySize)
            throw new ArgumentException(
                $"config.VocabularySize must cover the task's {sequenceTask.VocabularySize} token ids, got {vocabularySize}.",
                "config");
    }
}
