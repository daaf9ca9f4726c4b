namespace HybridSeq.Models.Tasks.Geometry;

/// <summary>
/// The Delaunay triangulation of a planar point set, by gift wrapping over edges: starting from one hull edge, each
/// edge's missing triangle is closed by the point on its left whose circumcircle with the edge contains no other
/// candidate. The in-circle test is exact and symbolically perturbed
/// (<see cref="ExactPredicates.InCirclePerturbed"/>), so cocircular ties (lattices, squares) are broken
/// consistently and the result is always one valid Delaunay triangulation: every triangle's circumcircle has no
/// point strictly inside, the triangles tile the convex hull, and their number is 2n - 2 - h (h: points on the hull
/// boundary). O(n) per triangle, O(n^2) in all.
/// </summary>
public static class DelaunayTriangulation
{
    /// <summary>
    /// Triangles as sorted index triples (i &lt; j &lt; k) in lexicographic order: the canonical label. Sets of
    /// fewer than three points or of collinear points have no triangles.
    /// </summary>
    public static (int I, int J, int K)[] Triangles(PointSet points)
    {
        ArgumentNullException.ThrowIfNull(points);
        int n = points.Count;
        if (n < 3) return [];
        var (a0, b0) = SeedEdge(points);
        if (a0 < 0) return [];

        var triangles = new List<(int, int, int)>(2 * n);
        var closed = new HashSet<(int, int)>();  // directed edges whose left side already has its triangle
        var open = new Stack<(int, int)>();
        open.Push((a0, b0));
        while (open.Count > 0)
        {
            var (a, b) = open.Pop();
            if (closed.Contains((a, b))) continue;
            int c = -1;
            for (int d = 0; d < n; d++)
            {
                if (d == a || d == b || ExactPredicates.Orient(points, a, b, d) <= 0) continue;
                if (c < 0 || ExactPredicates.InCirclePerturbed(points, a, b, c, d)) c = d;
            }
            closed.Add((a, b));
            if (c < 0) continue;  // the outside of a hull edge
            closed.Add((b, c));
            closed.Add((c, a));
            triangles.Add(Sorted(a, b, c));
            if (!closed.Contains((c, b))) open.Push((c, b));
            if (!closed.Contains((a, c))) open.Push((a, c));
        }
        triangles.Sort();
        return triangles.ToArray();
    }

    /// <summary>The triangles as the flat target sequence i1 j1 k1 i2 j2 k2 ...</summary>
    public static int[] Flatten(IEnumerable<(int I, int J, int K)> triangles) =>
        triangles.SelectMany(t => new[] { t.I, t.J, t.K }).ToArray();

    /// <summary>(i, j, k) sorted ascending.</summary>
    public static (int, int, int) Sorted(int a, int b, int c)
    {
        if (a > b) (a, b) = (b, a);
        if (b > c) (b, c) = (c, b);
        if (a > b) (a, b) = (b, a);
        return (a, b, c);
    }

    /// <summary>A hull edge (a, b) with every point left of or on the line a -> b and no point strictly between a
    /// and b; (-1, -1) when all points are collinear.</summary>
    private static (int, int) SeedEdge(PointSet p)
    {
        int n = p.Count, a = 0;
        for (int i = 1; i < n; i++)
            if (p.GridY(i) < p.GridY(a) || (p.GridY(i) == p.GridY(a) && p.GridX(i) < p.GridX(a))) a = i;
        // a is the lowest (then leftmost) point: every direction from it lies in [0, pi), where orientation orders
        // directions; the most clockwise one leaves every point on its left, the nearest point along it is b.
        int b = a == 0 ? 1 : 0;
        for (int d = 0; d < n; d++)
        {
            if (d == a || d == b) continue;
            long o = ExactPredicates.Orient(p, a, b, d);
            if (o < 0 || (o == 0 && SquaredDistance(p, a, d) < SquaredDistance(p, a, b))) b = d;
        }
        for (int d = 0; d < n; d++)
            if (ExactPredicates.Orient(p, a, b, d) != 0) return (a, b);
        return (-1, -1);
    }

    private static Int128 SquaredDistance(PointSet p, int i, int j)
    {
        Int128 dx = p.GridX(i) - p.GridX(j), dy = p.GridY(i) - p.GridY(j);
        return dx * dx + dy * dy;
    }
}
