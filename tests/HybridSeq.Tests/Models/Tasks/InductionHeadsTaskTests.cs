using HybridSeq.Models.Tasks;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Tasks;

[TestFixture]
public sealed class InductionHeadsTaskTests
{
    [TestCase(64, 16, null)]
    [TestCase(3, 4, null)]      // the shortest sequence: trigger, answer, trigger
    [TestCase(64, 16, 1024)]    // an evaluation length
    public void TheTriggerOccursOnceBeforeTheEndFollowedByTheAnswerAndEndsTheSequence(int length, int vocabulary, int? at)
    {
        var task = new InductionHeadsTask(length, vocabulary, MaxEvaluationLength: 4096);
        int expectedLength = at ?? length;
        foreach (var example in task.SampleExamples(200, seed: 17, at))
        {
            Assert.That(example.Inputs, Has.Length.EqualTo(expectedLength));
            Assert.That(example.Answer, Has.Length.EqualTo(1));
            Assert.That(example.Inputs[^1], Is.EqualTo(task.TriggerToken), "the sequence ends in the trigger");
            var triggers = Enumerable.Range(0, expectedLength - 1).Where(t => example.Inputs[t] == task.TriggerToken).ToArray();
            Assert.That(triggers, Has.Length.EqualTo(1), "one trigger before the final one");
            Assert.That(triggers[0], Is.LessThanOrEqualTo(expectedLength - 3), "its answer comes before the final trigger");
            Assert.That(example.Answer[0], Is.EqualTo(example.Inputs[triggers[0] + 1]), "the answer follows the trigger");
            Assert.That(example.Answer[0], Is.InRange(0L, vocabulary - 2L), "the answer is never the trigger");
            Assert.That(example.Inputs, Has.All.InRange(0L, vocabulary - 1L));
        }
    }

    [Test]
    public void SamplingIsSeededAndCoversPositionsAndTokens()
    {
        var task = new InductionHeadsTask(SequenceLength: 10, VocabularySize: 5);
        var first = task.SampleExamples(300, 42);
        Assert.That(task.SampleExamples(300, 42).Select(e => e.Inputs), Is.EqualTo(first.Select(e => e.Inputs)));
        Assert.That(task.SampleExamples(300, 43).Select(e => e.Inputs), Is.Not.EqualTo(first.Select(e => e.Inputs)));
        // Every trigger position 0..L-3 and every answer token 0..V-2 occurs (no off-by-one in the ranges).
        var positions = first.Select(e => Array.IndexOf(e.Inputs, task.TriggerToken)).Distinct().Order();
        Assert.That(positions, Is.EqualTo(Enumerable.Range(0, 8)));
        Assert.That(first.Select(e => e.Answer[0]).Distinct().Order(), Is.EqualTo(new long[] { 0, 1, 2, 3 }));
    }

    [Test]
    public void EvaluationLengthsGrowByFourUpToTheMaximum()
    {
        Assert.That(new InductionHeadsTask().EvaluationLengths, Is.EqualTo(new[] { 64, 256, 1024 }));
        Assert.That(new InductionHeadsTask(100, MaxEvaluationLength: 1599).EvaluationLengths, Is.EqualTo(new[] { 100, 400 }));
        Assert.That(new InductionHeadsTask(8, MaxEvaluationLength: 8).EvaluationLengths, Is.EqualTo(new[] { 8 }));
    }

    [Test]
    public void TheLossAndTheMetricUseTheLastPositionOnly()
    {
        using var scope = NewDisposeScope();
        var task = new InductionHeadsTask(SequenceLength: 6, VocabularySize: 4);
        var examples = task.SampleExamples(2, 5);
        var (inputs, answers) = task.ToTensors(examples, CPU);
        Assert.That(answers.shape, Is.EqualTo(new long[] { 2, 1 }));
        // Logits that are right at the last position only: the loss is small and every answer counts as correct,
        // whatever the other positions say.
        var logits = full([2, 6, 4], 0f).index_put_(tensor(-5f), TensorIndex.Colon, TensorIndex.Slice(0, 5));
        for (int b = 0; b < 2; b++) logits[b, 5, examples[b].Answer[0]] = tensor(20f);
        Assert.That(task.AnswerLoss(logits, answers).item<float>(), Is.LessThan(1e-6f));
        var predicted = task.AnswerLogits(logits).argmax(-1);
        Assert.That(TaskMetrics.CountCorrect(predicted, answers), Is.EqualTo((2L, 2L)));
        logits[0, 5] = zeros(4);
        Assert.That(task.AnswerLoss(logits, answers).item<float>(), Is.EqualTo(Math.Log(4) / 2).Within(1e-5));
    }

    [Test]
    public void InvalidSizesNameTheField()
    {
        var length = Assert.Throws<ArgumentOutOfRangeException>(() => new InductionHeadsTask(2).Validate());
        Assert.That(length!.ParamName, Is.EqualTo("SequenceLength"));
        Assert.That(length.Message, Does.Contain("at least 3").And.Contain("got 2"));
        var evaluation = Assert.Throws<ArgumentOutOfRangeException>(
            () => new InductionHeadsTask(64, MaxEvaluationLength: 32).Validate());
        Assert.That(evaluation!.ParamName, Is.EqualTo("MaxEvaluationLength"));
        var sampled = Assert.Throws<ArgumentOutOfRangeException>(() => new InductionHeadsTask().SampleExamples(1, 1, 2));
        Assert.That(sampled!.ParamName, Is.EqualTo("length"));
    }
}
