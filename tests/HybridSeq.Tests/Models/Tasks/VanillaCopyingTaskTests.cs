using HybridSeq.Models.Tasks;
using NUnit.Framework;

namespace HybridSeq.Tests.Models.Tasks;

/// <summary>Vanilla copying (Mamba paper, Figure 2 left): the selective-copying layout with the data tokens at the
/// first K region positions, so every marker is RegionLength tokens after its data token.</summary>
[TestFixture]
public sealed class VanillaCopyingTaskTests
{
    [TestCase(13, 5, 3)]
    [TestCase(56, 8, 8)]
    [TestCase(7, 7, 2)]   // every region position holds a data token
    public void DataTokensAreTheFirstKRegionTokensAndTheAnswerInOrder(int regionLength, int dataTokens, int dataVocabulary)
    {
        var task = new VanillaCopyingTask(regionLength, dataTokens, dataVocabulary);
        foreach (var example in task.SampleExamples(50, seed: 123))
        {
            Assert.That(example.Inputs, Has.Length.EqualTo(regionLength + dataTokens));
            Assert.That(example.Inputs[..dataTokens], Is.EqualTo(example.Answer), "data tokens first, in answer order");
            Assert.That(example.Answer, Has.All.InRange(1L, (long)dataVocabulary));
            Assert.That(example.Inputs[dataTokens..regionLength], Has.All.EqualTo(CopyingTask.BlankToken), "blanks");
            Assert.That(example.Inputs[regionLength..], Has.All.EqualTo(task.MarkerToken), "markers");
        }
    }

    [Test]
    public void TheLagFromDataTokenToMarkerIsConstantHereAndVariesInSelectiveCopying()
    {
        // The property that separates the two tasks: vanilla copying is solvable by a fixed convolution kernel.
        static HashSet<int> Lags(CopyingTask task) => task.SampleExamples(200, seed: 3).SelectMany(e =>
        {
            var dataPositions = Enumerable.Range(0, task.RegionLength).Where(i => e.Inputs[i] != CopyingTask.BlankToken);
            return dataPositions.Select((position, i) => task.RegionLength + i - position);
        }).ToHashSet();
        Assert.That(Lags(new VanillaCopyingTask(20, 4, 5)), Is.EquivalentTo(new[] { 20 }));
        Assert.That(Lags(new SelectiveCopyingTask(20, 4, 5)).Count, Is.GreaterThan(10));
    }

    [Test]
    public void ItHasTheSelectiveTasksSizesAndTokenIds()
    {
        var vanilla = new VanillaCopyingTask(30, 6, 7);
        var selective = new SelectiveCopyingTask(30, 6, 7);
        Assert.That(vanilla.VocabularySize, Is.EqualTo(selective.VocabularySize).And.EqualTo(9));
        Assert.That(vanilla.MarkerToken, Is.EqualTo(selective.MarkerToken).And.EqualTo(8));
        Assert.That(vanilla.SequenceLength, Is.EqualTo(selective.SequenceLength).And.EqualTo(36));
        Assert.That(vanilla.AnswerLength, Is.EqualTo(6));
        Assert.That(vanilla.Name, Is.EqualTo("vanilla-copying"));
        Assert.That(selective.Name, Is.EqualTo("selective-copying"));
        Assert.That(vanilla, Is.Not.EqualTo((CopyingTask)selective), "records of different tasks never compare equal");
    }

    [Test]
    public void SamplingIsSeededAndCoversTheVocabulary()
    {
        var task = new VanillaCopyingTask(20, 4, 5);
        var first = task.SampleExamples(10, 42).Select(e => e.Inputs).ToArray();
        Assert.That(task.SampleExamples(10, 42).Select(e => e.Inputs).ToArray(), Is.EqualTo(first));
        Assert.That(task.SampleExamples(10, 43).Select(e => e.Inputs).ToArray(), Is.Not.EqualTo(first));
        var tokens = task.SampleExamples(400, 1).SelectMany(e => e.Answer).Distinct().Order().ToArray();
        Assert.That(tokens, Is.EqualTo(new long[] { 1, 2, 3, 4, 5 }));
    }

    [Test]
    public void AnotherLengthChangesTheRegionAndTooShortOnesNameTheArgument()
    {
        var task = new VanillaCopyingTask(20, 4, 5);
        var example = task.SampleExamples(1, 9, length: 12).Single();
        Assert.That(example.Inputs, Has.Length.EqualTo(12));
        Assert.That(example.Inputs[8..], Has.All.EqualTo(task.MarkerToken));
        Assert.That(example.Inputs[4..8], Has.All.EqualTo(CopyingTask.BlankToken));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => task.SampleExamples(1, 9, length: 7));
        Assert.That(error!.ParamName, Is.EqualTo("length"));
        Assert.That(error.Message, Does.Contain("at least 2 x DataTokenCount = 8").And.Contain("got 7"));
    }

    [Test]
    public void InvalidTaskSizesNameTheField()
    {
        var region = Assert.Throws<ArgumentOutOfRangeException>(() => new VanillaCopyingTask(3, 5, 2).Validate());
        Assert.That(region!.ParamName, Is.EqualTo("RegionLength"));
        var vocabulary = Assert.Throws<ArgumentOutOfRangeException>(() => new VanillaCopyingTask(8, 2, 0).SampleExamples(1, 1));
        Assert.That(vocabulary!.ParamName, Is.EqualTo("DataVocabulary"));
        Assert.That(vocabulary.Message, Does.Contain("got 0"));
    }
}
