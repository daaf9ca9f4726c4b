namespace HybridSeq.Models.Tasks;

/// <summary>One example of a task: the tokens the model reads and the tokens it must predict at the last
/// Answer.Length positions.</summary>
/// <param name="Inputs">(L) token ids the model reads.</param>
/// <param name="Answer">(K) token ids: Answer[i] is the target of the prediction made at position L - K + i.</param>
public sealed record TaskExample(long[] Inputs, long[] Answer);

/// <summary>
/// The task contract: seeded example generation (a pure function of the seed: the same seed always gives the same
/// examples), and answers that are predicted at the last <see cref="AnswerLength"/> positions of a sequence, which
/// fixes the loss (cross-entropy there), the metric (token accuracy there) and evaluation by decoding (feed the
/// inputs through the step contract, take the arg-max there); see <see cref="SequenceTaskExtensions"/>. A task is a
/// JSON-serialisable record registered in <see cref="TaskRegistry"/>, stored in checkpoints.
/// </summary>
public interface ISequenceTask
{
    /// <summary>The registry name (selective-copying, induction-heads).</summary>
    string Name { get; }

    /// <summary>Token ids in use: every id is in [0, VocabularySize).</summary>
    int VocabularySize { get; }

    /// <summary>The length of the training examples.</summary>
    int SequenceLength { get; }

    /// <summary>K: answers per example, predicted at the last K positions.</summary>
    int AnswerLength { get; }

    /// <summary>The lengths the task is evaluated at after training, the training length first (longer ones test
    /// extrapolation).</summary>
    IReadOnlyList<int> EvaluationLengths { get; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    void Validate();

    /// <summary>Draws <paramref name="count"/> examples of length <paramref name="length"/> (null: the training
    /// length) deterministically from <paramref name="seed"/>.</summary>
    TaskExample[] SampleExamples(int count, int seed, int? length = null);
}
