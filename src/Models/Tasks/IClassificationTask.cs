namespace HybridSeq.Models.Tasks;

/// <summary>One example of a sequence classification task: the tokens the model reads and the class of the whole
/// sequence.</summary>
/// <param name="Inputs">(L) token ids, L varying from example to example; none is the task's padding token.</param>
/// <param name="Label">The class, in [0, ClassCount).</param>
public sealed record ClassificationExample(long[] Inputs, int Label);

/// <summary>
/// The sequence classification tasks (kind <see cref="TaskKinds.Classification"/>) of the task contract
/// <see cref="ITask"/>: a token sequence of varying length in, one of <see cref="ClassCount"/> classes out (ListOps
/// of the Long Range Arena). A model reads the batch padded to its longest sequence with <see cref="PaddingToken"/>
/// (<see cref="ClassificationBatch.ToArrays"/>), masks the padding when it pools, and is scored by the accuracy of
/// its arg-max class. Examples are a pure function of the seed, as for every task.
/// </summary>
public interface IClassificationTask : ITask
{
    /// <summary>Token ids in use, the padding token included: every id is in [0, VocabularySize).</summary>
    int VocabularySize { get; }

    /// <summary>The id that pads a batch's shorter sequences; it never occurs inside an example.</summary>
    long PaddingToken { get; }

    /// <summary>Number of classes C: labels are in [0, C).</summary>
    int ClassCount { get; }

    /// <summary>The longest sequence of the training distribution (models size their buffers by it).</summary>
    int MaxSequenceLength { get; }

    /// <summary>Draws <paramref name="count"/> examples deterministically from <paramref name="seed"/>, of the
    /// training distribution (<paramref name="size"/> null) or of size <paramref name="size"/> (the task says what a
    /// size means, in <see cref="ITask.SizeName"/>).</summary>
    ClassificationExample[] SampleExamples(int count, int seed, int? size = null);

    string ITask.Kind => TaskKinds.Classification;

    IReadOnlyList<MetricDefinition> ITask.Metrics => ClassificationMetrics.All;

    TaskBatch ITask.Sample(int count, int seed, int? size) => new ClassificationBatch(SampleExamples(count, seed, size));
}

/// <summary>The metric of every classification task: held-out accuracy of the arg-max class.</summary>
public static class ClassificationMetrics
{
    public const string Accuracy = "accuracy";

    public static IReadOnlyList<MetricDefinition> All { get; } =
    [
        new(Accuracy, "classification accuracy", "accuracy {0}", MetricGoal.HigherIsBetter, IsFraction: true),
    ];
}

/// <summary>A batch of a classification task: examples of varying length.</summary>
public sealed class ClassificationBatch : TaskBatch
{
    public ClassificationBatch(ClassificationExample[] examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Examples = examples;
    }

    public ClassificationExample[] Examples { get; }

    public override int Count => Examples.Length;

    /// <summary>The input tokens of the batch (padding not counted).</summary>
    public override long ElementCount => Examples.Sum(e => (long)e.Inputs.Length);

    public override TaskBatch Slice(int start, int count) =>
        new ClassificationBatch(Examples.AsSpan(start, count).ToArray());

    /// <summary>The batch as flat row-major arrays: tokens (Bt, Lmax) padded at the end with
    /// <paramref name="paddingToken"/>, lengths (Bt) and labels (Bt). Lmax is the longest example; an empty
    /// example or a batch of none is an <see cref="ArgumentException"/> (a classifier needs a token to pool).</summary>
    public (long[] Tokens, int MaxLength, long[] Lengths, long[] Labels) ToArrays(long paddingToken)
    {
        if (Examples.Length == 0)
            throw new ArgumentException("batch: expected at least one example, got none.", "batch");
        int maxLength = 0;
        for (int e = 0; e < Examples.Length; e++)
        {
            if (Examples[e].Inputs.Length == 0)
                throw new ArgumentException($"batch: example {e} has no tokens; a classifier needs at least one.", "batch");
            maxLength = Math.Max(maxLength, Examples[e].Inputs.Length);
        }
        var tokens = new long[Examples.Length * maxLength];
        Array.Fill(tokens, paddingToken);
        var lengths = new long[Examples.Length];
        var labels = new long[Examples.Length];
        for (int e = 0; e < Examples.Length; e++)
        {
            Examples[e].Inputs.CopyTo(tokens, e * maxLength);
            lengths[e] = Examples[e].Inputs.Length;
            labels[e] = Examples[e].Label;
        }
        return (tokens, maxLength, lengths, labels);
    }
}
