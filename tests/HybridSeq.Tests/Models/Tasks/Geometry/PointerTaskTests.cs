using HybridSeq.Models.Tasks;
using HybridSeq.Models.Tasks.Geometry;
using HybridSeq.Models.Tasks.Pointer;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Tasks.Geometry;

[TestFixture]
public sealed class PointerTaskTests
{
    private static readonly IPointerTask[] Tasks =
        [new ConvexHullTask(3, 12), new DelaunayTask(3, 9), new TspTask(3, 14), new SortNumbersTask(2, 15)];

    [TestCaseSource(nameof(Tasks))]
    public void SamplingIsSeededAndCoversTheSizeRange(IPointerTask task)
    {
        var a = task.SampleExamples(300, seed: 9);
        var b = task.SampleExamples(300, seed: 9);
        var c = task.SampleExamples(300, seed: 10);
        Assert.That(b.Select(e => e.Features), Is.EqualTo(a.Select(e => e.Features)));
        Assert.That(b.Select(e => e.Target), Is.EqualTo(a.Select(e => e.Target)));
        Assert.That(c.Select(e => e.Features), Is.Not.EqualTo(a.Select(e => e.Features)));
        Assert.That(a.Select(e => e.Size).Distinct().Order(),
            Is.EqualTo(Enumerable.Range(task.MinSize, task.MaxSize - task.MinSize + 1)));
        Assert.That(task.SampleExamples(5, seed: 1, size: 6).Select(e => e.Size), Has.All.EqualTo(6));
        foreach (var e in a)
        {
            Assert.That(e.Features, Has.Length.EqualTo(e.Size * task.InputFeatures));
            Assert.That(e.Target.Length, Is.LessThanOrEqualTo(task.MaxTargetLength(e.Size)));
            Assert.That(e.Target, Has.All.InRange(0, e.Size - 1));
        }
    }

    [Test]
    public void LabelsAreTheExactGeometry()
    {
        foreach (var e in new ConvexHullTask(5, 20).SampleExamples(20, 3))
            Assert.That(e.Target, Is.EqualTo(ConvexHull.Vertices(e.Points!)));
        foreach (var e in new DelaunayTask(5, 20).SampleExamples(20, 3))
            Assert.That(e.Target, Is.EqualTo(DelaunayTriangulation.Flatten(DelaunayTriangulation.Triangles(e.Points!))));
        foreach (var e in new TspTask(5, 14).SampleExamples(20, 3))
        {
            var solution = PlanarTsp.Solve(e.Points!);
            Assert.That(e.Target, Is.EqualTo(solution.Tour.Append(0).ToArray()), "the tour closed at its start");
            Assert.That(solution.Exact, Is.EqualTo(e.Size <= 12));
        }
        foreach (var e in new SortNumbersTask(5, 10).SampleExamples(20, 3))
            Assert.That(e.Target.Select(i => e.Features[i]), Is.Ordered.Ascending);
    }

    /// <summary>The constraint must admit the label: a constraint that rejects a true answer would make constrained
    /// decoding worse than none.</summary>
    [TestCaseSource(nameof(Tasks))]
    public void EveryLabelSatisfiesItsConstraint(IPointerTask task)
    {
        foreach (var e in task.SampleExamples(200, seed: 17))
        {
            var constraint = task.Constraint(e);
            for (int i = 0; i < e.Target.Length; i++)
            {
                Assert.That(constraint.AllowsElement(e.Target[..i], e.Target[i]), Is.True,
                    $"{task.Name}: element {i} of [{string.Join(", ", e.Target)}]");
                Assert.That(constraint.AllowsEnd(e.Target[..i]) && i > 0 && task is TspTask or SortNumbersTask, Is.False,
                    "no early end for fixed-length targets");
            }
            Assert.That(constraint.AllowsEnd(e.Target), Is.True, $"{task.Name}: the end after the label");
        }
    }

    [Test]
    public void ConstraintsRejectInvalidContinuations()
    {
        var hull = new ConvexHullTask(4, 4);
        // Square 0..3 counter-clockwise and its centre 4.
        var square = PointSet.FromGrid([0, 100, 100, 0, 50], [0, 0, 100, 100, 50]);
        var example = new PointerExample(5, new double[10], [0, 1, 2, 3], square);
        var c = hull.Constraint(example);
        Assert.That(c.AllowsElement([0, 1], 1), Is.False, "twice");
        Assert.That(c.AllowsElement([0, 2], 1), Is.False, "a right turn at 2");
        Assert.That(c.AllowsElement([0, 1], 3), Is.True, "the triangle 0, 1, 3 is convex");
        Assert.That(c.AllowsElement([1, 2], 0), Is.False, "below the first index");
        Assert.That(c.AllowsElement([0, 1, 2], 4), Is.False, "the centre is not a left turn towards closing");
        Assert.That(c.AllowsEnd([0, 1]), Is.False);
        var tsp = new TspTask(4, 4).Constraint(example with { Size = 4, Points = PointSet.FromGrid([0, 9, 9, 0], [0, 0, 9, 9]) });
        Assert.That(tsp.AllowsElement([], 1), Is.False, "tours start at 0");
        Assert.That(tsp.AllowsElement([0, 1, 2, 3], 1), Is.False, "closes at its start");
        Assert.That(tsp.AllowsEnd([0, 1, 2, 3]), Is.False);
        var delaunay = new DelaunayTask(5, 5).Constraint(example);
        Assert.That(delaunay.AllowsElement([0, 2], 1), Is.False, "triples ascend");
        Assert.That(delaunay.AllowsElement([0, 2], 4), Is.False, "0, 2, 4 are collinear");
        Assert.That(delaunay.AllowsElement([0, 1, 4, 0, 1], 3), Is.False, "triples ascend lexicographically");
        Assert.That(delaunay.AllowsElement([0, 1, 4, 0, 1], 4), Is.False, "a triangle twice");
        Assert.That(delaunay.AllowsEnd([0, 1, 4, 0]), Is.False, "inside a triple");
    }

    [Test]
    public void TensorsPadAndWriteOutputPositions()
    {
        using var scope = NewDisposeScope();
        var examples = new[]
        {
            new PointerExample(2, [0.1, 0.2], [1, 0]),
            new PointerExample(3, [0.5, 0.3, 0.4], [1, 2, 0]),
        };
        var (inputs, lengths, targets) = PointerTasks.ToTensors(examples, 1, CPU);
        Assert.That(inputs.shape, Is.EqualTo(new long[] { 2, 3, 1 }));
        Assert.That(inputs.flatten().data<float>().ToArray(), Is.EqualTo(new[] { 0.1f, 0.2f, 0f, 0.5f, 0.3f, 0.4f }));
        Assert.That(lengths.data<long>().ToArray(), Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(targets.data<long>().ToArray(), Is.EqualTo(new long[] { 2, 1, 0, -1, 2, 3, 1, 0 }));
    }

    [Test]
    public void ScoresFollowThePapersMetrics()
    {
        var task = new ConvexHullTask(4, 4);
        var square = PointSet.FromGrid([0, 100, 100, 0, 50], [0, 0, 100, 100, 50]);
        var example = new PointerExample(5, new double[10], [0, 1, 2, 3], square);
        var metrics = task.Score([example, example, example, example], [[0, 1, 2, 3], [0, 1, 2], [0, 2, 1, 3], [0, 1, 4, 3]])
            .Values(task);
        Assert.That(metrics.Select(m => m.Name), Is.EqualTo(new[] { "exact-sequence-accuracy", "area-coverage", "invalid-share" }));
        Assert.That(metrics[0].Value, Is.EqualTo(0.25));
        Assert.That(metrics[1].Value, Is.EqualTo((1.0 + 0.5 + 0.5) / 3), "the mean over the valid predictions");
        Assert.That(metrics[2].Value, Is.EqualTo(0.25), "the bow tie is invalid: the paper's FAIL above 1%");
        var sort = new SortNumbersTask(3, 3);
        var sortMetrics = sort.Score([new PointerExample(3, [0.3, 0.1, 0.2], [1, 2, 0])], [[1, 0, 2]]).Values(sort);
        Assert.That(sortMetrics.Select(m => m.Value), Is.EqualTo(new[] { 0.0, 1.0 / 3 }));
        var tsp = new TspTask(4, 4);
        var unit = PointSet.FromGrid([0, PointSet.GridSize / 2, PointSet.GridSize / 2, 0], [0, 0, PointSet.GridSize / 2, PointSet.GridSize / 2]);
        var tour = new PointerExample(4, new double[8], [0, 1, 2, 3, 0], unit);
        var tspMetrics = tsp.Score([tour, tour], [[0, 1, 2, 3, 0], [0, 1, 1, 3, 0]]).Values(tsp);
        Assert.That(tspMetrics.Select(m => m.Value).ToArray(), Is.EqualTo(new[] { 0.5, 2.0, 0.5, 2.0 }).Within(1e-12),
            "accuracy, length of the valid tour only, valid share, label length");
        Assert.That(tsp.Metrics[1].Goal, Is.EqualTo(MetricGoal.LowerIsBetter));
        Assert.That(Assert.Throws<ArgumentException>(() => task.Score([example], []))!.ParamName, Is.EqualTo("predictions"));
    }

    [Test]
    public void EvaluationSizesStartWithTheTrainingRangeAndBadSizesAreNamed()
    {
        Assert.That(new ConvexHullTask(5, 10).EvaluationSizes, Is.EqualTo(new[] { 10, 5, 10, 20 }));
        Assert.That(new TspTask(5, 8, [5, 12]).EvaluationSizes, Is.EqualTo(new[] { 8, 5, 12 }));
        Assert.That(new SortNumbersTask().EvaluationSizes, Is.EqualTo(new[] { 5 }));
        var batch = (PointerTaskBatch)new DelaunayTask(5, 7).Sample(6, seed: 1, size: 9);
        Assert.That(batch.Examples.Select(e => e.Size), Has.All.EqualTo(9));
        Assert.That(batch.Slice(2, 3).Count, Is.EqualTo(3));
        Assert.That(batch.ElementCount, Is.EqualTo(batch.Examples.Sum(e => 9 + e.Target.Length)));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new TspTask(5, 60).Validate())!.ParamName, Is.EqualTo("MaxSize"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new TspTask(2, 6).Validate())!.ParamName, Is.EqualTo("MinSize"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ConvexHullTask(5, 6, [5, 1000]).Validate())!.ParamName,
            Is.EqualTo("EvaluateAt"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new SortNumbersTask().SampleExamples(1, 1, size: 1))!.ParamName,
            Is.EqualTo("size"));
    }
}
