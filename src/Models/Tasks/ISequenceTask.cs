namespace HybridSeq.Models.Tasks;

/// <summary>One example of a task: the tokens the model reads and the tokens it must predict at the last
/// Answer.Length positions.</summary>
/// <param name="Inputs">(L) token ids the model reads.</param>
/// <param name="Answer">(K) token ids: Answer[i] is the target of the prediction made at position L - K + i.</param>
public sealed record TaskExample(long[] Inputs, long[] Answer);

/// <summary>
/// The token tasks (kind <see cref="TaskKinds.Tokens"/>) of the task contract <see cref="ITask"/>: seeded example
/// generation (a pure function of the seed: the same seed always gives the same examples), and answers that are
/// predicted at the last <see cref="AnswerLength"/> positions of a sequence, which fixes the loss (cross-entropy
/// there), the metrics (token accuracy there, by the full forward and by step-mode greedy decoding through the step
/// contract); see <see cref="SequenceTaskExtensions"/> and <see cref="LanguageModel"/>. A task is a JSON-serialisable
/// record registered in <see cref="TaskRegistry"/>, stored in checkpoints.
/// </summary>
public interface ISequenceTask : ITask
{
    /// <summary>Token ids in use: every id is in [0, VocabularySize).</summary>
    int VocabularySize { get; }

    /// <summary>The length of the training examples.</summary>
    int SequenceLength { get; }

    /// <summary>K: answers per example, predicted at the last K positions.</summary>
    int AnswerLength { get; }

    /// <summary>The lengths the task is evaluated at after training, the training length first (longer ones test
    /// extrapolation).</summary>
    IReadOnlyList<int> EvaluationLengths { get; }

    /// <summary>Draws <paramref name="count"/> examples of length <paramref name="length"/> (null: the training
    /// length) deterministically from <paramref name="seed"/>.</summary>
    TaskExample[] SampleExamples(int count, int seed, int? length = null);

    string ITask.Kind => TaskKinds.Tokens;

    IReadOnlyList<MetricDefinition> ITask.Metrics => SequenceTaskMetrics.All;

    string ITask.SizeName => "length";

    IReadOnlyList<int> ITask.EvaluationSizes => EvaluationLengths;

    TaskBatch ITask.Sample(int count, int seed, int? size) => new TokenTaskBatch(SampleExamples(count, seed, size));
}

/// <summary>The metrics of every token task: held-out token accuracy at the answer positions by the full forward
/// (the primary one) and by step-mode greedy decoding (the recurrent path generation uses).</summary>
public static class SequenceTaskMetrics
{
    public const string Accuracy = "accuracy";
    public const string StepModeAccuracy = "step-accuracy";

    public static IReadOnlyList<MetricDefinition> All { get; } =
    [
        new(Accuracy, "token accuracy", "accuracy {0} full forward", MetricGoal.HigherIsBetter, IsFraction: true),
        new(StepModeAccuracy, "step-mode greedy decoding accuracy", "{0} step-mode decoding", MetricGoal.HigherIsBetter,
            IsFraction: true),
    ];
}

/// <summary>A batch of a token task: examples of one length.</summary>
public sealed class TokenTaskBatch : TaskBatch
{
    public TokenTaskBatch(TaskExample[] examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Examples = examples;
    }

    public TaskExample[] Examples { get; }

    public override int Count => Examples.Length;

    public override long ElementCount => Examples.Sum(e => (long)e.Inputs.Length);

    public override TaskBatch Slice(int start, int count) => new TokenTaskBatch(Examples.AsSpan(start, count).ToArray());
}
