using HybridSeq.Models.Tasks.Geometry;
using static TorchSharp.torch;

namespace HybridSeq.Models.Tasks.Pointer;

/// <summary>One example of a pointer task: a set of <see cref="Size"/> elements with F features each, and the target
/// sequence of element indices in [0, Size) (without the end marker; a pointer network writes index i as output
/// position i + 1 and ends with position 0).</summary>
/// <param name="Size">n: elements in the set.</param>
/// <param name="Features">(n * F) row-major: element i's features are Features[i * F .. i * F + F).</param>
/// <param name="Target">The label, element indices.</param>
/// <param name="Points">The point set of the geometric tasks (exact grid coordinates), else null.</param>
public sealed record PointerExample(int Size, double[] Features, int[] Target, PointSet? Points = null);

/// <summary>
/// Which output positions may follow a prefix of one example's output: what constrained decoding masks with. A
/// prefix and the answer are element indices in [0, n) (the end is not part of the prefix).
/// </summary>
public interface IPointerConstraint
{
    /// <summary>Whether element <paramref name="next"/> may follow <paramref name="prefix"/>.</summary>
    bool AllowsElement(IReadOnlyList<int> prefix, int next);

    /// <summary>Whether the sequence may end after <paramref name="prefix"/>.</summary>
    bool AllowsEnd(IReadOnlyList<int> prefix);
}

/// <summary>A batch of a pointer task (<see cref="TaskKinds.Pointer"/>): its examples, plain CPU data.</summary>
public sealed class PointerTaskBatch : TaskBatch
{
    public PointerTaskBatch(PointerExample[] examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Examples = examples;
    }

    public PointerExample[] Examples { get; }

    public override int Count => Examples.Length;

    /// <summary>Input elements plus target indices.</summary>
    public override long ElementCount => Examples.Sum(e => (long)e.Size + e.Target.Length);

    public override TaskBatch Slice(int start, int count) => new PointerTaskBatch(Examples.AsSpan(start, count).ToArray());
}

/// <summary>
/// The tasks whose inputs are sets of elements and whose outputs are indices into them (convex hull, Delaunay
/// triangulation, TSP, sorting numbers), task kind <see cref="TaskKinds.Pointer"/>: seeded examples over a range of set
/// sizes n, a constraint for decoding, and the papers' metrics as sums over examples. A task is a JSON-serialisable
/// record (stored in checkpoints). Its <see cref="ITask.EvaluationSizes"/> start with MaxSize standing for the
/// training distribution (sizes drawn from [MinSize, MaxSize]), then the sizes evaluated on their own, inside and
/// outside the training range.
/// </summary>
public interface IPointerTask : ITask
{
    /// <summary>F: features per element.</summary>
    int InputFeatures { get; }

    /// <summary>Training draws each example's size uniformly from [MinSize, MaxSize].</summary>
    int MinSize { get; }

    /// <summary>The largest training size.</summary>
    int MaxSize { get; }

    /// <summary>The longest target (element indices, without the end) of a set of <paramref name="size"/>.</summary>
    int MaxTargetLength(int size);

    /// <summary>Draws <paramref name="count"/> examples deterministically from <paramref name="seed"/>, each of size
    /// <paramref name="size"/> (null: uniform in the training range).</summary>
    PointerExample[] SampleExamples(int count, int seed, int? size = null);

    /// <summary>The decoding constraint of one example (never point twice, only valid continuations).</summary>
    IPointerConstraint Constraint(PointerExample example);

    /// <summary>The sums of the task's <see cref="ITask.Metrics"/> over <paramref name="predictions"/> (element
    /// indices, end removed), one per example.</summary>
    MetricTotals Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions);
}

/// <summary>What every pointer task shares: checks, sampling sizes, metrics, batch tensors.</summary>
public static class PointerTasks
{
    /// <summary>Exact-sequence accuracy: the primary metric of every pointer task.</summary>
    public static readonly MetricDefinition Accuracy = new("exact-sequence-accuracy",
        "exact-sequence accuracy (greedy decoding; beam search where asked)", "{0} exact sequences",
        MetricGoal.HigherIsBetter, IsFraction: true);

    /// <summary>The evaluation sizes: MaxSize (the training distribution), then the sizes given (default: MinSize,
    /// MaxSize and <paramref name="outside"/>).</summary>
    public static IReadOnlyList<int> EvaluationSizes(int minSize, int maxSize, int[]? evaluateAt, int outside) =>
        [maxSize, .. evaluateAt ?? [minSize, maxSize, outside]];

    /// <summary>Whether two optional size lists hold the same sizes in the same order.</summary>
    public static bool SameSizes(int[]? a, int[]? b) => a is null ? b is null : b is not null && a.SequenceEqual(b);

    /// <summary>Checks that there are predictions, one per example.</summary>
    public static void CheckCounts(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(predictions);
        if (examples.Count != predictions.Count)
            throw new ArgumentException(
                $"predictions: expected one per example ({examples.Count}), got {predictions.Count}.", nameof(predictions));
    }

    /// <summary>Checks a size range and evaluation sizes (each size at least <paramref name="smallest"/>, at most
    /// <paramref name="largest"/>).</summary>
    public static void ValidateSizes(string task, int minSize, int maxSize, IReadOnlyList<int>? evaluationSizes,
        int smallest, int largest)
    {
        if (minSize < smallest || minSize > largest)
            throw new ArgumentOutOfRangeException("MinSize", minSize,
                $"{task}: MinSize must be in [{smallest}, {largest}], got {minSize}.");
        if (maxSize < minSize || maxSize > largest)
            throw new ArgumentOutOfRangeException("MaxSize", maxSize,
                $"{task}: MaxSize must be in [MinSize = {minSize}, {largest}], got {maxSize}.");
        if (evaluationSizes is null || evaluationSizes.Count == 0)
            throw new ArgumentOutOfRangeException("EvaluateAt", evaluationSizes,
                $"{task}: EvaluateAt must list at least one size.");
        foreach (int size in evaluationSizes)
            if (size < smallest || size > largest)
                throw new ArgumentOutOfRangeException("EvaluateAt", size,
                    $"{task}: every evaluation size must be in [{smallest}, {largest}], got {size}.");
    }

    /// <summary>The size of one example: <paramref name="size"/> when given (checked against the limits), else
    /// uniform in [minSize, maxSize].</summary>
    public static int DrawSize(Random random, int? size, int minSize, int maxSize, int smallest, int largest)
    {
        if (size is int fixedSize)
        {
            if (fixedSize < smallest || fixedSize > largest)
                throw new ArgumentOutOfRangeException(nameof(size), fixedSize,
                    $"size: expected a set size in [{smallest}, {largest}], got {fixedSize}.");
            return fixedSize;
        }
        return random.Next(minSize, maxSize + 1);
    }

    /// <summary>
    /// Batch tensors of <paramref name="examples"/> on <paramref name="device"/> in <paramref name="dtype"/>:
    /// inputs (B, N, F) (N the largest size, padding zeros), lengths (B) int64, and targets (B, T) int64 as output
    /// positions (element i is i + 1, then the end 0, then -1 padding; T the longest target plus one).
    /// </summary>
    public static (Tensor Inputs, Tensor Lengths, Tensor Targets) ToTensors(IReadOnlyList<PointerExample> examples,
        int features, Device device, ScalarType dtype = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
            throw new ArgumentException("examples: expected at least one example, got none.", nameof(examples));
        int batch = examples.Count, n = examples.Max(e => e.Size), t = examples.Max(e => e.Target.Length) + 1;
        var inputs = new double[batch * n * features];
        var lengths = new long[batch];
        var targets = new long[batch * t];
        Array.Fill(targets, -1L);
        for (int b = 0; b < batch; b++)
        {
            var e = examples[b];
            if (e.Features.Length != e.Size * features)
                throw new ArgumentException(
                    $"examples[{b}]: expected {e.Size} x {features} features, got {e.Features.Length}.", nameof(examples));
            e.Features.CopyTo(inputs, b * n * features);
            lengths[b] = e.Size;
            for (int i = 0; i < e.Target.Length; i++) targets[b * t + i] = e.Target[i] + 1;
            targets[b * t + e.Target.Length] = 0;
        }
        return (tensor(inputs, [batch, n, features]).to(dtype).to(device), tensor(lengths).to(device),
            tensor(targets, [batch, t]).to(device));
    }
}
