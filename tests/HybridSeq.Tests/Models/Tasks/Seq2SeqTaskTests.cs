using System.Numerics;
using HybridSeq.Models.Tasks;
using NUnit.Framework;

namespace HybridSeq.Tests.Models.Tasks;

/// <summary>The generated seq2seq tasks: deterministic per seed, labels checked independently of the generators
/// (the reversal, the sort and the sum recomputed here), sizes in range, and the scoring of decoded sequences.</summary>
[TestFixture]
public sealed class Seq2SeqTaskTests
{
    private static long[] Digits(long[] tokens) => tokens.Select(t => t - Seq2SeqVocabulary.FirstDigit).ToArray();

    private static void AssertDeterministic(ISeq2SeqTask task)
    {
        var first = task.SampleExamples(50, seed: 9);
        var again = task.SampleExamples(50, seed: 9);
        var other = task.SampleExamples(50, seed: 10);
        for (int i = 0; i < 50; i++)
        {
            Assert.That(again[i].Source, Is.EqualTo(first[i].Source));
            Assert.That(again[i].Target, Is.EqualTo(first[i].Target));
        }
        Assert.That(Enumerable.Range(0, 50).Any(i => !other[i].Source.SequenceEqual(first[i].Source)), Is.True,
            "another seed gives other examples");
    }

    [Test]
    public void ReversalTargetsAreTheSourceBackwardsThenTheEnd()
    {
        var task = new ReverseTask(MinLength: 2, MaxLength: 7, Base: 10);
        AssertDeterministic(task);
        var examples = task.SampleExamples(400, seed: 1);
        foreach (var example in examples)
        {
            Assert.That(example.Source.Length, Is.InRange(2, 7));
            Assert.That(example.Source, Has.All.InRange(Seq2SeqVocabulary.FirstDigit, Seq2SeqVocabulary.FirstDigit + 9));
            Assert.That(example.Target.Length, Is.EqualTo(example.Source.Length + 1));
            Assert.That(example.Target[^1], Is.EqualTo(Seq2SeqVocabulary.End));
            for (int i = 0; i < example.Source.Length; i++)
                Assert.That(example.Target[i], Is.EqualTo(example.Source[example.Source.Length - 1 - i]));
        }
        Assert.That(examples.Select(e => e.Source.Length).Distinct().Count(), Is.EqualTo(6), "every length 2..7 drawn");
        Assert.That(task.SampleExamples(20, seed: 3, size: 12).Select(e => e.Source.Length), Has.All.EqualTo(12));
    }

    [Test]
    public void SortTargetsAreTheSourceDigitsInAscendingOrder()
    {
        var task = new SortTask(MinLength: 3, MaxLength: 9, Base: 6);
        AssertDeterministic(task);
        foreach (var example in task.SampleExamples(400, seed: 2))
        {
            long[] digits = Digits(example.Source), sorted = Digits(example.Target[..^1]);
            Assert.That(digits, Has.All.InRange(0, 5));
            Assert.That(example.Target[^1], Is.EqualTo(Seq2SeqVocabulary.End));
            Assert.That(sorted, Is.Ordered.Ascending);
            // Same multiset: every digit occurs as often in the target as in the source.
            for (long d = 0; d < 6; d++)
                Assert.That(sorted.Count(x => x == d), Is.EqualTo(digits.Count(x => x == d)), $"digit {d}");
        }
    }

    [Test]
    public void AdditionTargetsAreTheSumOfTheTwoNumbers()
    {
        var task = new AdditionTask(MinDigits: 1, MaxDigits: 12, Base: 10);
        AssertDeterministic(task);
        var lengths = new HashSet<int>();
        foreach (var example in task.SampleExamples(400, seed: 4))
        {
            // Parse "a+b" and the target back with BigInteger, independently of the generator's long arithmetic.
            string source = Seq2SeqVocabulary.Render(example.Source);
            string[] parts = source.Split('+');
            Assert.That(parts, Has.Length.EqualTo(2), source);
            foreach (string part in parts)
            {
                Assert.That(part.Length, Is.InRange(1, 12), source);
                Assert.That(part.Length == 1 || part[0] != '0', Is.True, $"no leading zero in {source}");
                lengths.Add(part.Length);
            }
            string target = Seq2SeqVocabulary.Render(example.Target);
            Assert.That(target, Does.EndWith("$"));
            var expected = BigInteger.Parse(parts[0]) + BigInteger.Parse(parts[1]);
            Assert.That(target[..^1], Is.EqualTo(expected.ToString()), source);
        }
        Assert.That(lengths.Count, Is.EqualTo(12), "every operand length 1..12 drawn");
        var binary = new AdditionTask(MinDigits: 3, MaxDigits: 3, Base: 2).SampleExamples(30, seed: 5);
        foreach (var example in binary)
        {
            string[] parts = Seq2SeqVocabulary.Render(example.Source).Split('+');
            long sum = Convert.ToInt64(parts[0], 2) + Convert.ToInt64(parts[1], 2);
            Assert.That(Seq2SeqVocabulary.Render(example.Target)[..^1], Is.EqualTo(Convert.ToString(sum, 2)));
        }
    }

    [Test]
    public void ScoringCountsExactSequencesAndTargetTokens()
    {
        const long E = Seq2SeqVocabulary.End;
        Seq2SeqExample[] examples = [new([4, 5], [5, 4, E]), new([4, 5], [5, 4, E]), new([6], [6, E])];
        // Exact (tokens after the end are cut); one wrong token and no end; shorter than its target.
        long[][] predicted = [[5, 4, E, 7, 7], [5, 6, 8], [E]];
        var totals = new MetricTotals(2);
        Seq2SeqMetrics.Score(examples, predicted, totals);
        Assert.That(totals.Value(0), Is.EqualTo(1.0 / 3), "one exact sequence of three");
        Assert.That(totals.Value(1), Is.EqualTo(4.0 / 8), "3 + 1 + 0 of 3 + 3 + 2 target tokens");
        var count = Assert.Throws<ArgumentException>(() => Seq2SeqMetrics.Score(examples, predicted[..2], totals));
        Assert.That(count!.ParamName, Is.EqualTo("predicted"));
    }

    [Test]
    public void BadConfigsNameTheField()
    {
        var min = Assert.Throws<ArgumentOutOfRangeException>(() => new ReverseTask(MinLength: 0).Validate());
        Assert.That(min!.ParamName, Is.EqualTo("MinLength"));
        var max = Assert.Throws<ArgumentOutOfRangeException>(() => new SortTask(MinLength: 5, MaxLength: 4).Validate());
        Assert.That(max!.ParamName, Is.EqualTo("MaxLength"));
        var digitBase = Assert.Throws<ArgumentOutOfRangeException>(() => new SortTask(Base: 1).Validate());
        Assert.That(digitBase!.ParamName, Is.EqualTo("Base"));
        var digits = Assert.Throws<ArgumentOutOfRangeException>(() => new AdditionTask(MaxDigits: 18).Validate());
        Assert.That(digits!.ParamName, Is.EqualTo("MaxDigits"));
        var size = Assert.Throws<ArgumentOutOfRangeException>(() => new ReverseTask().SampleExamples(1, 1, size: 0));
        Assert.That(size!.ParamName, Is.EqualTo("size"));
    }

    [Test]
    public void Seq2SeqTasksAreOfKindSeq2SeqAndRoundTripThroughTheRegistry()
    {
        foreach (var name in new[] { ReverseTask.TaskName, SortTask.TaskName, AdditionTask.TaskName })
        {
            var definition = TaskRegistry.Get(name);
            Assert.That(definition.Kind, Is.EqualTo(TaskKinds.Seq2Seq));
            Assert.That(definition.DefaultModel, Is.EqualTo("seq2seq"));
            Assert.That(definition.Default.Metrics.Select(m => m.Name),
                Is.EqualTo(new[] { Seq2SeqMetrics.ExactSequenceAccuracy, Seq2SeqMetrics.TokenAccuracy }));
            var read = TaskRegistry.FromJson(name, TaskRegistry.ToJson(definition.Default));
            Assert.That(read, Is.EqualTo(definition.Default));
            var batch = (Seq2SeqBatch)definition.Default.Sample(8, seed: 3);
            Assert.That(batch.Count, Is.EqualTo(8));
            Assert.That(batch.ElementCount, Is.EqualTo(batch.Examples.Sum(e => e.Source.Length + e.Target.Length)));
        }
    }
}
