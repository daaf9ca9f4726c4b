namespace HybridSeq.Models.Tasks.Geometry;

/// <summary>
/// A set of distinct points in the unit square, stored on an exact grid: point i is (X[i], Y[i]) / 2^30 with integer
/// grid coordinates in [0, 2^30). On that grid the geometric predicates (<see cref="ExactPredicates"/>) are exact
/// integer arithmetic, so every label this project computes (hull, Delaunay triangulation, tour) is exact, and the
/// coordinates a model reads are exactly representable in float64 (and within 2^-24 relative in float32).
/// Immutable; indices are the order the points were drawn in.
/// </summary>
public sealed class PointSet
{
    /// <summary>Bits of the grid: coordinates are multiples of 2^-GridBits.</summary>
    public const int GridBits = 30;

    /// <summary>Grid cells per unit: 2^GridBits.</summary>
    public const long GridSize = 1L << GridBits;

    private readonly long[] x;
    private readonly long[] y;

    private PointSet(long[] x, long[] y)
    {
        this.x = x;
        this.y = y;
    }

    /// <summary>Number of points.</summary>
    public int Count => x.Length;

    /// <summary>Grid x coordinate of point i, in [0, 2^30).</summary>
    public long GridX(int i) => x[i];

    /// <summary>Grid y coordinate of point i, in [0, 2^30).</summary>
    public long GridY(int i) => y[i];

    /// <summary>x of point i in [0, 1).</summary>
    public double X(int i) => x[i] / (double)GridSize;

    /// <summary>y of point i in [0, 1).</summary>
    public double Y(int i) => y[i] / (double)GridSize;

    /// <summary>Euclidean distance between points i and j in unit-square coordinates.</summary>
    public double Distance(int i, int j)
    {
        double dx = X(i) - X(j), dy = Y(i) - Y(j);
        return Math.Sqrt(dx * dx + dy * dy);
    }

    /// <summary>
    /// <paramref name="count"/> distinct points drawn uniformly from the grid of the unit square with
    /// <paramref name="random"/> (a point equal to an earlier one is drawn again, which changes the uniform
    /// distribution by less than count^2 / 2^61).
    /// </summary>
    public static PointSet Uniform(int count, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count: expected zero or more points, got {count}.");
        var xs = new long[count];
        var ys = new long[count];
        var seen = new HashSet<(long, long)>();
        for (int i = 0; i < count; i++)
        {
            long px, py;
            do
            {
                px = random.NextInt64(GridSize);
                py = random.NextInt64(GridSize);
            } while (!seen.Add((px, py)));
            xs[i] = px;
            ys[i] = py;
        }
        return new PointSet(xs, ys);
    }

    /// <summary>Points from grid coordinates (each in [0, 2^30), no two points equal): for tests and hand-made
    /// (degenerate) configurations.</summary>
    public static PointSet FromGrid(IReadOnlyList<long> gridX, IReadOnlyList<long> gridY)
    {
        ArgumentNullException.ThrowIfNull(gridX);
        ArgumentNullException.ThrowIfNull(gridY);
        if (gridX.Count != gridY.Count)
            throw new ArgumentException(
                $"gridY: expected as many coordinates as gridX ({gridX.Count}), got {gridY.Count}.", nameof(gridY));
        var seen = new HashSet<(long, long)>();
        for (int i = 0; i < gridX.Count; i++)
        {
            if (gridX[i] < 0 || gridX[i] >= GridSize || gridY[i] < 0 || gridY[i] >= GridSize)
                throw new ArgumentOutOfRangeException(nameof(gridX), (gridX[i], gridY[i]),
                    $"point {i}: expected grid coordinates in [0, {GridSize}), got ({gridX[i]}, {gridY[i]}).");
            if (!seen.Add((gridX[i], gridY[i])))
                throw new ArgumentException(
                    $"point {i}: expected distinct points, got ({gridX[i]}, {gridY[i]}) a second time.", nameof(gridX));
        }
        return new PointSet(gridX.ToArray(), gridY.ToArray());
    }
}

/// <summary>
/// Exact orientation and in-circle predicates on <see cref="PointSet"/> grid coordinates: coordinate differences are
/// below 2^30, so the orientation determinant is below 2^61 (long) and the in-circle determinant below 2^124
/// (Int128): no rounding anywhere.
/// </summary>
public static class ExactPredicates
{
    /// <summary>Twice the signed area of triangle (a, b, c): positive when a, b, c turn counter-clockwise, zero when
    /// collinear.</summary>
    public static long Orient(PointSet p, int a, int b, int c) =>
        (p.GridX(b) - p.GridX(a)) * (p.GridY(c) - p.GridY(a)) - (p.GridY(b) - p.GridY(a)) * (p.GridX(c) - p.GridX(a));

    /// <summary>The in-circle determinant: for counter-clockwise (a, b, c), positive when d lies strictly inside
    /// their circumcircle, zero on it, negative outside.</summary>
    public static Int128 InCircle(PointSet p, int a, int b, int c, int d)
    {
        long adx = p.GridX(a) - p.GridX(d), ady = p.GridY(a) - p.GridY(d);
        long bdx = p.GridX(b) - p.GridX(d), bdy = p.GridY(b) - p.GridY(d);
        long cdx = p.GridX(c) - p.GridX(d), cdy = p.GridY(c) - p.GridY(d);
        Int128 alift = (Int128)adx * adx + (Int128)ady * ady;
        Int128 blift = (Int128)bdx * bdx + (Int128)bdy * bdy;
        Int128 clift = (Int128)cdx * cdx + (Int128)cdy * cdy;
        Int128 bc = (Int128)bdx * cdy - (Int128)cdx * bdy;
        Int128 ca = (Int128)cdx * ady - (Int128)adx * cdy;
        Int128 ab = (Int128)adx * bdy - (Int128)bdx * ady;
        return alift * bc + blift * ca + clift * ab;
    }

    /// <summary>
    /// Whether d is inside the circumcircle of counter-clockwise (a, b, c) under a fixed symbolic perturbation, so
    /// that no four points are ever cocircular: each point's lifted height x^2 + y^2 is raised by an infinitesimal
    /// eps_i with eps_0 >> eps_1 >> ... (a lower index is perturbed more). When the exact determinant is zero, the
    /// point of lowest index among the four decides: if it is d, raising d puts it outside; if it is a triangle
    /// vertex v, raising v raises the circle's lifted plane at d by eps_v times d's barycentric coordinate for v,
    /// which is nonzero because four distinct cocircular points have no three collinear. The perturbation is one
    /// configuration for every call, so the triangulation it selects among cocircular ties is a valid one.
    /// </summary>
    public static bool InCirclePerturbed(PointSet p, int a, int b, int c, int d)
    {
        Int128 det = InCircle(p, a, b, c, d);
        if (det != 0) return det > 0;
        int lowest = Math.Min(Math.Min(a, b), Math.Min(c, d));
        if (lowest == d) return false;
        long barycentric = lowest == a ? Orient(p, d, b, c) : lowest == b ? Orient(p, a, d, c) : Orient(p, a, b, d);
        return barycentric > 0;
    }
}
