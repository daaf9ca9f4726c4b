using HybridSeq.Models;
using HybridSeq.Models.Tasks;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Tasks;

/// <summary>ListOps (Long Range Arena): the generator's labels against an independent evaluator of the written
/// expression, its depth / argument / length limits, seeding, the tokenizer, and its padded batches through the
/// "backbone + head" wiring.</summary>
[TestFixture]
public sealed class ListOpsTaskTests
{
    /// <summary>What an expression is, read back from its text alone: value, deepest digit (root = 1), fewest and
    /// most arguments of an operator, and the operators with an even number of arguments (median rounding).</summary>
    private sealed record Parsed(int Value, int DeepestDigit, int FewestArguments, int MostArguments, int EvenMedians);

    /// <summary>A stack evaluator over the text tokens, written without the generator's recursion or token ids.</summary>
    private static Parsed Evaluate(string expression)
    {
        var stack = new Stack<(string Op, List<int> Args)>();
        int? result = null;
        int deepest = 0, fewest = int.MaxValue, most = 0, evenMedians = 0;
        foreach (string token in expression.Split(' '))
        {
            Assert.That(result, Is.Null, $"tokens after the end of '{expression}'");
            if (token.StartsWith('['))
            {
                stack.Push((token, new List<int>()));
                continue;
            }
            int value;
            if (token == "]")
            {
                var (op, args) = stack.Pop();
                fewest = Math.Min(fewest, args.Count);
                most = Math.Max(most, args.Count);
                var sorted = args.Order().ToList();
                value = op switch
                {
                    "[MAX" => sorted[^1],
                    "[MIN" => sorted[0],
                    "[SM" => args.Sum() % 10,
                    "[MED" => sorted.Count % 2 == 1
                        ? sorted[sorted.Count / 2]
                        : (int)Math.Floor((sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2.0),
                    _ => throw new AssertionException($"unknown operator {op}"),
                };
                if (op == "[MED" && args.Count % 2 == 0) evenMedians++;
            }
            else
            {
                value = int.Parse(token, System.Globalization.CultureInfo.InvariantCulture);
                Assert.That(value, Is.InRange(0, 9));
                deepest = Math.Max(deepest, stack.Count + 1);
            }
            if (stack.Count == 0) result = value;
            else stack.Peek().Args.Add(value);
        }
        Assert.That(stack, Is.Empty, $"unclosed operators in '{expression}'");
        Assert.That(result, Is.Not.Null);
        return new Parsed(result!.Value, deepest, fewest, most, evenMedians);
    }

    [Test]
    public void TheEvaluatorOfTheseTestsReadsTheLraExample()
    {
        // The LRA paper's example (MEDIAN written [MED), and the rounding of an even median: (3 + 6) / 2 -> 4.
        Assert.That(Evaluate("[MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]").Value, Is.EqualTo(5));
        Assert.That(Evaluate("[MED 6 3 ]").Value, Is.EqualTo(4));
        Assert.That(Evaluate("[SM 9 8 [MAX 1 7 ] ]").Value, Is.EqualTo(4));
    }

    [TestCase(64, 256, 10, 10)]
    [TestCase(4, 40, 4, 3)]
    [TestCase(16, 64, 6, 5)]
    public void LabelsAreTheValuesOfTheWrittenExpressionsWithinTheLimits(int minLength, int maxLength, int maxDepth, int maxArguments)
    {
        var task = new ListOpsTask(minLength, maxLength, maxDepth, maxArguments);
        var examples = task.SampleExamples(400, seed: 5);
        int deepest = 0, most = 0, evenMedians = 0;
        foreach (var example in examples)
        {
            Assert.That(example.Inputs.Length, Is.InRange(minLength, maxLength));
            Assert.That(example.Inputs, Has.All.InRange(1L, task.VocabularySize - 1L).And.None.EqualTo(ListOpsTask.Padding));
            var parsed = Evaluate(ListOpsTask.Detokenize(example.Inputs));
            Assert.That(example.Label, Is.EqualTo(parsed.Value), ListOpsTask.Detokenize(example.Inputs));
            Assert.That(parsed.DeepestDigit, Is.LessThanOrEqualTo(maxDepth));
            Assert.That(parsed.FewestArguments, Is.GreaterThanOrEqualTo(2));
            Assert.That(parsed.MostArguments, Is.LessThanOrEqualTo(maxArguments));
            deepest = Math.Max(deepest, parsed.DeepestDigit);
            most = Math.Max(most, parsed.MostArguments);
            evenMedians += parsed.EvenMedians;
        }
        // The limits are reached, not just respected (an off-by-one in the generator's ranges shows here).
        Assert.That(deepest, Is.EqualTo(maxDepth), "deepest digit");
        Assert.That(most, Is.EqualTo(maxArguments), "most arguments");
        Assert.That(evenMedians, Is.GreaterThan(0), "medians of an even count were checked");
        Assert.That(examples.Select(e => e.Label).Distinct().Count(), Is.EqualTo(10), "every class occurs");
    }

    [Test]
    public void LengthsFillTheWindowAndASizeMovesItsUpperEnd()
    {
        var task = new ListOpsTask(20, 60, 10, 10);
        var lengths = task.SampleExamples(600, seed: 2).Select(e => e.Inputs.Length).ToArray();
        Assert.That(lengths.Min(), Is.LessThanOrEqualTo(22));
        Assert.That(lengths.Max(), Is.GreaterThanOrEqualTo(55));
        var longer = task.SampleExamples(200, seed: 2, size: 120).Select(e => e.Inputs.Length).ToArray();
        Assert.That(longer, Has.All.InRange(20, 120));
        Assert.That(longer.Max(), Is.GreaterThan(60));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => task.SampleExamples(1, 1, size: 19));
        Assert.That(error!.ParamName, Is.EqualTo("size"));
        Assert.That(error.Message, Does.Contain("at least MinLength = 20").And.Contain("got 19"));
    }

    [Test]
    public void TheLraLengthsAreAvailable()
    {
        var task = new ListOpsTask(501, 1999);
        var examples = task.SampleExamples(3, seed: 1);
        Assert.That(examples.Select(e => e.Inputs.Length), Has.All.InRange(501, 1999));
        foreach (var example in examples)
            Assert.That(example.Label, Is.EqualTo(Evaluate(ListOpsTask.Detokenize(example.Inputs)).Value));
    }

    [Test]
    public void SamplingIsSeeded()
    {
        var task = new ListOpsTask(8, 40, 5, 4);
        var first = task.SampleExamples(20, 42);
        var again = task.SampleExamples(20, 42);
        var other = task.SampleExamples(20, 43);
        Assert.That(again.Select(e => e.Inputs), Is.EqualTo(first.Select(e => e.Inputs)));
        Assert.That(again.Select(e => e.Label), Is.EqualTo(first.Select(e => e.Label)));
        Assert.That(other.Select(e => e.Inputs), Is.Not.EqualTo(first.Select(e => e.Inputs)));
        var batch = (SequenceBatch)((ITask)task).Sample(20, 42);
        var expected = ListOpsTask.ToBatch(first);
        Assert.That(batch.Tokens, Is.EqualTo(expected.Tokens), "Sample = SampleExamples");
        Assert.That(batch.Lengths, Is.EqualTo(expected.Lengths));
        Assert.That(batch.ClassTargets, Is.EqualTo(first.Select(e => (long)e.Label)));
    }

    [Test]
    public void TheTokenizerRoundTripsAndReadsLraTsvText()
    {
        foreach (var example in new ListOpsTask(4, 80, 6, 5).SampleExamples(50, seed: 8))
        {
            string text = ListOpsTask.Detokenize(example.Inputs);
            Assert.That(ListOpsTask.Tokenize(text), Is.EqualTo(example.Inputs));
        }
        // LRA's TSV files write every tree node in parentheses; they carry no information and are skipped.
        var fromTsv = ListOpsTask.Tokenize("( ( ( ( [MAX 4 ) 3 ) [MIN 2 3 ] ) ] )");
        Assert.That(fromTsv, Is.EqualTo(ListOpsTask.Tokenize("[MAX 4 3 [MIN 2 3 ] ]")));
        Assert.That(fromTsv, Is.EqualTo(new long[]
        {
            ListOpsTask.MaxToken, ListOpsTask.DigitToken(4), ListOpsTask.DigitToken(3), ListOpsTask.MinToken,
            ListOpsTask.DigitToken(2), ListOpsTask.DigitToken(3), ListOpsTask.CloseToken, ListOpsTask.CloseToken,
        }));
        Assert.That(ListOpsTask.Detokenize(fromTsv), Is.EqualTo("[MAX 4 3 [MIN 2 3 ] ]"));
        var unknown = Assert.Throws<ArgumentException>(() => ListOpsTask.Tokenize("[MAX 4 [FIRST 1 2 ] ]"));
        Assert.That(unknown!.ParamName, Is.EqualTo("expression"));
        Assert.That(unknown.Message, Does.Contain("'[FIRST'").And.Contain("token 2"));
        var padding = Assert.Throws<ArgumentException>(() => ListOpsTask.Detokenize(new long[] { 12, 3, 0 }));
        Assert.That(padding!.ParamName, Is.EqualTo("tokens"));
        Assert.That(padding.Message, Does.Contain("got 0 at position 2"));
    }

    [Test]
    public void InvalidSettingsNameTheFieldAndAnUnreachableWindowFailsInsteadOfHanging()
    {
        (ListOpsTask Task, string Field, string Message)[] cases =
        [
            (new ListOpsTask(MinLength: 3), "MinLength", "at least 4"),
            (new ListOpsTask(MinLength: 50, MaxLength: 40), "MaxLength", "at least MinLength = 50, got 40"),
            (new ListOpsTask(MaxDepth: 1), "MaxDepth", "in [2, 64]"),
            (new ListOpsTask(MaxDepth: 100_000), "MaxDepth", "got 100000"),
            (new ListOpsTask(MaxArguments: 1), "MaxArguments", "at least 2"),
            (new ListOpsTask(MinLength: 11, MaxLength: 20, MaxDepth: 3, MaxArguments: 2), "MinLength", "at most 10"),
        ];
        foreach (var (task, field, message) in cases)
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => task.SampleExamples(1, 1));
            Assert.That(error!.ParamName, Is.EqualTo(field), task.ToString());
            Assert.That(error.Message, Does.Contain(message));
        }
        // Reachable in principle (the full binary tree of depth 10 has 1534 tokens), never in practice.
        var unreachable = new ListOpsTask(MinLength: 1500, MaxLength: 1534, MaxDepth: 10, MaxArguments: 2);
        Assert.That(() => unreachable.Validate(), Throws.Nothing);
        var hang = Assert.Throws<InvalidOperationException>(() => unreachable.SampleExamples(1, 1));
        Assert.That(hang!.Message, Does.Contain("missed the lengths [1500, 1534]"));
    }

    [Test]
    public void ABatchPadsAtTheEndAndKeepsLengthsAndLabels()
    {
        var batch = ListOpsTask.ToBatch([new ListOpsExample([12, 3, 4, 15], 3), new ListOpsExample([5], 4)]);
        Assert.That(batch.Length, Is.EqualTo(4));
        Assert.That(batch.Tokens, Is.EqualTo(new long[] { 12, 3, 4, 15, 5, 0, 0, 0 }));
        Assert.That(batch.Lengths, Is.EqualTo(new long[] { 4, 1 }));
        Assert.That(batch.ClassTargets, Is.EqualTo(new long[] { 3, 4 }));
        Assert.That(batch.ElementCount, Is.EqualTo(5 + 2), "own tokens and one target each; padding not counted");
        var second = (SequenceBatch)batch.Slice(1, 1);
        Assert.That(second.Tokens, Is.EqualTo(new long[] { 5, 0, 0, 0 }));
        Assert.That(second.Lengths, Is.EqualTo(new long[] { 1 }));
        Assert.That(second.ClassTargets, Is.EqualTo(new long[] { 4 }));
        var empty = Assert.Throws<ArgumentException>(() => ListOpsTask.ToBatch([]));
        Assert.That(empty!.ParamName, Is.EqualTo("examples"));
        var length = Assert.Throws<ArgumentException>(() =>
            SequenceBatch.PaddedTokenClasses(2, 4, new long[8], [4, 5], 1, [0, 0]));
        Assert.That(length!.ParamName, Is.EqualTo("lengths"));
        Assert.That(length.Message, Does.Contain("[1, 4], got 5 at 1"));
    }

    [TestCase("mamba")]
    [TestCase("lstm")]
    [TestCase("tcn")]
    [TestCase("s4d")]
    public void APaddedBatchClassifiesEveryExpressionAsItWouldAlone(string family)
    {
        var task = new ListOpsTask(MinLength: 4, MaxLength: 24, MaxDepth: 4, MaxArguments: 3);
        manual_seed(3);
        using var model = (SequenceModel)ModelFamilies.Build(ModelFamilies.Get(family).DefaultConfig(task));
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var examples = task.SampleExamples(5, seed: 2);
        var batch = ListOpsTask.ToBatch(examples);
        Assume.That(batch.Lengths!.Distinct().Count(), Is.GreaterThan(1), "the batch needs padding to test it");
        var batched = model.forward(batch.InputTensor(CPU, ScalarType.Float32), batch.LengthTensor(CPU));
        Assert.That(batched.shape, Is.EqualTo(new long[] { 5, 10 }));
        for (int i = 0; i < examples.Length; i++)
        {
            var alone = ListOpsTask.ToBatch([examples[i]]);
            var own = model.forward(alone.InputTensor(CPU, ScalarType.Float32), alone.LengthTensor(CPU));
            Assert.That(batched[i].allclose(own[0], rtol: 1e-4, atol: 1e-5), Is.True,
                $"example {i} (length {batch.Lengths![i]} of {batch.Length})");
        }
        // The loss and the accuracy are the task's, from those logits.
        var labels = tensor(batch.ClassTargets!);
        Assert.That(model.Loss(task, batch).item<float>(),
            Is.EqualTo(nn.functional.cross_entropy(batched, labels).item<float>()).Within(1e-4));
        long correct = batched.argmax(-1).eq(labels).sum().item<long>();
        Assert.That(model.Evaluate(task, batch, EvaluationOptions.Greedy).Value(0), Is.EqualTo(correct / 5.0));
        var bad = Assert.Throws<ArgumentException>(() =>
            model.forward(batch.InputTensor(CPU, ScalarType.Float32), tensor(new long[] { 1, 2, 3, 4, 99 })));
        Assert.That(bad!.ParamName, Is.EqualTo("lengths"));
    }
}
