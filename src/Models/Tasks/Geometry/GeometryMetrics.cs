namespace HybridSeq.Models.Tasks.Geometry;

/// <summary>
/// The pointer-network paper's metrics (Vinyals, Fortunato &amp; Jaitly 2015, section 4), per example; the tasks
/// average them. Predictions are sequences of point indices with the end marker already removed.
/// </summary>
public static class GeometryMetrics
{
    /// <summary>Exact-sequence accuracy of one example: the prediction equals the target index for index.</summary>
    public static bool ExactMatch(IReadOnlyList<int> predicted, IReadOnlyList<int> target) =>
        predicted.Count == target.Count && predicted.SequenceEqual(target);

    /// <summary>
    /// Area coverage of one convex-hull prediction: the area of the polygon through the predicted points in order,
    /// over the true hull's area, in [0, 1]; null when the prediction is not a simple polygon (fewer than three
    /// points, a point twice, an index outside the set, zero area or crossing edges), which the paper counts as a
    /// failure (its tables print FAIL when more than 1% of the predictions are invalid). Either orientation counts;
    /// a degenerate true hull (collinear points, zero area) gives null.
    /// </summary>
    public static double? HullAreaCoverage(PointSet points, IReadOnlyList<int> predicted)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(predicted);
        Int128 hull = ConvexHull.TwiceArea(points);
        if (hull == 0 || !IsSimplePolygon(points, predicted)) return null;
        Int128 area = ConvexHull.TwicePolygonArea(points, predicted);
        if (area < 0) area = -area;
        return (double)area / (double)hull;
    }

    /// <summary>Whether the closed polygon through <paramref name="polygon"/>'s points is simple: at least three
    /// distinct valid indices, nonzero area, and no two edges meeting except adjacent ones at their shared end
    /// (exact integer tests).</summary>
    public static bool IsSimplePolygon(PointSet points, IReadOnlyList<int> polygon)
    {
        int m = polygon.Count;
        if (m < 3 || polygon.Any(i => i < 0 || i >= points.Count) || polygon.Distinct().Count() != m) return false;
        if (ConvexHull.TwicePolygonArea(points, polygon) == 0) return false;
        for (int e = 0; e < m; e++)
        for (int f = e + 1; f < m; f++)
        {
            int a = polygon[e], b = polygon[(e + 1) % m], c = polygon[f], d = polygon[(f + 1) % m];
            bool adjacent = f == e + 1 || (e == 0 && f == m - 1);
            if (adjacent)
            {
                // Adjacent edges share one end; they must not fold back onto each other.
                int shared = f == e + 1 ? b : a;
                int other1 = shared == b ? a : b, other2 = shared == b ? d : c;
                if (ExactPredicates.Orient(points, shared, other1, other2) == 0 &&
                    Dot(points, shared, other1, other2) > 0) return false;
            }
            else if (SegmentsIntersect(points, a, b, c, d)) return false;
        }
        return true;
    }

    /// <summary>Triangle coverage of one Delaunay prediction: the share of the true triangles that the prediction
    /// contains. The prediction is read in groups of three indices (an incomplete last group is ignored, each
    /// group's order does not matter, a triangle predicted twice counts once).</summary>
    public static double TriangleCoverage(IReadOnlyList<int> predicted, IReadOnlyList<(int I, int J, int K)> target)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(target);
        if (target.Count == 0) return 1.0;
        var predictedSet = new HashSet<(int, int, int)>();
        for (int t = 0; t + 2 < predicted.Count; t += 3)
            predictedSet.Add(DelaunayTriangulation.Sorted(predicted[t], predicted[t + 1], predicted[t + 2]));
        return target.Count(predictedSet.Contains) / (double)target.Count;
    }

    /// <summary>
    /// The length of one TSP prediction when it is a valid tour, else null. The target format is the tour closed at
    /// its start: n + 1 indices, the first n a permutation of the points and the last equal to the first. A
    /// permutation of n without the closing index is valid too (the closing edge is implied).
    /// </summary>
    public static double? ValidTourLength(PointSet points, IReadOnlyList<int> predicted)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(predicted);
        int n = points.Count;
        IReadOnlyList<int> tour = predicted;
        if (predicted.Count == n + 1 && n > 0 && predicted[n] == predicted[0]) tour = predicted.Take(n).ToArray();
        if (tour.Count != n || tour.Any(i => i < 0 || i >= n) || tour.Distinct().Count() != n) return null;
        return PlanarTsp.TourLength(points, tour);
    }

    private static long Dot(PointSet p, int o, int a, int b) =>
        (p.GridX(a) - p.GridX(o)) * (p.GridX(b) - p.GridX(o)) + (p.GridY(a) - p.GridY(o)) * (p.GridY(b) - p.GridY(o));

    /// <summary>Whether closed segments ab and cd share a point (exact; touching and collinear overlap count).</summary>
    private static bool SegmentsIntersect(PointSet p, int a, int b, int c, int d)
    {
        long o1 = ExactPredicates.Orient(p, a, b, c), o2 = ExactPredicates.Orient(p, a, b, d);
        long o3 = ExactPredicates.Orient(p, c, d, a), o4 = ExactPredicates.Orient(p, c, d, b);
        if (Math.Sign(o1) * Math.Sign(o2) < 0 && Math.Sign(o3) * Math.Sign(o4) < 0) return true;
        return (o1 == 0 && OnSegment(p, a, b, c)) || (o2 == 0 && OnSegment(p, a, b, d)) ||
               (o3 == 0 && OnSegment(p, c, d, a)) || (o4 == 0 && OnSegment(p, c, d, b));
    }

    /// <summary>For r collinear with ab: whether r lies on the closed segment ab.</summary>
    private static bool OnSegment(PointSet p, int a, int b, int r) =>
        Math.Min(p.GridX(a), p.GridX(b)) <= p.GridX(r) && p.GridX(r) <= Math.Max(p.GridX(a), p.GridX(b)) &&
        Math.Min(p.GridY(a), p.GridY(b)) <= p.GridY(r) && p.GridY(r) <= Math.Max(p.GridY(a), p.GridY(b));
}
