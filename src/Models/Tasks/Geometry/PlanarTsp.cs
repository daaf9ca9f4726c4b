namespace HybridSeq.Models.Tasks.Geometry;

/// <summary>A closed tour of every point once: <see cref="Tour"/> starts at point 0 and its canonical direction has
/// Tour[1] &lt; Tour[n - 1]; the closing edge back to point 0 is implied. <see cref="Exact"/> says whether the tour
/// is a proven optimum (Held-Karp) or a heuristic one.</summary>
public sealed record TspSolution(int[] Tour, double Length, bool Exact);

/// <summary>
/// The planar (Euclidean) travelling salesman problem in unit-square coordinates. Up to
/// <see cref="ExactLimit"/> points: the exact optimum by Held-Karp dynamic programming (O(2^n n^2)). Above it: a
/// heuristic, nearest neighbour from point 0 improved by 2-opt until no exchange shortens the tour (a 2-opt local
/// optimum, labelled not exact).
/// </summary>
public static class PlanarTsp
{
    /// <summary>The largest n solved exactly.</summary>
    public const int ExactLimit = 12;

    /// <summary>The optimal tour for n &lt;= <see cref="ExactLimit"/>, else the heuristic one.</summary>
    public static TspSolution Solve(PointSet points)
    {
        ArgumentNullException.ThrowIfNull(points);
        return points.Count <= ExactLimit ? HeldKarp(points) : NearestNeighbourTwoOpt(points);
    }

    /// <summary>The closed length of <paramref name="tour"/> (a sequence of point indices; the edge from the last
    /// back to the first included).</summary>
    public static double TourLength(PointSet points, IReadOnlyList<int> tour)
    {
        double length = 0;
        for (int i = 0; i < tour.Count; i++) length += points.Distance(tour[i], tour[(i + 1) % tour.Count]);
        return length;
    }

    /// <summary>The exact optimum by Held-Karp: best[S, j] is the shortest path from 0 through the set S (of
    /// points 1..n-1) ending at j. Ties between equally long tours go to the first found in index order.</summary>
    public static TspSolution HeldKarp(PointSet points)
    {
        ArgumentNullException.ThrowIfNull(points);
        int n = points.Count;
        if (n > ExactLimit + 4)
            throw new ArgumentOutOfRangeException(nameof(points), n,
                $"points: Held-Karp needs 2^n n^2 work; expected at most {ExactLimit + 4} points, got {n}.");
        if (n <= 3) return Canonical(points, Enumerable.Range(0, n).ToArray(), exact: true);
        int m = n - 1, full = (1 << m) - 1;
        var best = new double[1 << m, m];
        var parent = new int[1 << m, m];
        for (int s = 0; s <= full; s++)
        for (int j = 0; j < m; j++)
            best[s, j] = double.PositiveInfinity;
        for (int j = 0; j < m; j++)
        {
            best[1 << j, j] = points.Distance(0, j + 1);
            parent[1 << j, j] = -1;
        }
        for (int s = 1; s <= full; s++)
        for (int j = 0; j < m; j++)
        {
            if ((s & (1 << j)) == 0 || double.IsPositiveInfinity(best[s, j])) continue;
            for (int k = 0; k < m; k++)
            {
                if ((s & (1 << k)) != 0) continue;
                int next = s | (1 << k);
                double candidate = best[s, j] + points.Distance(j + 1, k + 1);
                if (candidate < best[next, k])
                {
                    best[next, k] = candidate;
                    parent[next, k] = j;
                }
            }
        }
        int last = 0;
        double bestLength = double.PositiveInfinity;
        for (int j = 0; j < m; j++)
        {
            double closed = best[full, j] + points.Distance(j + 1, 0);
            if (closed < bestLength)
            {
                bestLength = closed;
                last = j;
            }
        }
        var reversed = new List<int>(n);
        for (int s = full, j = last; j >= 0;)
        {
            reversed.Add(j + 1);
            int previous = parent[s, j];
            s &= ~(1 << j);
            j = previous;
        }
        reversed.Add(0);
        reversed.Reverse();
        return Canonical(points, reversed.ToArray(), exact: true);
    }

    /// <summary>The heuristic tour: nearest neighbour from point 0 (ties to the lower index), then 2-opt (reverse
    /// the segment between two edges whenever that shortens the tour by more than 1e-12) until no exchange
    /// does.</summary>
    public static TspSolution NearestNeighbourTwoOpt(PointSet points)
    {
        ArgumentNullException.ThrowIfNull(points);
        int n = points.Count;
        if (n <= 3) return Canonical(points, Enumerable.Range(0, n).ToArray(), exact: n <= 3);
        var tour = new int[n];
        var visited = new bool[n];
        visited[0] = true;
        for (int i = 1; i < n; i++)
        {
            int from = tour[i - 1], nearest = -1;
            for (int j = 0; j < n; j++)
                if (!visited[j] && (nearest < 0 || points.Distance(from, j) < points.Distance(from, nearest))) nearest = j;
            tour[i] = nearest;
            visited[nearest] = true;
        }
        bool improved = true;
        while (improved)
        {
            improved = false;
            for (int i = 0; i < n - 1; i++)
            for (int j = i + 2; j < n; j++)
            {
                if (i == 0 && j == n - 1) continue;  // the same two edges
                int a = tour[i], b = tour[i + 1], c = tour[j], d = tour[(j + 1) % n];
                double delta = points.Distance(a, c) + points.Distance(b, d) - points.Distance(a, b) - points.Distance(c, d);
                if (delta < -1e-12)
                {
                    Array.Reverse(tour, i + 1, j - i);
                    improved = true;
                }
            }
        }
        return Canonical(points, tour, exact: false);
    }

    /// <summary>Whether no 2-opt exchange shortens the tour by more than <paramref name="tolerance"/>.</summary>
    public static bool IsTwoOptLocalOptimum(PointSet points, IReadOnlyList<int> tour, double tolerance = 1e-12)
    {
        int n = tour.Count;
        for (int i = 0; i < n - 1; i++)
        for (int j = i + 2; j < n; j++)
        {
            if (i == 0 && j == n - 1) continue;
            int a = tour[i], b = tour[i + 1], c = tour[j], d = tour[(j + 1) % n];
            if (points.Distance(a, c) + points.Distance(b, d) - points.Distance(a, b) - points.Distance(c, d) < -tolerance)
                return false;
        }
        return true;
    }

    /// <summary>The tour rotated to start at 0 and, of its two directions, the one with tour[1] &lt; tour[n - 1].</summary>
    public static int[] CanonicalTour(IReadOnlyList<int> tour)
    {
        int n = tour.Count;
        if (n == 0) return [];
        int start = -1;
        for (int i = 0; i < n; i++) if (tour[i] == 0) start = i;
        if (start < 0)
            throw new ArgumentException("tour: expected a tour through point 0, got none.", nameof(tour));
        var rotated = Enumerable.Range(0, n).Select(i => tour[(start + i) % n]).ToArray();
        if (n > 2 && rotated[1] > rotated[n - 1]) Array.Reverse(rotated, 1, n - 1);
        return rotated;
    }

    private static TspSolution Canonical(PointSet points, int[] tour, bool exact)
    {
        var canonical = CanonicalTour(tour);
        return new TspSolution(canonical, TourLength(points, canonical), exact);
    }
}
