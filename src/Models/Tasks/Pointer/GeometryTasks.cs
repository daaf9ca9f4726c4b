using System.Text.Json.Serialization;
using HybridSeq.Models.Tasks.Geometry;

namespace HybridSeq.Models.Tasks.Pointer;

/// <summary>Sampling shared by the geometric tasks: n distinct points uniform in the unit square (features x, y).</summary>
internal static class PointSampling
{
    public static PointerExample[] Sample(int count, int seed, int? size, int minSize, int maxSize, int smallest,
        int largest, Func<PointSet, int[]> label)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var random = new Random(seed);
        var examples = new PointerExample[count];
        for (int e = 0; e < count; e++)
        {
            int n = PointerTasks.DrawSize(random, size, minSize, maxSize, smallest, largest);
            var points = PointSet.Uniform(n, random);
            var features = new double[2 * n];
            for (int i = 0; i < n; i++)
            {
                features[2 * i] = points.X(i);
                features[2 * i + 1] = points.Y(i);
            }
            examples[e] = new PointerExample(n, features, label(points), points);
        }
        return examples;
    }

    public static PointSet PointsOf(PointerExample example) => example.Points ?? throw new ArgumentException(
        "example: expected an example of a geometric task (with its point set), got one without points.", nameof(example));
}

/// <summary>
/// Planar convex hull (Vinyals et al. 2015, 4.2): n points uniform in the unit square; the target is the hull's
/// vertices counter-clockwise from the lowest index (<see cref="ConvexHull.Vertices"/>: collinear boundary points are
/// not vertices). Metrics: exact-sequence accuracy; area coverage (the predicted polygon's area over the hull's,
/// averaged over the predictions that are simple polygons); the share of invalid predictions (not a simple polygon:
/// the paper prints FAIL for the area when more than 1% are).
/// </summary>
/// <param name="MinSize">Smallest training n.</param>
/// <param name="MaxSize">Largest training n.</param>
/// <param name="EvaluateAt">The n evaluated on their own after training (null: MinSize, MaxSize, 2 MaxSize).</param>
public sealed record ConvexHullTask(int MinSize = 5, int MaxSize = 10, int[]? EvaluateAt = null) : IPointerTask
{
    public const string TaskName = "convex-hull";
    private const int Smallest = 3, Largest = 500;

    /// <summary>The share of invalid predictions above which the paper prints FAIL for the area.</summary>
    public const double FailShare = 0.01;

    /// <summary>Field equality, EvaluateAt compared element by element (a record compares arrays by reference).</summary>
    public bool Equals(ConvexHullTask? other) => other is not null && MinSize == other.MinSize && MaxSize == other.MaxSize &&
        PointerTasks.SameSizes(EvaluateAt, other.EvaluateAt);

    public override int GetHashCode() => HashCode.Combine(MinSize, MaxSize, EvaluateAt?.Length);

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public string Kind => TaskKinds.Pointer;
    [JsonIgnore] public string SizeName => "n";
    [JsonIgnore] public int InputFeatures => 2;
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes =>
        PointerTasks.EvaluationSizes(MinSize, MaxSize, EvaluateAt, Math.Min(Largest, 2 * MaxSize));

    /// <summary>One list for every instance, so that records of equal fields stay equal.</summary>
    private static readonly IReadOnlyList<MetricDefinition> MetricList =
    [
        PointerTasks.Accuracy,
        new("area-coverage", "area coverage of the valid predictions", "area {0}", MetricGoal.HigherIsBetter, true),
        new("invalid-share", "predictions that are not simple polygons (area FAIL above 1%)", "{0} invalid",
            MetricGoal.LowerIsBetter, true),
    ];

    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => MetricList;

    public int MaxTargetLength(int size) => size;

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize, EvaluateAt ?? [MinSize], Smallest, Largest);

    public PointerExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        return PointSampling.Sample(count, seed, size, MinSize, MaxSize, Smallest, Largest, ConvexHull.Vertices);
    }

    public TaskBatch Sample(int count, int seed, int? size = null) => new PointerTaskBatch(SampleExamples(count, seed, size));

    public IPointerConstraint Constraint(PointerExample example) => new HullConstraint(PointSampling.PointsOf(example));

    public MetricTotals Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        PointerTasks.CheckCounts(examples, predictions);
        var totals = new MetricTotals(Metrics.Count);
        for (int e = 0; e < examples.Count; e++)
        {
            totals.Add(0, GeometryMetrics.ExactMatch(predictions[e], examples[e].Target) ? 1 : 0, 1);
            double? coverage = GeometryMetrics.HullAreaCoverage(PointSampling.PointsOf(examples[e]), predictions[e]);
            if (coverage is double c) totals.Add(1, c, 1);
            totals.Add(2, coverage is null ? 1 : 0, 1);
        }
        return totals;
    }

    /// <summary>Hull decoding: never a point twice; the first point has the lowest index of the polygon (the
    /// label's start); every new point is strictly left of every edge so far and leaves the first point strictly
    /// left of the new edge (a strictly convex counter-clockwise polygon); the end needs three points. When no
    /// point fits, the end is allowed, so decoding never dead-ends.</summary>
    private sealed class HullConstraint(PointSet points) : IPointerConstraint
    {
        public bool AllowsElement(IReadOnlyList<int> prefix, int next)
        {
            if (next < 0 || next >= points.Count || prefix.Contains(next)) return false;
            if (prefix.Count == 0) return true;
            if (next < prefix[0]) return false;
            if (prefix.Count >= 2)
            {
                for (int i = 0; i + 1 < prefix.Count; i++)
                    if (ExactPredicates.Orient(points, prefix[i], prefix[i + 1], next) <= 0) return false;
                if (ExactPredicates.Orient(points, prefix[^1], next, prefix[0]) <= 0) return false;
            }
            return true;
        }

        public bool AllowsEnd(IReadOnlyList<int> prefix) =>
            prefix.Count >= 3 || !Enumerable.Range(0, points.Count).Any(i => AllowsElement(prefix, i));
    }
}

/// <summary>
/// Delaunay triangulation (Vinyals et al. 2015, 4.3): n points uniform in the unit square; the target is the
/// triangles as sorted index triples in lexicographic order, flattened (i1 j1 k1 i2 j2 k2 ...). Metrics:
/// exact-sequence accuracy and triangle coverage (the share of the true triangles predicted, averaged).
/// </summary>
/// <param name="MinSize">Smallest training n.</param>
/// <param name="MaxSize">Largest training n.</param>
/// <param name="EvaluateAt">The n evaluated on their own after training (null: MinSize, MaxSize, MaxSize + 3).</param>
public sealed record DelaunayTask(int MinSize = 5, int MaxSize = 7, int[]? EvaluateAt = null) : IPointerTask
{
    public const string TaskName = "delaunay";
    private const int Smallest = 3, Largest = 100;

    /// <summary>Field equality, EvaluateAt compared element by element (a record compares arrays by reference).</summary>
    public bool Equals(DelaunayTask? other) => other is not null && MinSize == other.MinSize && MaxSize == other.MaxSize &&
        PointerTasks.SameSizes(EvaluateAt, other.EvaluateAt);

    public override int GetHashCode() => HashCode.Combine(MinSize, MaxSize, EvaluateAt?.Length);

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public string Kind => TaskKinds.Pointer;
    [JsonIgnore] public string SizeName => "n";
    [JsonIgnore] public int InputFeatures => 2;
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes =>
        PointerTasks.EvaluationSizes(MinSize, MaxSize, EvaluateAt, Math.Min(Largest, MaxSize + 3));

    /// <summary>One list for every instance, so that records of equal fields stay equal.</summary>
    private static readonly IReadOnlyList<MetricDefinition> MetricList =
    [
        PointerTasks.Accuracy,
        new("triangle-coverage", "share of the true triangles predicted", "{0} triangle coverage",
            MetricGoal.HigherIsBetter, true),
    ];

    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => MetricList;

    /// <summary>At most 2n - 5 triangles (h >= 3), three indices each.</summary>
    public int MaxTargetLength(int size) => 3 * Math.Max(1, 2 * size - 5);

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize, EvaluateAt ?? [MinSize], Smallest, Largest);

    public PointerExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        return PointSampling.Sample(count, seed, size, MinSize, MaxSize, Smallest, Largest,
            points => DelaunayTriangulation.Flatten(DelaunayTriangulation.Triangles(points)));
    }

    public TaskBatch Sample(int count, int seed, int? size = null) => new PointerTaskBatch(SampleExamples(count, seed, size));

    public IPointerConstraint Constraint(PointerExample example) =>
        new TriangleConstraint(PointSampling.PointsOf(example));

    public MetricTotals Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        PointerTasks.CheckCounts(examples, predictions);
        var totals = new MetricTotals(Metrics.Count);
        for (int e = 0; e < examples.Count; e++)
        {
            totals.Add(0, GeometryMetrics.ExactMatch(predictions[e], examples[e].Target) ? 1 : 0, 1);
            var target = DelaunayTriangulation.Triangles(PointSampling.PointsOf(examples[e]));
            totals.Add(1, GeometryMetrics.TriangleCoverage(predictions[e], target), 1);
        }
        return totals;
    }

    /// <summary>Triangle decoding in the label's canonical format: each triple strictly ascending (i &lt; j &lt; k)
    /// and non-degenerate (not collinear), triples strictly increasing in lexicographic order (so none twice), and
    /// the end only after a whole triple.</summary>
    private sealed class TriangleConstraint(PointSet points) : IPointerConstraint
    {
        public bool AllowsElement(IReadOnlyList<int> prefix, int next)
        {
            if (next < 0 || next >= points.Count) return false;
            int inTriple = prefix.Count % 3, start = prefix.Count - inTriple;
            (int, int, int)? previous = start >= 3 ? (prefix[start - 3], prefix[start - 2], prefix[start - 1]) : null;
            switch (inTriple)
            {
                case 0:
                    // The first index may repeat the previous triple's first (then the rest must be larger), and
                    // must leave room for two larger ones.
                    return next <= points.Count - 3 && (previous is null || next >= previous.Value.Item1);
                case 1:
                    if (next <= prefix[^1] || next > points.Count - 2) return false;
                    return previous is null || (prefix[^1], next).CompareTo((previous.Value.Item1, previous.Value.Item2)) >= 0;
                default:
                    if (next <= prefix[^1] || ExactPredicates.Orient(points, prefix[^2], prefix[^1], next) == 0) return false;
                    return previous is null || (prefix[^2], prefix[^1], next).CompareTo(previous.Value) > 0;
            }
        }

        public bool AllowsEnd(IReadOnlyList<int> prefix) => prefix.Count % 3 == 0;
    }
}

/// <summary>
/// Planar TSP (Vinyals et al. 2015, 4.4): n points uniform in the unit square; the target is the tour from point 0,
/// closed at its start (n + 1 indices, the canonical direction of <see cref="PlanarTsp"/>): the exact optimum for
/// n &lt;= 12 (Held-Karp), the 2-opt heuristic above. Metrics: exact-sequence accuracy, the mean length of the valid
/// predicted tours, the share of valid tours, and the mean length of the labels (optimal for n &lt;= 12).
/// </summary>
/// <param name="MinSize">Smallest training n.</param>
/// <param name="MaxSize">Largest training n.</param>
/// <param name="EvaluateAt">The n evaluated on their own after training (null: MinSize, MaxSize, min(12, MaxSize + 2)).</param>
public sealed record TspTask(int MinSize = 5, int MaxSize = 8, int[]? EvaluateAt = null) : IPointerTask
{
    public const string TaskName = "tsp";
    private const int Smallest = 3, Largest = 50;

    /// <summary>Field equality, EvaluateAt compared element by element (a record compares arrays by reference).</summary>
    public bool Equals(TspTask? other) => other is not null && MinSize == other.MinSize && MaxSize == other.MaxSize &&
        PointerTasks.SameSizes(EvaluateAt, other.EvaluateAt);

    public override int GetHashCode() => HashCode.Combine(MinSize, MaxSize, EvaluateAt?.Length);

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public string Kind => TaskKinds.Pointer;
    [JsonIgnore] public string SizeName => "n";
    [JsonIgnore] public int InputFeatures => 2;
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes =>
        PointerTasks.EvaluationSizes(MinSize, MaxSize, EvaluateAt, Math.Max(MaxSize, Math.Min(PlanarTsp.ExactLimit, MaxSize + 2)));

    /// <summary>One list for every instance, so that records of equal fields stay equal.</summary>
    private static readonly IReadOnlyList<MetricDefinition> MetricList =
    [
        PointerTasks.Accuracy,
        new("tour-length", "mean length of the valid predicted tours", "tour length {0}", MetricGoal.LowerIsBetter, false),
        new("valid-tours", "share of predictions that are tours", "{0} valid tours", MetricGoal.HigherIsBetter, true),
        new("label-length", "mean length of the label tours (optimal for n <= 12)", "label {0}", MetricGoal.LowerIsBetter, false),
    ];

    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => MetricList;

    public int MaxTargetLength(int size) => size + 1;

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize, EvaluateAt ?? [MinSize], Smallest, Largest);

    public PointerExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        return PointSampling.Sample(count, seed, size, MinSize, MaxSize, Smallest, Largest,
            points => [.. PlanarTsp.Solve(points).Tour, 0]);
    }

    public TaskBatch Sample(int count, int seed, int? size = null) => new PointerTaskBatch(SampleExamples(count, seed, size));

    public IPointerConstraint Constraint(PointerExample example) => new TourConstraint(PointSampling.PointsOf(example).Count);

    public MetricTotals Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        PointerTasks.CheckCounts(examples, predictions);
        var totals = new MetricTotals(Metrics.Count);
        for (int e = 0; e < examples.Count; e++)
        {
            var points = PointSampling.PointsOf(examples[e]);
            totals.Add(0, GeometryMetrics.ExactMatch(predictions[e], examples[e].Target) ? 1 : 0, 1);
            double? length = GeometryMetrics.ValidTourLength(points, predictions[e]);
            if (length is double l) totals.Add(1, l, 1);
            totals.Add(2, length is null ? 0 : 1, 1);
            totals.Add(3, PlanarTsp.TourLength(points, examples[e].Target.Take(points.Count).ToArray()), 1);
        }
        return totals;
    }

    /// <summary>Tour decoding: start at point 0, never a point twice, after all n points only the start (the tour
    /// closes), after it only the end.</summary>
    private sealed class TourConstraint(int n) : IPointerConstraint
    {
        public bool AllowsElement(IReadOnlyList<int> prefix, int next)
        {
            if (next < 0 || next >= n) return false;
            if (prefix.Count == 0) return next == 0;
            if (prefix.Count == n) return next == prefix[0];
            return prefix.Count < n && !prefix.Contains(next);
        }

        public bool AllowsEnd(IReadOnlyList<int> prefix) => prefix.Count == n + 1;
    }
}
