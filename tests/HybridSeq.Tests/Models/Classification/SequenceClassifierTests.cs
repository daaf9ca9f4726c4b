using HybridSeq.Models;
using HybridSeq.Models.Classification;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Classification;

/// <summary>The sequence families as classifiers (classification tasks such as ListOps): padding never changes a
/// sequence's logits, the loss and the accuracy are the task's, and the config travels through a checkpoint.</summary>
[TestFixture]
public sealed class SequenceClassifierTests
{
    private static readonly ListOpsTask TinyListOps = new(MinLength: 4, MaxLength: 24, MaxDepth: 4, MaxArguments: 3);

    private static SequenceClassifierConfig Tiny(string backbone, ClassifierPooling pooling = ClassifierPooling.Mean) =>
        new(backbone, TinyListOps.VocabularySize, TinyListOps.ClassCount, ModelDimension: 8, Layers: 2,
            StateDimension: 4, Heads: backbone == ModelFamilies.Slstm ? 2 : 1, Pooling: pooling);

    [TestCase("mamba", ClassifierPooling.Mean)]
    [TestCase("mamba", ClassifierPooling.Last)]
    [TestCase("lstm", ClassifierPooling.Mean)]
    [TestCase("gru", ClassifierPooling.Last)]
    [TestCase("slstm", ClassifierPooling.Mean)]
    public void APaddedBatchClassifiesEverySequenceAsItWouldAlone(string backbone, ClassifierPooling pooling)
    {
        manual_seed(3);
        using var model = (SequenceClassifier)ModelFamilies.Build(Tiny(backbone, pooling));
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var examples = TinyListOps.SampleExamples(5, seed: 2);
        var (tokens, maxLength, lengths, _) = new ClassificationBatch(examples).ToArrays(TinyListOps.PaddingToken);
        Assume.That(lengths.Distinct().Count(), Is.GreaterThan(1), "the batch needs padding to test it");
        var batched = model.forward(tensor(tokens, [5, maxLength]), tensor(lengths));
        Assert.That(batched.shape, Is.EqualTo(new long[] { 5, 10 }));
        for (int i = 0; i < examples.Length; i++)
        {
            var alone = model.forward(tensor(examples[i].Inputs, [1, examples[i].Inputs.Length]),
                tensor(new long[] { examples[i].Inputs.Length }));
            Assert.That(batched[i].allclose(alone[0], rtol: 1e-4, atol: 1e-5), Is.True,
                $"example {i} (length {lengths[i]} of {maxLength})");
        }
        // And the padding id itself is ignored: padding with another id gives the same logits.
        var repadded = new ClassificationBatch(examples).ToArrays(paddingToken: ListOpsTask.CloseToken).Tokens;
        Assert.That(model.forward(tensor(repadded, [5, maxLength]), tensor(lengths)).allclose(batched, rtol: 1e-4, atol: 1e-5),
            Is.True);
    }

    [Test]
    public void TheLossAndTheAccuracyAreTheTasksOnAHandCheckedBatch()
    {
        manual_seed(5);
        using var model = (SequenceClassifier)ModelFamilies.Build(Tiny(ModelFamilies.Lstm));
        var batch = (ClassificationBatch)((ITask)TinyListOps).Sample(12, seed: 9);
        var (tokens, maxLength, lengths, labels) = batch.ToArrays(TinyListOps.PaddingToken);
        using var scope = NewDisposeScope();
        var logits = model.forward(tensor(tokens, [12, maxLength]), tensor(lengths));
        var expectedLoss = nn.functional.cross_entropy(logits, tensor(labels)).item<float>();
        Assert.That(model.Loss(TinyListOps, batch).item<float>(), Is.EqualTo(expectedLoss).Within(1e-5));

        model.eval();
        var predicted = logits.argmax(-1).data<long>().ToArray();
        int correct = predicted.Zip(labels).Count(p => p.First == p.Second);
        var totals = model.Evaluate(TinyListOps, batch, EvaluationOptions.Greedy);
        Assert.That(totals.MetricCount, Is.EqualTo(1));
        Assert.That(totals.Value(0), Is.EqualTo(correct / 12.0));
    }

    [Test]
    public void TrainingFitsASmallFixedSet()
    {
        // Learning is possible at all: a small set, seen repeatedly, is fitted far above chance (10 classes).
        manual_seed(1);
        using var model = (SequenceClassifier)ModelFamilies.Build(Tiny(ModelFamilies.Gru) with { ModelDimension = 32, Layers = 1 });
        var batch = (ClassificationBatch)((ITask)TinyListOps).Sample(32, seed: 4);
        using var optimizer = optim.AdamW(model.parameters(), lr: 0.03);
        model.train();
        double first = 0, last = 0;
        for (int step = 0; step < 25; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = model.Loss(TinyListOps, batch);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        model.eval();
        double accuracy = model.Evaluate(TinyListOps, batch, EvaluationOptions.Greedy).Value(0);
        TestContext.Out.WriteLine($"loss {first:F3} -> {last:F3}, accuracy {accuracy:P1}");
        Assert.That(last, Is.LessThan(0.7 * first), $"loss {first:F3} -> {last:F3}");
        Assert.That(accuracy, Is.GreaterThan(0.5), "the majority class of 32 examples is far below");
    }

    [TestCase("mamba")]
    [TestCase("slstm")]
    public void TheConfigRoundTripsThroughJsonUnderTheFamilysNameAndBuildsAClassifier(string backbone)
    {
        var config = Tiny(backbone, ClassifierPooling.Last);
        var read = ModelFamilies.FromJson(backbone, ModelFamilies.ToJson(config));
        Assert.That(read, Is.EqualTo(config));
        using var model = ModelFamilies.Build(read);
        Assert.That(model, Is.InstanceOf<SequenceClassifier>());
        Assert.That(ModelFamilies.Get(backbone).DefaultConfig(TinyListOps),
            Is.EqualTo(SequenceClassifierConfig.For(backbone, TinyListOps)));
        Assert.That(ModelFamilies.Supporting(TinyListOps).Select(f => f.Name),
            Is.EqualTo(new[] { "mamba", "lstm", "gru", "slstm" }));
    }

    [Test]
    public void AMismatchedTaskOrBadInputsAreRefusedByName()
    {
        var classes = Assert.Throws<ArgumentException>(() => (Tiny("lstm") with { Classes = 5 }).ValidateFor(TinyListOps));
        Assert.That(classes!.ParamName, Is.EqualTo("config"));
        Assert.That(classes.Message, Does.Contain("the task's 10 classes, got 5"));
        var vocabulary = Assert.Throws<ArgumentException>(() => (Tiny("lstm") with { VocabularySize = 12 }).ValidateFor(TinyListOps));
        Assert.That(vocabulary!.Message, Does.Contain("16 token ids, got 12"));
        var kind = Assert.Throws<ArgumentException>(() => Tiny("lstm").ValidateFor(new SelectiveCopyingTask()));
        Assert.That(kind!.Message, Does.Contain("reads classification tasks, got selective-copying"));
        var backbone = Assert.Throws<ArgumentOutOfRangeException>(() => (Tiny("lstm") with { Backbone = "tcn" }).Validate());
        Assert.That(backbone!.ParamName, Is.EqualTo("Backbone"));

        manual_seed(2);
        using var model = (SequenceClassifier)ModelFamilies.Build(Tiny(ModelFamilies.Lstm));
        using var scope = NewDisposeScope();
        var tokens = tensor(new long[] { 12, 3, 4, 15 }, [1, 4]);
        var tooLong = Assert.Throws<ArgumentException>(() => model.forward(tokens, tensor(new long[] { 5 })));
        Assert.That(tooLong!.ParamName, Is.EqualTo("lengths"));
        Assert.That(tooLong.Message, Does.Contain("[1, 4]"));
        var empty = Assert.Throws<ArgumentException>(() => model.forward(tokens, tensor(new long[] { 0 })));
        Assert.That(empty!.ParamName, Is.EqualTo("lengths"));
        var id = Assert.Throws<ArgumentException>(() => model.forward(tensor(new long[] { 12, 16 }, [1, 2]), tensor(new long[] { 2 })));
        Assert.That(id!.ParamName, Is.EqualTo("tokens"));
        var tokenBatch = Assert.Throws<ArgumentException>(() => model.Loss(TinyListOps, new TokenTaskBatch([])));
        Assert.That(tokenBatch!.ParamName, Is.EqualTo("batch"));
    }
}
