using HybridSeq.Models.Tasks;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Tasks;

[TestFixture]
public sealed class SelectiveCopyingTaskTests
{
    [TestCase(13, 5, 3)]
    [TestCase(56, 8, 8)]
    [TestCase(7, 7, 2)]   // every region position holds a data token
    public void AnswerIsTheDataTokensOfTheRegionInOrder(int regionLength, int dataTokens, int dataVocabulary)
    {
        var task = new SelectiveCopyingTask(regionLength, dataTokens, dataVocabulary);
        foreach (var example in task.SampleExamples(50, seed: 123))
        {
            Assert.That(example.Inputs, Has.Length.EqualTo(regionLength + dataTokens));
            var region = example.Inputs[..regionLength];
            var dataInRegion = region.Where(t => t != SelectiveCopyingTask.BlankToken).ToArray();
            Assert.That(dataInRegion, Has.Length.EqualTo(dataTokens), "data tokens in the region");
            Assert.That(dataInRegion, Has.All.InRange(1L, (long)dataVocabulary));
            Assert.That(example.Inputs[regionLength..], Has.All.EqualTo(task.MarkerToken), "markers");
            Assert.That(example.Answer, Is.EqualTo(dataInRegion), "answer = data tokens in order");
        }
    }

    [Test]
    public void SamplingIsSeeded()
    {
        var task = new SelectiveCopyingTask(20, 4, 5);
        var first = task.SampleExamples(10, 42).Select(e => e.Inputs).ToArray();
        var again = task.SampleExamples(10, 42).Select(e => e.Inputs).ToArray();
        var other = task.SampleExamples(10, 43).Select(e => e.Inputs).ToArray();
        Assert.That(again, Is.EqualTo(first));
        Assert.That(other, Is.Not.EqualTo(first));
    }

    [Test]
    public void DataTokensCoverTheVocabularyAndThePositions()
    {
        // Guards against an off-by-one in the random ranges: every data token id and every region position occurs.
        var task = new SelectiveCopyingTask(10, 3, 4);
        var examples = task.SampleExamples(400, 1);
        var tokens = examples.SelectMany(e => e.Answer).Distinct().Order().ToArray();
        Assert.That(tokens, Is.EqualTo(new long[] { 1, 2, 3, 4 }));
        var positions = examples.SelectMany(e => Enumerable.Range(0, 10).Where(i => e.Inputs[i] != 0)).Distinct().Count();
        Assert.That(positions, Is.EqualTo(10));
    }

    [Test]
    public void TensorsAlignAnswersWithTheMarkerPositions()
    {
        using var scope = NewDisposeScope();
        var task = new SelectiveCopyingTask(9, 3, 4);
        var examples = task.SampleExamples(2, 5);
        var (inputs, answers) = task.ToTensors(examples, CPU);
        Assert.That(inputs.shape, Is.EqualTo(new long[] { 2, 12 }));
        Assert.That(answers.shape, Is.EqualTo(new long[] { 2, 3 }));
        for (int b = 0; b < 2; b++)
        {
            Assert.That(inputs[b].data<long>().ToArray(), Is.EqualTo(examples[b].Inputs));
            Assert.That(answers[b].data<long>().ToArray(), Is.EqualTo(examples[b].Answer));
        }

        // Mark each logit position with its index: AnswerLogits must pick exactly the marker positions 9, 10, 11.
        var positionLogits = arange(12, dtype: ScalarType.Float32).reshape(1, -1, 1).expand(2, -1, 4);
        var picked = task.AnswerLogits(positionLogits)[0, .., 0].data<float>().ToArray();
        Assert.That(picked, Is.EqualTo(new float[] { 9, 10, 11 }));
    }

    [Test]
    public void CountCorrectCountsMatchingTokensOnAHandMadeExample()
    {
        using var scope = NewDisposeScope();
        var predicted = tensor(new long[] { 1, 2, 3, 4, 4, 4 }, [2, 3]);
        var expected = tensor(new long[] { 1, 2, 0, 4, 5, 4 }, [2, 3]);
        Assert.That(TaskMetrics.CountCorrect(predicted, expected), Is.EqualTo((4L, 6L)));
        Assert.That(TaskMetrics.CountCorrect(expected, expected), Is.EqualTo((6L, 6L)));
        var wrongShape = Assert.Throws<ArgumentException>(() => TaskMetrics.CountCorrect(predicted[0], expected));
        Assert.That(wrongShape!.ParamName, Is.EqualTo("predicted"));
    }

    [Test]
    public void InvalidTaskSizesNameTheField()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SelectiveCopyingTask(3, 5, 2).Validate());
        Assert.That(error!.ParamName, Is.EqualTo("RegionLength"));
        Assert.That(error.Message, Does.Contain("at least DataTokenCount (5)").And.Contain("got 3"));
    }
}
