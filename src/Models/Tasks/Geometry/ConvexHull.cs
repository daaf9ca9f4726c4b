namespace HybridSeq.Models.Tasks.Geometry;

/// <summary>
/// The planar convex hull (Andrew's monotone chain on exact integer orientations).
/// <para>Vertices are the extreme points only: a point on a hull edge strictly between two vertices (collinear) is
/// not a vertex. The order is counter-clockwise, starting at the vertex of lowest index (the pointer networks' label).
/// Degenerate sets: no points give an empty hull, one point gives [0], points that are all collinear give the two
/// endpoints of their segment (lowest index first).</para>
/// </summary>
public static class ConvexHull
{
    /// <summary>Hull vertex indices, counter-clockwise from the lowest index (see the class remarks).</summary>
    public static int[] Vertices(PointSet points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var (chain, isCycle) = Chain(points, keepCollinear: false);
        return isCycle ? RotateToLowest(chain) : chain;
    }

    /// <summary>Every point on the hull boundary (vertices and the points on its edges), counter-clockwise from the
    /// lowest index: h in Euler's triangle count 2n - 2 - h. All-collinear sets give every point, in order along
    /// the segment from one end (the boundary is then a segment, not a cycle).</summary>
    public static int[] BoundaryPoints(PointSet points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var (chain, isCycle) = Chain(points, keepCollinear: true);
        return isCycle ? RotateToLowest(chain) : chain;
    }

    /// <summary>Twice the area of the hull: an exact integer in grid units squared (0 for degenerate sets).</summary>
    public static Int128 TwiceArea(PointSet points) => TwicePolygonArea(points, Vertices(points));

    /// <summary>Twice the signed area of the polygon through <paramref name="polygon"/>'s points in order (shoelace
    /// formula, exact in grid units squared): positive when counter-clockwise.</summary>
    public static Int128 TwicePolygonArea(PointSet points, IReadOnlyList<int> polygon)
    {
        Int128 sum = 0;
        for (int i = 0; i < polygon.Count; i++)
        {
            int a = polygon[i], b = polygon[(i + 1) % polygon.Count];
            sum += (Int128)points.GridX(a) * points.GridY(b) - (Int128)points.GridX(b) * points.GridY(a);
        }
        return sum;
    }

    /// <summary>The boundary chain and whether it is a cycle (false for collinear sets: a segment from its end of
    /// lower index).</summary>
    private static (int[] Chain, bool IsCycle) Chain(PointSet p, bool keepCollinear)
    {
        int n = p.Count;
        if (n <= 1) return (Enumerable.Range(0, n).ToArray(), true);
        int[] order = Enumerable.Range(0, n).ToArray();
        Array.Sort(order, (i, j) => p.GridX(i) != p.GridX(j) ? p.GridX(i).CompareTo(p.GridX(j))
            : p.GridY(i).CompareTo(p.GridY(j)));
        bool allCollinear = true;
        for (int k = 2; k < n && allCollinear; k++)
            allCollinear = ExactPredicates.Orient(p, order[0], order[1], order[k]) == 0;
        if (allCollinear)
        {
            // A segment, not a cycle: listed from its end of lower index (rotation keeps that end first).
            if (order[0] > order[^1]) Array.Reverse(order);
            return (keepCollinear ? order : [order[0], order[^1]], false);
        }

        // A point is popped when it makes a clockwise turn, and also a straight one unless collinear boundary
        // points are kept.
        var hull = new List<int>(2 * n);
        bool Pops(int a, int b, int c)
        {
            long o = ExactPredicates.Orient(p, a, b, c);
            return keepCollinear ? o < 0 : o <= 0;
        }
        foreach (int i in order)
        {
            while (hull.Count >= 2 && Pops(hull[^2], hull[^1], i)) hull.RemoveAt(hull.Count - 1);
            hull.Add(i);
        }
        int lowerSize = hull.Count;
        for (int k = n - 2; k >= 0; k--)
        {
            int i = order[k];
            while (hull.Count > lowerSize && Pops(hull[^2], hull[^1], i)) hull.RemoveAt(hull.Count - 1);
            hull.Add(i);
        }
        hull.RemoveAt(hull.Count - 1);  // the first point again
        return (hull.ToArray(), true);
    }

    private static int[] RotateToLowest(int[] cycle)
    {
        if (cycle.Length == 0) return cycle;
        int start = Array.IndexOf(cycle, cycle.Min());
        return cycle[start..].Concat(cycle[..start]).ToArray();
    }
}
