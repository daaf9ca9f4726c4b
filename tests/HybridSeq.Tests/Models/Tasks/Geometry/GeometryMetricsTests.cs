using HybridSeq.Models.Tasks.Geometry;
using NUnit.Framework;

namespace HybridSeq.Tests.Models.Tasks.Geometry;

[TestFixture]
public sealed class GeometryMetricsTests
{
    private static PointSet Grid(params (long X, long Y)[] points) =>
        PointSet.FromGrid(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());

    // A 100 x 100 square (0..3 counter-clockwise), its centre 4 and the middle of the top edge 5.
    private static readonly PointSet Square = Grid((0, 0), (100, 0), (100, 100), (0, 100), (50, 50), (50, 100));

    [Test]
    public void ExactMatchComparesWholeSequences()
    {
        Assert.That(GeometryMetrics.ExactMatch([0, 1, 2], [0, 1, 2]), Is.True);
        Assert.That(GeometryMetrics.ExactMatch([0, 1], [0, 1, 2]), Is.False);
        Assert.That(GeometryMetrics.ExactMatch([0, 2, 1], [0, 1, 2]), Is.False);
    }

    [Test]
    public void HullAreaCoverageIsThePolygonsShareOfTheHull()
    {
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1, 2, 3]), Is.EqualTo(1.0));
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 3, 2, 1]), Is.EqualTo(1.0), "either orientation");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1, 2]), Is.EqualTo(0.5));
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1, 4, 3]), Is.EqualTo(0.5), "a notch to the centre");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1, 2, 5, 3]), Is.EqualTo(1.0), "a collinear extra point");
    }

    [Test]
    public void InvalidHullPredictionsFail()
    {
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 2, 1, 3]), Is.Null, "a bow tie crosses itself");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1, 2, 1]), Is.Null, "a point twice");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1]), Is.Null, "two points");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 4, 2]), Is.Null, "collinear: zero area");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1, 9]), Is.Null, "an index outside the set");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [0, 1, 2, 3, 5]), Is.Null,
            "3 -> 5 folds back over the edge 2 -> 3");
        Assert.That(GeometryMetrics.HullAreaCoverage(Square, [3, 5, 2, 1, 0, 4]), Is.EqualTo(0.75),
            "a simple polygon missing the triangle (0, 4, 3) is valid");
    }

    [Test]
    public void TriangleCoverageCountsTrueTrianglesPredicted()
    {
        (int, int, int)[] target = [(0, 1, 2), (0, 2, 3), (1, 2, 4), (2, 3, 4)];
        Assert.That(GeometryMetrics.TriangleCoverage([0, 1, 2, 0, 2, 3, 1, 2, 4, 2, 3, 4], target), Is.EqualTo(1.0));
        Assert.That(GeometryMetrics.TriangleCoverage([2, 1, 0, 3, 0, 2], target), Is.EqualTo(0.5), "order inside a triple");
        Assert.That(GeometryMetrics.TriangleCoverage([0, 1, 2, 0, 1, 2, 0, 1], target), Is.EqualTo(0.25),
            "duplicates once, incomplete group ignored");
        Assert.That(GeometryMetrics.TriangleCoverage([0, 1, 3], target), Is.EqualTo(0.0));
    }

    [Test]
    public void ValidTourLengthAcceptsClosedAndOpenPermutationsOnly()
    {
        var square = Grid((0, 0), (PointSet.GridSize / 2, 0), (PointSet.GridSize / 2, PointSet.GridSize / 2),
            (0, PointSet.GridSize / 2));
        Assert.That(GeometryMetrics.ValidTourLength(square, [0, 1, 2, 3, 0]), Is.EqualTo(2.0).Within(1e-12));
        Assert.That(GeometryMetrics.ValidTourLength(square, [0, 1, 2, 3]), Is.EqualTo(2.0).Within(1e-12));
        Assert.That(GeometryMetrics.ValidTourLength(square, [0, 2, 1, 3, 0]), Is.EqualTo(1 + Math.Sqrt(2)).Within(1e-12));
        Assert.That(GeometryMetrics.ValidTourLength(square, [0, 1, 2, 2, 0]), Is.Null, "a point twice");
        Assert.That(GeometryMetrics.ValidTourLength(square, [0, 1, 2]), Is.Null, "a point missing");
        Assert.That(GeometryMetrics.ValidTourLength(square, [0, 1, 2, 3, 1]), Is.Null, "closed at the wrong point");
    }
}
