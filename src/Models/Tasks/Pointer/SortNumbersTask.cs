using System.Text.Json.Serialization;

namespace HybridSeq.Models.Tasks.Pointer;

/// <summary>
/// Sorting numbers ("Order Matters", Vinyals, Bengio &amp; Kudlur 2016, 4.2): n distinct real numbers uniform in
/// [0, 1), read as a set (one feature each); the target is their indices in ascending order of value. Metrics:
/// exact-sequence accuracy (the paper's Table 1) and the share of output positions right.
/// </summary>
/// <param name="MinSize">Smallest training n.</param>
/// <param name="MaxSize">Largest training n.</param>
/// <param name="EvaluateAt">The n evaluated on their own after training (null: MinSize, MaxSize, MaxSize + 5).</param>
public sealed record SortNumbersTask(int MinSize = 5, int MaxSize = 5, int[]? EvaluateAt = null) : IPointerTask
{
    public const string TaskName = "sort-numbers";
    private const int Smallest = 2, Largest = 100;

    /// <summary>Field equality, EvaluateAt compared element by element (a record compares arrays by reference).</summary>
    public bool Equals(SortNumbersTask? other) => other is not null && MinSize == other.MinSize && MaxSize == other.MaxSize &&
        PointerTasks.SameSizes(EvaluateAt, other.EvaluateAt);

    public override int GetHashCode() => HashCode.Combine(MinSize, MaxSize, EvaluateAt?.Length);

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public string Kind => TaskKinds.Pointer;
    [JsonIgnore] public string SizeName => "n";
    [JsonIgnore] public int InputFeatures => 1;
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes =>
        EvaluateAt is null && MinSize == MaxSize
            ? [MaxSize]
            : PointerTasks.EvaluationSizes(MinSize, MaxSize, EvaluateAt, Math.Min(Largest, MaxSize + 5));

    /// <summary>One list for every instance, so that records of equal fields stay equal.</summary>
    private static readonly IReadOnlyList<MetricDefinition> MetricList =
    [
        PointerTasks.Accuracy,
        new("position-accuracy", "share of output positions right", "{0} positions", MetricGoal.HigherIsBetter, true),
    ];

    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => MetricList;

    public int MaxTargetLength(int size) => size;

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize, EvaluateAt ?? [MinSize], Smallest, Largest);

    public PointerExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var random = new Random(seed);
        var examples = new PointerExample[count];
        for (int e = 0; e < count; e++)
        {
            int n = PointerTasks.DrawSize(random, size, MinSize, MaxSize, Smallest, Largest);
            var values = new double[n];
            var seen = new HashSet<double>();
            for (int i = 0; i < n; i++)
            {
                do values[i] = random.NextDouble(); while (!seen.Add(values[i]));
            }
            var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
            examples[e] = new PointerExample(n, values, order);
        }
        return examples;
    }

    public TaskBatch Sample(int count, int seed, int? size = null) => new PointerTaskBatch(SampleExamples(count, seed, size));

    public IPointerConstraint Constraint(PointerExample example) => new PermutationConstraint(example.Size);

    public MetricTotals Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        PointerTasks.CheckCounts(examples, predictions);
        var totals = new MetricTotals(Metrics.Count);
        for (int e = 0; e < examples.Count; e++)
        {
            var target = examples[e].Target;
            totals.Add(0, predictions[e].SequenceEqual(target) ? 1 : 0, 1);
            int right = 0;
            for (int i = 0; i < target.Length; i++)
                if (i < predictions[e].Length && predictions[e][i] == target[i]) right++;
            totals.Add(1, right, target.Length);
        }
        return totals;
    }

    /// <summary>A permutation: never an element twice, the end only after all n.</summary>
    private sealed class PermutationConstraint(int n) : IPointerConstraint
    {
        public bool AllowsElement(IReadOnlyList<int> prefix, int next) =>
            next >= 0 && next < n && prefix.Count < n && !prefix.Contains(next);

        public bool AllowsEnd(IReadOnlyList<int> prefix) => prefix.Count == n;
    }
}
