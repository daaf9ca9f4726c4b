using HybridSeq.Models.Decoding;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Tasks;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Mamba;

[TestFixture]
public sealed class MambaLanguageModelTests
{
    private static MambaLanguageModel SmallModel(int seed, int layers = 2)
    {
        torch.manual_seed(seed);
        var model = new MambaLanguageModel(new MambaConfig(VocabularySize: 7, ModelDimension: 12, Layers: layers,
            StateDimension: 3, ConvolutionWidth: 4));
        model.to(ScalarType.Float64);
        return model;
    }

    [TestCase(1, 1)]
    [TestCase(3, 9)]
    public void StepLogitsEqualFullForwardLogits(int batch, int length)
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(5);
        var tokens = randint(0, 7, [batch, length], ScalarType.Int64);

        Tensor full;
        using (no_grad()) full = model.forward(tokens);
        Assert.That(full.shape, Is.EqualTo(new long[] { batch, length, 7 }));

        IDecodingState state = model.InitialState(batch);
        var stepLogits = new List<Tensor>();
        for (int t = 0; t < length; t++)
        {
            var (logits, next) = model.Step(tokens[.., t], state);
            state.Dispose();
            state = next;
            stepLogits.Add(logits);
        }
        state.Dispose();
        TensorAssert.Close(stack(stepLogits, 1), full, "step logits vs full forward logits");
    }

    [Test]
    public void GenerateEqualsGreedyDecodingWithFullForward()
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(9);
        var prompt = randint(0, 7, [2, 5], ScalarType.Int64);

        var generated = GreedyDecoding.Generate(model, prompt, 6);

        // Independent greedy decoder: re-run the whole sequence through the full forward for every new token.
        var sequence = prompt.clone();
        using (no_grad())
        {
            for (int s = 0; s < 6; s++)
            {
                var next = model.forward(sequence)[.., -1].argmax(-1, keepdim: true);
                sequence = cat([sequence, next], 1);
            }
        }
        TensorAssert.Identical(generated, sequence.narrow(1, 5, 6), "generated tokens");
    }

    [Test]
    public void StepModeAnswerDecodingEqualsFullForwardArgMax()
    {
        using var scope = NewDisposeScope();
        var task = new SelectiveCopyingTask(RegionLength: 11, DataTokenCount: 3, DataVocabulary: 5);
        using var model = SmallModel(4);
        var (inputs, _) = task.ToTensors(task.SampleExamples(4, 8), CPU);

        var decoded = task.DecodeAnswers(model, inputs);
        Tensor expected;
        using (no_grad()) expected = task.AnswerLogits(model.forward(inputs)).argmax(-1);
        TensorAssert.Identical(decoded, expected, "answers decoded in step mode");
    }

    [Test]
    public void BadTokenTensorsAreRejectedWithTheArgumentName()
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(1);
        var floats = zeros([2, 3]);
        var error = Assert.Throws<ArgumentException>(() => model.forward(floats));
        Assert.That(error!.ParamName, Is.EqualTo("tokens"));
        Assert.That(error.Message, Does.Contain("int64").And.Contain("Float32"));

        // A state with one cache where this model has two layers (made by a one-layer model of the same sizes).
        using var oneLayer = SmallModel(1, layers: 1);
        using var shortState = oneLayer.InitialState(2);
        var stepError = Assert.Throws<ArgumentException>(() => model.Step(zeros([2], ScalarType.Int64), shortState));
        Assert.That(stepError!.ParamName, Is.EqualTo("state"));
        Assert.That(stepError.Message, Does.Contain("one cache per layer (2), got 1"));
    }

    [Test]
    public void WeightDecayLeavesNormsEmbeddingAndSsmParametersOut()
    {
        using var model = SmallModel(2);
        var decayed = model.DecayedParameters().ToHashSet(ReferenceEqualityComparer.Instance);
        var names = model.named_parameters().Where(p => decayed.Contains(p.parameter)).Select(p => p.name).ToList();
        Assert.That(names, Has.Some.EndsWith("in_proj.weight"));
        Assert.That(names, Has.None.Contains("norm").Or.Contains("A_log").Or.EndsWith(".D").Or.EndsWith("bias")
            .Or.StartsWith("embedding"));
        Assert.That(model.DecayedParameters().Count() + model.UndecayedParameters().Count(),
            Is.EqualTo(model.parameters().Count()));
    }
}
