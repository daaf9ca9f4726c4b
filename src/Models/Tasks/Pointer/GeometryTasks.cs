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

    public static void CheckCounts(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(predictions);
        if (examples.Count != predictions.Count || examples.Count == 0)
            throw new ArgumentException(
                $"predictions: expected one per example ({examples.Count}, at least one), got {predictions.Count}.",
                nameof(predictions));
    }

    public static PointerMetric Percent(string name, double fraction) => new(name, fraction, $"{100 * fraction:F1}%");
}

/// <summary>
/// Planar convex hull (Vinyals et al. 2015, 4.2): n points uniform in the unit square; the target is the hull's
/// vertices counter-clockwise from the lowest index (<see cref="ConvexHull.Vertices"/>: collinear boundary points are
/// not vertices). Metrics: exact-sequence accuracy, and area coverage (predicted polygon's area over the hull's,
/// averaged over the valid predictions; FAIL when more than 1% are not simple polygons, as the paper prints it).
/// </summary>
public sealed record ConvexHullTask(int MinSize = 5, int MaxSize = 10, int[]? EvaluationSizes = null) : IPointerTask
{
    public const string TaskName = "convex-hull";
    private const int Smallest = 3, Largest = 500;

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public int InputFeatures => 2;
    IReadOnlyList<int> IPointerTask.EvaluationSizes => EvaluationSizes ?? [MinSize, MaxSize, 2 * MaxSize];

    public int MaxTargetLength(int size) => size;

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize,
        ((IPointerTask)this).EvaluationSizes, Smallest, Largest);

    public PointerExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        return PointSampling.Sample(count, seed, size, MinSize, MaxSize, Smallest, Largest, ConvexHull.Vertices);
    }

    public IPointerConstraint Constraint(PointerExample example) => new HullConstraint(PointSampling.PointsOf(example));

    public IReadOnlyList<PointerMetric> Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        PointSampling.CheckCounts(examples, predictions);
        int exact = 0, invalid = 0;
        double area = 0;
        for (int e = 0; e < examples.Count; e++)
        {
            if (GeometryMetrics.ExactMatch(predictions[e], examples[e].Target)) exact++;
            double? coverage = GeometryMetrics.HullAreaCoverage(PointSampling.PointsOf(examples[e]), predictions[e]);
            if (coverage is double c) area += c;
            else invalid++;
        }
        double invalidShare = invalid / (double)examples.Count;
        double meanArea = invalid == examples.Count ? 0 : area / (examples.Count - invalid);
        return
        [
            PointSampling.Percent("accuracy", exact / (double)examples.Count),
            new("area", meanArea, invalidShare > 0.01 ? "FAIL" : $"{100 * meanArea:F1}%"),
            PointSampling.Percent("invalid", invalidShare),
        ];
    }

    /// <summary>Hull decoding: never a point twice; the first point has the lowest index of the polygon (the
    /// label's start); every turn is a strict left turn and every point is strictly left of the first edge (a convex
    /// counter-clockwise polygon); the end needs three points and left turns closing the polygon. When no point fits,
    /// the end is allowed, so decoding never dead-ends.</summary>
    private sealed class HullConstraint(PointSet points) : IPointerConstraint
    {
        public bool AllowsElement(IReadOnlyList<int> prefix, int next)
        {
            if (next < 0 || next >= points.Count || prefix.Contains(next)) return false;
            if (prefix.Count == 0) return true;
            if (next < prefix[0]) return false;
            if (prefix.Count >= 2)
            {
                // Strictly left of every edge so far, and the first point strictly left of the new edge.
                for (int i = 0; i + 1 < prefix.Count; i++)
                    if (ExactPredicates.Orient(points, prefix[i], prefix[i + 1], next) <= 0) return false;
                if (ExactPredicates.Orient(points, prefix[^1], next, prefix[0]) <= 0) return false;
            }
            return true;
        }

        public bool AllowsEnd(IReadOnlyList<int> prefix)
        {
            if (prefix.Count >= 3 &&
                ExactPredicates.Orient(points, prefix[^2], prefix[^1], prefix[0]) > 0 &&
                ExactPredicates.Orient(points, prefix[^1], prefix[0], prefix[1]) > 0) return true;
            return !Enumerable.Range(0, points.Count).Any(i => AllowsElement(prefix, i));
        }
    }
}

/// <summary>
/// Delaunay triangulation (Vinyals et al. 2015, 4.3): n points uniform in the unit square; the target is the
/// triangles as sorted index triples in lexicographic order, flattened (i1 j1 k1 i2 j2 k2 ...). Metrics:
/// exact-sequence accuracy and triangle coverage (share of the true triangles predicted, averaged).
/// </summary>
public sealed record DelaunayTask(int MinSize = 5, int MaxSize = 7, int[]? EvaluationSizes = null) : IPointerTask
{
    public const string TaskName = "delaunay";
    private const int Smallest = 3, Largest = 100;

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public int InputFeatures => 2;
    IReadOnlyList<int> IPointerTask.EvaluationSizes => EvaluationSizes ?? [MinSize, MaxSize, MaxSize + 3];

    /// <summary>At most 2n - 5 triangles (h >= 3), three indices each.</summary>
    public int MaxTargetLength(int size) => 3 * Math.Max(1, 2 * size - 5);

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize,
        ((IPointerTask)this).EvaluationSizes, Smallest, Largest);

    public PointerExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        return PointSampling.Sample(count, seed, size, MinSize, MaxSize, Smallest, Largest,
            points => DelaunayTriangulation.Flatten(DelaunayTriangulation.Triangles(points)));
    }

    public IPointerConstraint Constraint(PointerExample example) =>
        new TriangleConstraint(PointSampling.PointsOf(example));

    public IReadOnlyList<PointerMetric> Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        PointSampling.CheckCounts(examples, predictions);
        int exact = 0;
        double coverage = 0;
        for (int e = 0; e < examples.Count; e++)
        {
            if (GeometryMetrics.ExactMatch(predictions[e], examples[e].Target)) exact++;
            var target = DelaunayTriangulation.Triangles(PointSampling.PointsOf(examples[e]));
            coverage += GeometryMetrics.TriangleCoverage(predictions[e], target);
        }
        return
        [
            PointSampling.Percent("accuracy", exact / (double)examples.Count),
            PointSampling.Percent("triangle coverage", coverage / examples.Count),
        ];
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
/// n &lt;= 12 (Held-Karp), the 2-opt heuristic above. Metrics: exact-sequence accuracy, mean length of the valid
/// predicted tours, share of valid tours, and the mean length of the labels.
/// </summary>
public sealed record TspTask(int MinSize = 5, int MaxSize = 8, int[]? EvaluationSizes = null) : IPointerTask
{
    public const string TaskName = "tsp";
    private const int Smallest = 3, Largest = 50;

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public int InputFeatures => 2;
    IReadOnlyList<int> IPointerTask.EvaluationSizes => EvaluationSizes ?? [MinSize, MaxSize, Math.Min(12, MaxSize + 2)];

    public int MaxTargetLength(int size) => size + 1;

    public void Validate() => PointerTasks.ValidateSizes(TaskName, MinSize, MaxSize,
        ((IPointerTask)this).EvaluationSizes, Smallest, Largest);

    public PointerExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        return PointSampling.Sample(count, seed, size, MinSize, MaxSize, Smallest, Largest,
            points => [.. PlanarTsp.Solve(points).Tour, 0]);
    }

    public IPointerConstraint Constraint(PointerExample example) => new TourConstraint(PointSampling.PointsOf(example).Count);

    public IReadOnlyList<PointerMetric> Score(IReadOnlyList<PointerExample> examples, IReadOnlyList<int[]> predictions)
    {
        PointSampling.CheckCounts(examples, predictions);
        int exact = 0, valid = 0;
        double length = 0, optimal = 0;
        for (int e = 0; e < examples.Count; e++)
        {
            var points = PointSampling.PointsOf(examples[e]);
            if (GeometryMetrics.ExactMatch(predictions[e], examples[e].Target)) exact++;
            optimal += PlanarTsp.TourLength(points, examples[e].Target.Take(points.Count).ToArray());
            if (GeometryMetrics.ValidTourLength(points, predictions[e]) is double l)
            {
                valid++;
                length += l;
            }
        }
        double meanLength = valid == 0 ? double.NaN : length / valid;
        return
        [
            PointSampling.Percent("accuracy", exact / (double)examples.Count),
            new("tour length", meanLength, valid == 0 ? "n/a" : $"{meanLength:F3}"),
            PointSampling.Percent("valid tours", valid / (double)examples.Count),
            new("label length", optimal / examples.Count, $"{optimal / examples.Count:F3}"),
        ];
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
