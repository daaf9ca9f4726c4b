using System.Text.Json.Serialization;

namespace HybridSeq.Models.Tasks.Pointer;

/// <summary>
/// Sorting numbers ("Order Matters", Vinyals, Bengio &amp; Kudlur 2016, 4.2): n distinct real numbers uniform in
/// [0, 1), read as a set (one feature each); the target is their indices in ascending order of value. Metric:
/// exact-sequence accuracy (the paper's Table 1), and the share of positions right.
/// </summary>
public sealed record SortNumbersTask(int MinSize = 5, int MaxSize = 5, int[]? EvaluationSizes = null) : IPointerTask
{
    public const string TaskName = "sort-numbers";
    private const int Smallest = 2, Largest = 100;

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public int InputFeatures => 1;
    IReadOnlyList<int> IPointerTask.EvaluationSizes => EvaluationSizes ?? [MinSize];

    public int MaxTargetLength(int size) => size;

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize,
        ((IPointerTask)this).EvaluationSizes, Smallest, Largest);

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

    public IPointerConstraint Constraint(PointerExample example) => new PermutationConstraint(example.Size);

    public IReadOnlyList<PointerMetric> Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(predictions);
        if (examples.Count != predictions.Count || examples.Count == 0)
            throw new ArgumentException(
                $"predictions: expected one per example ({examples.Count}, at least one), got {predictions.Count}.",
                nameof(predictions));
        int exact = 0;
        long right = 0, total = 0;
        for (int e = 0; e < examples.Count; e++)
        {
            var target = examples[e].Target;
            if (predictions[e].SequenceEqual(target)) exact++;
            for (int i = 0; i < target.Length; i++)
                if (i < predictions[e].Length && predictions[e][i] == target[i]) right++;
            total += target.Length;
        }
        return
        [
            new("accuracy", exact / (double)examples.Count, $"{100.0 * exact / examples.Count:F1}%"),
            new("positions", right / (double)total, $"{100.0 * right / total:F1}%"),
        ];
    }

    /// <summary>A permutation: never an element twice, the end only after all n.</summary>
    private sealed class PermutationConstraint(int n) : IPointerConstraint
    {
        public bool AllowsElement(IReadOnlyList<int> prefix, int next) =>
            next >= 0 && next < n && prefix.Count < n && !prefix.Contains(next);

        public bool AllowsEnd(IReadOnlyList<int> prefix) => prefix.Count == n;
    }
}
