using HybridSeq.Models;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Tasks.Synthetic;
using HybridSeq.Models.Training;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Tasks;

/// <summary>The TCN paper's synthetic tasks: the generators produce exactly the layouts the paper defines, are pure
/// functions of the seed, and their losses and metrics compute what they say; a small model of the backbone + head
/// wiring lowers the loss on both.</summary>
[TestFixture]
public sealed class SyntheticTasksTests
{
    [TestCase(200)]
    [TestCase(600)]
    [TestCase(7)]
    [TestCase(2)]
    public void AddingMarksOneStepInEachHalfAndTargetsTheirSum(int length)
    {
        var task = new AddingTask(length);
        var batch = (SequenceBatch)task.Sample(300, seed: 5);
        Assert.That(batch.Count, Is.EqualTo(300));
        Assert.That(batch.Length, Is.EqualTo(length));
        Assert.That(batch.Channels, Is.EqualTo(2));
        Assert.That(batch.Tokens, Is.Null);
        var values = batch.Values!;
        int half = length / 2;
        bool firstSeenAtZero = false, firstSeenAtEnd = false, secondSeenAtHalf = false, secondSeenAtEnd = false;
        for (int e = 0; e < batch.Count; e++)
        {
            var marked = new List<int>();
            for (int t = 0; t < length; t++)
            {
                float value = values[(e * length + t) * 2], marker = values[(e * length + t) * 2 + 1];
                Assert.That(value, Is.GreaterThanOrEqualTo(0f).And.LessThan(1f), "values are uniform in [0, 1)");
                Assert.That(marker, Is.EqualTo(0f).Or.EqualTo(1f), "the marker channel is two-hot");
                if (marker == 1f) marked.Add(t);
            }
            Assert.That(marked, Has.Count.EqualTo(2), $"example {e}: exactly two marked steps");
            Assert.That(marked[0], Is.LessThan(half), "one marked step in the first half");
            Assert.That(marked[1], Is.GreaterThanOrEqualTo(half), "one in the second half");
            firstSeenAtZero |= marked[0] == 0;
            firstSeenAtEnd |= marked[0] == half - 1;
            secondSeenAtHalf |= marked[1] == half;
            secondSeenAtEnd |= marked[1] == length - 1;
            float sum = values[(e * length + marked[0]) * 2] + values[(e * length + marked[1]) * 2];
            Assert.That(batch.RealTargets![e], Is.EqualTo(sum), "the target is the sum of the two marked values");
        }
        if (length <= 7)
            Assert.That(firstSeenAtZero && firstSeenAtEnd && secondSeenAtHalf && secondSeenAtEnd, Is.True,
                "in 300 draws the marks reach both ends of each half");
    }

    [Test]
    public void AddingPredictingOneScoresTheVarianceOfTwoUniforms()
    {
        var task = new AddingTask(50);
        var batch = (SequenceBatch)task.Sample(20000, seed: 2);
        using var scope = NewDisposeScope();
        var totals = MetricTotals.For(task);
        task.AddMetrics(totals, ones(batch.Count, 1), batch);
        Assert.That(totals.Value(0), Is.EqualTo(AddingTask.PredictOneMse).Within(0.005));
        var exact = MetricTotals.For(task);
        task.AddMetrics(exact, tensor(batch.RealTargets!).reshape(-1, 1), batch);
        Assert.That(exact.Value(0), Is.EqualTo(0).Within(1e-12), "the targets themselves score zero");
        Assert.That(task.Loss(ones(batch.Count, 1), batch).item<float>(), Is.EqualTo((float)totals.Value(0)).Within(1e-4));
    }

    [TestCase(100, true)]
    [TestCase(1000, true)]
    [TestCase(1, true)]
    [TestCase(30, false)]
    public void CopyMemoryHasThePapersLayout(int blank, bool repeatMarker)
    {
        var task = new CopyMemoryTask(blank, RepeatMarker: repeatMarker);
        var batch = (SequenceBatch)task.Sample(40, seed: 9);
        int length = blank + 20;
        Assert.That(batch.Length, Is.EqualTo(length));
        Assert.That(task.SequenceLength, Is.EqualTo(length));
        Assert.That(batch.TargetsPerExample, Is.EqualTo(length));
        var symbolsSeen = new HashSet<long>();
        for (int e = 0; e < batch.Count; e++)
        {
            var x = batch.Tokens!.AsSpan(e * length, length).ToArray();
            var y = batch.ClassTargets!.AsSpan(e * length, length).ToArray();
            for (int i = 0; i < 10; i++)
            {
                Assert.That(x[i], Is.InRange(1L, 8L), "the first 10 inputs are symbols 1..8");
                symbolsSeen.Add(x[i]);
            }
            for (int t = 10; t < 10 + blank - 1; t++) Assert.That(x[t], Is.EqualTo(0L), "then T - 1 blanks");
            Assert.That(x[10 + blank - 1], Is.EqualTo(9L), "then the delimiter");
            for (int t = length - 10; t < length; t++)
                Assert.That(x[t], Is.EqualTo(repeatMarker ? 9L : 0L), repeatMarker ? "the paper: the last 11 inputs are 9" : "Arjovsky et al.: blanks after the delimiter");
            for (int t = 0; t < length - 10; t++) Assert.That(y[t], Is.EqualTo(0L), "targets are blank before the copy");
            Assert.That(y[(length - 10)..], Is.EqualTo(x[..10]), "the last 10 targets repeat the 10 symbols");
        }
        Assert.That(symbolsSeen, Is.EquivalentTo(Enumerable.Range(1, 8).Select(i => (long)i)), "all 8 symbols occur");
    }

    [Test]
    public void CopyMemoryMetricsAndThePapersBaseline()
    {
        var task = new CopyMemoryTask(100);
        var batch = (SequenceBatch)task.Sample(64, seed: 4);
        Assert.That(task.BaselineLoss(), Is.EqualTo(10 * Math.Log(8) / 120).Within(1e-12));
        using var scope = NewDisposeScope();
        // The baseline predictor: blanks for sure before the copy, uniform over the 8 symbols during it.
        var logits = full(new long[] { 64, 120, 10 }, -1e9, ScalarType.Float64);
        logits[.., ..110, 0] = 0;
        logits[.., 110.., 1..9] = 0;
        var totals = MetricTotals.For(task);
        task.AddMetrics(totals, logits, batch);
        Assert.That(totals.Value(1), Is.EqualTo(task.BaselineLoss()).Within(1e-9), "cross-entropy over every step");
        Assert.That(totals.Value(2), Is.EqualTo(Math.Log(8)).Within(1e-9), "cross-entropy on the copied steps");
        Assert.That(task.Loss(logits, batch).item<double>(), Is.EqualTo(task.BaselineLoss()).Within(1e-9));
        // A perfect predictor: one-hot logits of the targets.
        var perfect = nn.functional.one_hot(batch.ClassTargetTensor(CPU), 10).to(ScalarType.Float64) * 50;
        var best = MetricTotals.For(task);
        task.AddMetrics(best, perfect, batch);
        Assert.That(best.Value(0), Is.EqualTo(1.0), "accuracy on the copied steps");
        Assert.That(best.Value(1), Is.LessThan(1e-15));
        // Off by one symbol on every copied step: accuracy 0.
        var wrong = nn.functional.one_hot((batch.ClassTargetTensor(CPU) % 8) + 1, 10).to(ScalarType.Float64) * 50;
        var worst = MetricTotals.For(task);
        task.AddMetrics(worst, wrong, batch);
        Assert.That(worst.Value(0), Is.EqualTo(0.0));
    }

    [Test]
    public void GeneratorsArePureFunctionsOfTheSeed()
    {
        ITask[] tasks = [new AddingTask(30), new CopyMemoryTask(20)];
        foreach (var task in tasks)
        {
            var a = (SequenceBatch)task.Sample(8, seed: 17);
            var b = (SequenceBatch)task.Sample(8, seed: 17);
            var c = (SequenceBatch)task.Sample(8, seed: 18);
            if (a.Values is not null)
            {
                Assert.That(b.Values, Is.EqualTo(a.Values));
                Assert.That(b.RealTargets, Is.EqualTo(a.RealTargets));
                Assert.That(c.Values, Is.Not.EqualTo(a.Values));
            }
            else
            {
                Assert.That(b.Tokens, Is.EqualTo(a.Tokens));
                Assert.That(b.ClassTargets, Is.EqualTo(a.ClassTargets));
                Assert.That(c.Tokens, Is.Not.EqualTo(a.Tokens));
            }
            var slice = (SequenceBatch)a.Slice(3, 2);
            Assert.That(slice.Count, Is.EqualTo(2));
            int perExample = a.Length * a.Channels;
            if (a.Values is not null)
                Assert.That(slice.Values, Is.EqualTo(a.Values.AsSpan(3 * perExample, 2 * perExample).ToArray()));
            else
                Assert.That(slice.Tokens, Is.EqualTo(a.Tokens!.AsSpan(3 * perExample, 2 * perExample).ToArray()));
        }
    }

    [Test]
    public void BadSizesAreRejectedByName()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new AddingTask(1).Validate())!.ParamName, Is.EqualTo("Length"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new AddingTask(10).Sample(2, 0, size: 1))!.ParamName, Is.EqualTo("size"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CopyMemoryTask(0).Validate())!.ParamName, Is.EqualTo("Length"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CopyMemoryTask(5, MemoryLength: 0).Validate())!.ParamName,
            Is.EqualTo("MemoryLength"));
    }

    [TestCase("lstm")]
    [TestCase("gru")]
    [TestCase("tcn")]
    public void ASmallModelLowersTheAddingLoss(string family)
    {
        // T = 4: one marked step among the first two, one among the last two; beating "predict 1" (MSE 1/6) needs
        // the model to read the markers.
        var task = new AddingTask(4);
        var config = SequenceModelConfig.For(family, task) with
        {
            Network = BackboneConfig.For(family, 4) with { ModelDimension = 12, Layers = family == "tcn" ? 2 : 1, KernelSize = 2 },
        };
        var options = new TrainingOptions(Steps: 200, BatchSize: 64, LearningRate: 2e-2, WarmupSteps: 10, WeightDecay: 0,
            MinimumLearningRate: 1e-3, Seed: 3);
        using var trainer = new Trainer(config, task, options, CPU);
        var losses = Enumerable.Range(0, options.Steps).Select(_ => trainer.TrainStep()).ToArray();
        double last = losses[^20..].Average();
        Assert.That(last, Is.LessThan(0.5 * AddingTask.PredictOneMse),
            $"{family}: mean MSE of the last 20 steps {last:F4}, first 20 {losses[..20].Average():F4}");
    }

    [TestCase("gru")]
    [TestCase("tcn")]
    public void ASmallModelLowersTheCopyMemoryLoss(string family)
    {
        var task = new CopyMemoryTask(4, MemoryLength: 2);
        var config = SequenceModelConfig.For(family, task) with
        {
            Network = BackboneConfig.For(family, task.SequenceLength) with { ModelDimension = 16 },
        };
        var options = new TrainingOptions(Steps: 120, BatchSize: 32, LearningRate: 1e-2, WarmupSteps: 10, WeightDecay: 0, Seed: 5);
        using var trainer = new Trainer(config, task, options, CPU);
        var losses = Enumerable.Range(0, options.Steps).Select(_ => trainer.TrainStep()).ToArray();
        Assert.That(losses[^10..].Average(), Is.LessThan(0.5 * losses[..5].Average()), $"{family}: the loss halves");
    }
}
