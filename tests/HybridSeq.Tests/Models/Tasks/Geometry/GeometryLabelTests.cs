using HybridSeq.Models.Tasks.Geometry;
using NUnit.Framework;

namespace HybridSeq.Tests.Models.Tasks.Geometry;

[TestFixture]
public sealed class GeometryLabelTests
{
    private static PointSet Grid(params (long X, long Y)[] points) =>
        PointSet.FromGrid(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());

    /// <summary>A k x k lattice (step 10): every unit square is cocircular and every row collinear.</summary>
    private static PointSet Lattice(int k) =>
        Grid(Enumerable.Range(0, k * k).Select(i => ((long)(i % k) * 10 + 5, (long)(i / k) * 10 + 5)).ToArray());

    private static IEnumerable<PointSet> RandomSets()
    {
        for (int seed = 0; seed < 8; seed++)
        foreach (int n in new[] { 3, 4, 5, 8, 13, 30 })
            yield return PointSet.Uniform(n, new Random(seed * 100 + n));
    }

    [Test]
    public void UniformPointsAreSeededDistinctAndInTheUnitSquare()
    {
        var a = PointSet.Uniform(200, new Random(7));
        var b = PointSet.Uniform(200, new Random(7));
        var c = PointSet.Uniform(200, new Random(8));
        var coordinates = (PointSet p) => Enumerable.Range(0, p.Count).Select(i => (p.X(i), p.Y(i))).ToArray();
        Assert.That(coordinates(b), Is.EqualTo(coordinates(a)));
        Assert.That(coordinates(c), Is.Not.EqualTo(coordinates(a)));
        Assert.That(coordinates(a).Distinct().Count(), Is.EqualTo(200));
        Assert.That(coordinates(a).SelectMany(p => new[] { p.Item1, p.Item2 }), Has.All.InRange(0.0, 1.0 - 1e-12));
        // Both halves of the square are used: the grid coordinates are not stuck in a corner.
        Assert.That(coordinates(a).Count(p => p.Item1 < 0.5), Is.InRange(70, 130));
        Assert.That(coordinates(a).Count(p => p.Item2 < 0.5), Is.InRange(70, 130));
    }

    [Test]
    public void FromGridRejectsDuplicatesAndCoordinatesOffTheGrid()
    {
        var duplicate = Assert.Throws<ArgumentException>(() => Grid((1, 2), (3, 4), (1, 2)));
        Assert.That(duplicate!.ParamName, Is.EqualTo("gridX"));
        Assert.That(duplicate.Message, Does.Contain("point 2"));
        var outside = Assert.Throws<ArgumentOutOfRangeException>(() => Grid((PointSet.GridSize, 0)));
        Assert.That(outside!.ParamName, Is.EqualTo("gridX"));
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => Grid((0, -1)));
        Assert.That(negative!.Message, Does.Contain("(0, -1)"));
        var lengths = Assert.Throws<ArgumentException>(() => PointSet.FromGrid([1, 2], [1]));
        Assert.That(lengths!.ParamName, Is.EqualTo("gridY"));
    }

    [Test]
    public void HullOfAHandMadeSetIsItsCornersCounterClockwiseFromTheLowestIndex()
    {
        // 0 centre, 1..4 corners given clockwise, 5 the middle of the bottom edge (collinear: not a vertex), 6 inside.
        var points = Grid((50, 50), (0, 100), (100, 100), (100, 0), (0, 0), (50, 0), (30, 60));
        Assert.That(ConvexHull.Vertices(points), Is.EqualTo(new[] { 1, 4, 3, 2 }));
        Assert.That(ConvexHull.BoundaryPoints(points), Is.EqualTo(new[] { 1, 4, 5, 3, 2 }));
        Assert.That(ConvexHull.TwiceArea(points), Is.EqualTo((Int128)20000));
    }

    [Test]
    public void HullOfDegenerateSets()
    {
        Assert.That(ConvexHull.Vertices(Grid()), Is.Empty);
        Assert.That(ConvexHull.Vertices(Grid((3, 3))), Is.EqualTo(new[] { 0 }));
        Assert.That(ConvexHull.Vertices(Grid((5, 5), (3, 3))), Is.EqualTo(new[] { 0, 1 }));
        var collinear = Grid((2, 2), (0, 0), (4, 4), (1, 1));
        Assert.That(ConvexHull.Vertices(collinear), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(ConvexHull.BoundaryPoints(collinear), Is.EqualTo(new[] { 1, 3, 0, 2 }));
        Assert.That(ConvexHull.TwiceArea(collinear), Is.EqualTo((Int128)0));
        Assert.That(ConvexHull.BoundaryPoints(Lattice(4)), Has.Length.EqualTo(12));
        Assert.That(ConvexHull.Vertices(Lattice(4)), Is.EqualTo(new[] { 0, 3, 15, 12 }));
    }

    [Test]
    public void HullEqualsTheBruteForceHullOnRandomSets()
    {
        foreach (var points in RandomSets())
        {
            int n = points.Count;
            int[] hull = ConvexHull.Vertices(points);
            // Brute force: (i, j) is a hull edge when no point is right of i -> j and collinear ones lie between.
            var brute = new HashSet<int>();
            for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                bool edge = Enumerable.Range(0, n).All(k => k == i || k == j || ExactPredicates.Orient(points, i, j, k) > 0);
                if (edge) { brute.Add(i); brute.Add(j); }
            }
            Assert.That(hull.Order(), Is.EqualTo(brute.Order()), $"n = {n}");
            Assert.That(hull[0], Is.EqualTo(hull.Min()), "starts at the lowest index");
            for (int v = 0; v < hull.Length; v++)
                Assert.That(ExactPredicates.Orient(points, hull[v], hull[(v + 1) % hull.Length], hull[(v + 2) % hull.Length]),
                    Is.Positive, "strict counter-clockwise turn");
        }
    }

    [Test]
    public void DelaunayOfAThinRhombusUsesTheShortDiagonal()
    {
        var points = Grid((0, 10), (100, 20), (200, 10), (100, 0));
        Assert.That(DelaunayTriangulation.Triangles(points), Is.EqualTo(new[] { (0, 1, 3), (1, 2, 3) }));
        Assert.That(DelaunayTriangulation.Flatten(DelaunayTriangulation.Triangles(points)),
            Is.EqualTo(new[] { 0, 1, 3, 1, 2, 3 }));
    }

    [Test]
    public void DelaunayOfDegenerateSetsIsEmpty()
    {
        Assert.That(DelaunayTriangulation.Triangles(Grid((1, 1), (2, 5))), Is.Empty);
        Assert.That(DelaunayTriangulation.Triangles(Grid((2, 2), (0, 0), (4, 4), (1, 1))), Is.Empty);
    }

    [Test]
    public void DelaunayIsValidOnRandomSets()
    {
        foreach (var points in RandomSets()) AssertValidDelaunay(points);
    }

    [Test]
    public void DelaunayIsValidOnCocircularAndCollinearLattices()
    {
        // Every cell of a lattice has two Delaunay diagonals; the perturbation must pick one per cell, never both.
        foreach (int k in new[] { 2, 3, 4, 6 }) AssertValidDelaunay(Lattice(k));
        Assert.That(DelaunayTriangulation.Triangles(Lattice(4)), Has.Length.EqualTo(18));
        // A regular-ish octagon: (all eight points on one circle) plus its centre.
        var octagon = Grid((100, 0), (0, 100), (100, 200), (200, 100), (30, 30), (170, 30), (30, 170), (170, 170));
        AssertValidDelaunay(octagon);
    }

    private static void AssertValidDelaunay(PointSet points)
    {
        int n = points.Count;
        var triangles = DelaunayTriangulation.Triangles(points);
        int h = ConvexHull.BoundaryPoints(points).Length;
        Assert.That(triangles, Has.Length.EqualTo(2 * n - 2 - h), $"Euler's count for n = {n}, h = {h}");
        Assert.That(triangles, Is.EqualTo(triangles.Order().ToArray()), "canonical order");
        Assert.That(triangles.Distinct().Count(), Is.EqualTo(triangles.Length), "no triangle twice");
        Int128 area = 0;
        foreach (var (i, j, k) in triangles)
        {
            Assert.That(i < j && j < k, Is.True, $"sorted triple ({i}, {j}, {k})");
            long orient = ExactPredicates.Orient(points, i, j, k);
            Assert.That(orient, Is.Not.Zero, "non-degenerate triangle");
            var (a, b, c) = orient > 0 ? (i, j, k) : (i, k, j);
            area += Math.Abs(orient);
            for (int d = 0; d < n; d++)
            {
                if (d == i || d == j || d == k) continue;
                Assert.That(ExactPredicates.InCircle(points, a, b, c, d) <= 0, Is.True,
                    $"point {d} strictly inside the circumcircle of ({i}, {j}, {k})");
            }
        }
        // The triangles tile the hull: areas add up exactly (with the count, no overlap and no gap).
        Assert.That(area, Is.EqualTo(ConvexHull.TwiceArea(points)), "triangle areas sum to the hull area");
    }

    [Test]
    public void HeldKarpEqualsBruteForceOverEveryPermutation()
    {
        foreach (int n in new[] { 4, 5, 6, 7, 8 })
        for (int seed = 0; seed < 3; seed++)
        {
            var points = PointSet.Uniform(n, new Random(1000 + 10 * n + seed));
            double best = double.PositiveInfinity;
            foreach (var permutation in Permutations(Enumerable.Range(1, n - 1).ToArray()))
                best = Math.Min(best, PlanarTsp.TourLength(points, new[] { 0 }.Concat(permutation).ToArray()));
            var solution = PlanarTsp.Solve(points);
            Assert.That(solution.Exact, Is.True);
            Assert.That(solution.Length, Is.EqualTo(best).Within(1e-12), $"n = {n}");
            Assert.That(PlanarTsp.TourLength(points, solution.Tour), Is.EqualTo(solution.Length).Within(1e-12));
            Assert.That(solution.Tour.Order(), Is.EqualTo(Enumerable.Range(0, n)), "a permutation");
            Assert.That(solution.Tour[0], Is.Zero, "starts at point 0");
            Assert.That(solution.Tour[1], Is.LessThan(solution.Tour[^1]), "canonical direction");
        }
    }

    [Test]
    public void LargerTspIsTheLabelledTwoOptHeuristicAndNeverBeatsTheOptimum()
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var twelve = PointSet.Uniform(12, new Random(50 + seed));
            var exact = PlanarTsp.Solve(twelve);
            var heuristic = PlanarTsp.NearestNeighbourTwoOpt(twelve);
            Assert.That(exact.Exact, Is.True);
            Assert.That(heuristic.Exact, Is.False);
            Assert.That(heuristic.Length, Is.GreaterThanOrEqualTo(exact.Length - 1e-12));
            Assert.That(PlanarTsp.IsTwoOptLocalOptimum(twelve, exact.Tour), Is.True, "an optimum is 2-opt optimal");
        }
        var thirty = PointSet.Uniform(30, new Random(9));
        var solution = PlanarTsp.Solve(thirty);
        Assert.That(solution.Exact, Is.False, "n > 12 is labelled heuristic");
        Assert.That(solution.Tour.Order(), Is.EqualTo(Enumerable.Range(0, 30)));
        Assert.That(solution.Tour[0], Is.Zero);
        Assert.That(solution.Tour[1], Is.LessThan(solution.Tour[^1]));
        Assert.That(PlanarTsp.IsTwoOptLocalOptimum(thirty, solution.Tour), Is.True);
        // A tour with a crossing is not 2-opt optimal, so the check can fail.
        var square = Grid((0, 0), (10, 0), (10, 10), (0, 10));
        Assert.That(PlanarTsp.IsTwoOptLocalOptimum(square, [0, 2, 1, 3]), Is.False);
        Assert.That(PlanarTsp.Solve(square).Tour, Is.EqualTo(new[] { 0, 1, 2, 3 }));
    }

    [Test]
    public void CanonicalTourRotatesAndReverses()
    {
        Assert.That(PlanarTsp.CanonicalTour([3, 1, 0, 2, 4]), Is.EqualTo(new[] { 0, 1, 3, 4, 2 }));
        Assert.That(PlanarTsp.CanonicalTour([2, 0, 1]), Is.EqualTo(new[] { 0, 1, 2 }));
        var missing = Assert.Throws<ArgumentException>(() => PlanarTsp.CanonicalTour([1, 2]));
        Assert.That(missing!.ParamName, Is.EqualTo("tour"));
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
        foreach (var rest in Permutations(items.Where((_, j) => j != i).ToArray()))
            yield return new[] { items[i] }.Concat(rest).ToArray();
    }
}
