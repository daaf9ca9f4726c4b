using HybridSeq.Models;
using HybridSeq.Models.Convolutional;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Convolutional;

/// <summary>The convolutional backbones (TCN, WaveNet-style, TCNCA): streaming one step or chunks of random sizes at a
/// time gives the full forward's outputs for a batch of several sequences, rows can be selected from a state, states
/// are never changed by a step, and the receptive field is what the formula says (an output depends on exactly that
/// many past steps).</summary>
[TestFixture]
public sealed class ConvolutionalBackboneTests
{
    public static IEnumerable<TestCaseData> Backbones()
    {
        yield return new TestCaseData(new BackboneConfig("tcn", ModelDimension: 5, Layers: 3, KernelSize: 3)).SetName("tcn K3 3 levels");
        yield return new TestCaseData(new BackboneConfig("tcn", ModelDimension: 4, Layers: 2, KernelSize: 1)).SetName("tcn K1");
        yield return new TestCaseData(new BackboneConfig("wavenet", ModelDimension: 6, Layers: 5, KernelSize: 2, DilationCycle: 3)).SetName("wavenet cycle 3");
        yield return new TestCaseData(new BackboneConfig("wavenet", ModelDimension: 4, Layers: 3, KernelSize: 3)).SetName("wavenet K3 no cycle");
        yield return new TestCaseData(new BackboneConfig("tcnca", ModelDimension: 8, Layers: 2, Heads: 2, KernelSize: 3, ChunkSize: 5)).SetName("tcnca chunk 5");
        yield return new TestCaseData(new BackboneConfig("tcnca", ModelDimension: 6, Layers: 3, Heads: 3, KernelSize: 2, ChunkSize: 1)).SetName("tcnca chunk 1");
    }

    private static StreamingBackbone Build(BackboneConfig config)
    {
        torch.manual_seed(7);
        var backbone = (StreamingBackbone)SequenceBackbones.Create(config);
        backbone.to(ScalarType.Float64);
        backbone.eval();
        return backbone;
    }

    [TestCaseSource(nameof(Backbones))]
    public void StepByStepAndChunkedStreamingEqualTheFullForward(BackboneConfig config)
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(config);
        const int batch = 3, length = 23;
        var x = randn([batch, length, config.ModelDimension], ScalarType.Float64);
        Tensor full;
        using (no_grad()) full = backbone.forward(x);
        Assert.That(full.shape, Is.EqualTo(new long[] { batch, length, config.ModelDimension }));
        Assert.That(full.std().item<double>(), Is.GreaterThan(1e-3), "the outputs must not be trivially constant");

        var state = backbone.InitialState(batch);
        var steps = new List<Tensor>();
        for (int t = 0; t < length; t++)
        {
            var (y, next) = backbone.Step(x[.., t..(t + 1), ..], state);
            state.Dispose();
            state = next;
            steps.Add(y);
        }
        Assert.That(state.Position, Is.EqualTo(length));
        state.Dispose();
        TensorAssert.Close(cat(steps, 1), full, $"{config.Family}: one step at a time vs the full forward");

        var random = new Random(11);
        state = backbone.InitialState(batch);
        var chunks = new List<Tensor>();
        for (int t = 0; t < length;)
        {
            int size = Math.Min(length - t, random.Next(1, 9));
            var (y, next) = backbone.Step(x[.., t..(t + size), ..], state);
            state.Dispose();
            state = next;
            chunks.Add(y);
            t += size;
        }
        state.Dispose();
        TensorAssert.Close(cat(chunks, 1), full, $"{config.Family}: chunks of random sizes vs the full forward");
    }

    [TestCaseSource(nameof(Backbones))]
    public void SelectedRowsContinueLikeTheirSequencesAndStepsLeaveTheirStateAlone(BackboneConfig config)
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(config);
        var x = randn([3, 12, config.ModelDimension], ScalarType.Float64);
        Tensor full;
        using (no_grad()) full = backbone.forward(x);
        var (_, afterPrefix) = backbone.Step(x[.., ..7, ..], backbone.InitialState(3));
        var before = afterPrefix.Tensors.Select(t => t.clone()).ToArray();
        var rows = tensor(new long[] { 2, 0, 2 });
        var selected = afterPrefix.SelectRows(rows);
        var (continued, _) = backbone.Step(x.index_select(0, rows)[.., 7.., ..], selected);
        TensorAssert.Close(continued, full.index_select(0, rows)[.., 7.., ..], $"{config.Family}: selected rows continue their own sequences");
        var (again, _) = backbone.Step(x[.., 7.., ..], afterPrefix);
        var (twice, _) = backbone.Step(x[.., 7.., ..], afterPrefix);
        TensorAssert.Close(again, full[.., 7.., ..], "the continuation of the original state");
        TensorAssert.Close(twice, again, "stepping the same state twice gives the same outputs");
        for (int i = 0; i < before.Length; i++)
            Assert.That(afterPrefix.Tensors[i].eq(before[i]).all().item<bool>(), Is.True, $"state tensor {i} unchanged by the steps");
    }

    /// <summary>Sequences of different lengths in one padded batch: the prefill's state of each row continues that
    /// row exactly as the full forward of the row alone (TCN and WaveNet, on the op's lengths).</summary>
    [TestCase("tcn", 3, 3)]
    [TestCase("wavenet", 2, 4)]
    public void PrefillWithDifferentLengthsContinuesEveryRowAsIfAlone(string family, int kernel, int layers)
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(new BackboneConfig(family, ModelDimension: 5, Layers: layers, KernelSize: kernel, DilationCycle: 0));
        long[] lengths = [9, 4, 1];
        var x = randn([3, 9, 5], ScalarType.Float64);
        var continuation = randn([3, 6, 5], ScalarType.Float64);
        var (prefilled, state) = backbone switch
        {
            TemporalConvNet tcn => tcn.Prefill(x, tensor(lengths)),
            WaveNetBackbone wavenet => wavenet.Prefill(x, tensor(lengths)),
            _ => throw new AssertionException("a backbone with Prefill"),
        };
        var (continued, _) = backbone.Step(continuation, state);
        for (int row = 0; row < 3; row++)
        {
            var alone = cat([x[row..(row + 1), ..(int)lengths[row], ..], continuation[row..(row + 1)]], 1);
            Tensor expected;
            using (no_grad()) expected = backbone.forward(alone);
            TensorAssert.Close(prefilled[row..(row + 1), ..(int)lengths[row], ..], expected[.., ..(int)lengths[row], ..],
                $"{family}: row {row}'s prefill outputs");
            TensorAssert.Close(continued[row..(row + 1)], expected[.., (int)lengths[row].., ..],
                $"{family}: row {row} (length {lengths[row]}) continues as if alone");
        }
        var tooLong = tensor(new long[] { 9, 10, 1 });
        TestDelegate prefillTooLong = backbone is TemporalConvNet t
            ? () => t.Prefill(x, tooLong)
            : () => ((WaveNetBackbone)backbone).Prefill(x, tooLong);
        Assert.That(Assert.Throws<ArgumentException>(prefillTooLong)!.ParamName, Is.EqualTo("lengths"));
    }

    [TestCaseSource(nameof(Backbones))]
    public void BadStepInputsAndStatesAreRejectedByName(BackboneConfig config)
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(config);
        using var other = Build(config);
        var state = backbone.InitialState(2);
        var x = randn([2, 3, config.ModelDimension], ScalarType.Float64);
        Assert.That(Assert.Throws<ArgumentException>(() => backbone.Step(randn([2, 3, config.ModelDimension + 1], ScalarType.Float64), state))!.ParamName, Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentException>(() => backbone.Step(randn([2, 0, config.ModelDimension], ScalarType.Float64), state))!.ParamName, Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentException>(() => backbone.Step(randn([3, 3, config.ModelDimension], ScalarType.Float64), state))!.ParamName, Is.EqualTo("state"));
        Assert.That(Assert.Throws<ArgumentException>(() => backbone.Step(x, other.InitialState(2)))!.ParamName, Is.EqualTo("state"));
        Assert.That(Assert.Throws<ArgumentException>(() => backbone.Step(x, null!))!.ParamName, Is.EqualTo("state"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => backbone.InitialState(0))!.ParamName, Is.EqualTo("batch"));
    }

    /// <summary>The output at step t depends on exactly ReceptiveField steps t - RF + 1 .. t: the gradient of one
    /// output with respect to the inputs is non-zero there and zero before (TCN, WaveNet: the formula is exact).</summary>
    [TestCase("tcn", 3, 2, 0)]
    [TestCase("tcn", 2, 3, 0)]
    [TestCase("wavenet", 2, 5, 3)]
    [TestCase("wavenet", 3, 3, 0)]
    public void TheReceptiveFieldIsExactlyTheFormula(string family, int kernel, int layers, int cycle)
    {
        var config = new BackboneConfig(family, ModelDimension: 8, Layers: layers, KernelSize: kernel, DilationCycle: cycle);
        long expected = family == "tcn"
            ? 1 + 2 * (kernel - 1) * ((1 << layers) - 1)
            : 1 + (kernel - 1) * Enumerable.Range(0, layers).Sum(i => 1L << (cycle > 0 ? i % cycle : i));
        Assert.That(config.ReceptiveField, Is.EqualTo(expected));
        using var scope = NewDisposeScope();
        using var backbone = Build(config);
        int length = (int)expected + 6;
        // Many random sequences, so that no step's influence vanishes by chance behind inactive ReLUs.
        var x = randn([32, length, 8], ScalarType.Float64).requires_grad_();
        backbone.forward(x)[.., length - 1].sum().backward();
        var influence = x.grad!.abs().sum([0, 2]);
        int first = length - (int)expected;
        for (int t = 0; t < length; t++)
        {
            double g = influence[t].item<double>();
            if (t < first) Assert.That(g, Is.EqualTo(0.0), $"step {t} lies outside the receptive field");
            else Assert.That(g, Is.GreaterThan(0.0), $"step {t} lies inside the receptive field");
        }
    }

    [Test]
    public void DefaultConfigsCoverTheTaskLengthWithTheFewestLayers()
    {
        // The TCN paper's sizes: adding T = 600 with K = 7 needs 6 levels (757 >= 600 > 373), copy memory T = 1000
        // (1020 steps) with K = 8 needs 7 (1779 >= 1020 > 883).
        var adding = BackboneConfig.For("tcn", 600);
        Assert.That(adding.Layers, Is.EqualTo(6));
        Assert.That(adding.ReceptiveField, Is.EqualTo(757));
        var copy = BackboneConfig.For("tcn", 1020) with { KernelSize = 8 };
        Assert.That(copy.Covering(1020).Layers, Is.EqualTo(7));
        Assert.That(copy.Covering(1020).ReceptiveField, Is.EqualTo(1779));
        var wavenet = BackboneConfig.For("wavenet", 200);
        Assert.That(wavenet.ReceptiveField, Is.GreaterThanOrEqualTo(200));
        Assert.That((wavenet with { Layers = wavenet.Layers - 1 }).ReceptiveField, Is.LessThan(200));
        Assert.That(BackboneConfig.For("lstm", 600).ReceptiveField, Is.Null, "a recurrence has no finite receptive field");
    }

    [Test]
    public void TcnBlocksUseA1x1ResidualExactlyWhereTheWidthsDiffer()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        using var tcn = new TemporalConvNet("tcn", 2, [6, 6, 4], kernelSize: 3, dropout: 0);
        Assert.That(tcn.Blocks.Select(b => b.HasDownsample), Is.EqualTo(new[] { true, false, true }));
        Assert.That(tcn.OutputWidth, Is.EqualTo(4));
        tcn.to(ScalarType.Float64);
        var x = randn([2, 9, 2], ScalarType.Float64);
        Tensor full;
        using (no_grad()) full = tcn.forward(x);
        var (streamed, _) = tcn.Step(x, tcn.InitialState(2));
        var (first, middle) = tcn.Step(x[.., ..4, ..], tcn.InitialState(2));
        var (rest, _) = tcn.Step(x[.., 4.., ..], middle);
        TensorAssert.Close(streamed, full, "one chunk");
        TensorAssert.Close(cat([first, rest], 1), full, "two chunks");
        // Weight norm: the conv weight is g v / ||v||, so scaling v leaves the output unchanged.
        var v = tcn.named_parameters().First(p => p.name == "blocks.0.conv1.weight_v").parameter;
        using (no_grad()) v.mul_(3.0);
        Tensor scaled;
        using (no_grad()) scaled = tcn.forward(x);
        TensorAssert.Close(scaled, full, "weight norm: the output does not depend on the scale of v");
    }

    [Test]
    public void WaveNetConditioningStreamsAndChangesTheOutput()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(5);
        using var wavenet = new WaveNetBackbone("wavenet", 4, layers: 4, kernelSize: 2, cycle: 2, dropout: 0, conditionChannels: 3);
        wavenet.to(ScalarType.Float64);
        var x = randn([2, 10, 4], ScalarType.Float64);
        var c = randn([2, 10, 3], ScalarType.Float64);
        Tensor full, other;
        using (no_grad())
        {
            full = wavenet.Forward(x, c);
            other = wavenet.Forward(x, c + 1);
        }
        Assert.That((full - other).abs().max().item<double>(), Is.GreaterThan(1e-3), "the conditioning input reaches the output");
        var (a, mid) = wavenet.Step(x[.., ..3, ..], wavenet.InitialState(2), c[.., ..3, ..]);
        var (b, _) = wavenet.Step(x[.., 3.., ..], mid, c[.., 3.., ..]);
        TensorAssert.Close(cat([a, b], 1), full, "conditioned streaming vs the conditioned full forward");
        Assert.That(Assert.Throws<ArgumentException>(() => wavenet.Forward(x, null))!.ParamName, Is.EqualTo("condition"));
        Assert.That(Assert.Throws<ArgumentException>(() => wavenet.Forward(x, c[.., ..5, ..]))!.ParamName, Is.EqualTo("condition"));
    }

    /// <summary>The language model streams chunks of tokens (prefill, then single steps) with the full forward's
    /// logits.</summary>
    [TestCase("tcn")]
    [TestCase("tcnca")]
    public void LanguageModelChunksEqualTheFullForward(string family)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(2);
        var network = family == "tcn"
            ? new BackboneConfig(family, ModelDimension: 6, Layers: 2, KernelSize: 3)
            : new BackboneConfig(family, ModelDimension: 8, Layers: 2, Heads: 2, KernelSize: 2, ChunkSize: 3);
        using var model = new ConvLanguageModel(new ConvLanguageModelConfig(9, network));
        model.to(ScalarType.Float64);
        model.eval();
        var tokens = randint(0, 9, [2, 11], ScalarType.Int64);
        Tensor full;
        using (no_grad()) full = model.forward(tokens);
        var (prefix, state) = model.StepChunk(tokens[.., ..7], model.Backbone.InitialState(2));
        var (rest, _) = model.StepChunk(tokens[.., 7..], state);
        TensorAssert.Close(cat([prefix, rest], 1), full, $"{family}: chunked logits vs the full forward");
        Assert.That(Assert.Throws<ArgumentException>(() => model.StepChunk(tokens, null!))!.ParamName, Is.EqualTo("state"));
    }

    [Test]
    public void BadConfigsAreRejectedByName()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new BackboneConfig("cnn").Validate())!.ParamName, Is.EqualTo("Family"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new BackboneConfig("tcn", KernelSize: 0).Validate())!.ParamName, Is.EqualTo("KernelSize"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new BackboneConfig("tcnca", ModelDimension: 6, Heads: 4).Validate())!.ParamName, Is.EqualTo("Heads"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new BackboneConfig("tcn", Dropout: 1.0).Validate())!.ParamName, Is.EqualTo("Dropout"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new BackboneConfig("tcn", Layers: 31).Validate())!.ParamName, Is.EqualTo("Layers"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new BackboneConfig("tcnca", ChunkSize: 0).Validate())!.ParamName, Is.EqualTo("ChunkSize"));
    }
}
