using HybridSeq.Managed;
using HybridSeq.Models;
using HybridSeq.Models.Convolutional;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.StateSpace;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Decoding;

/// <summary>The step contract (<see cref="IStepModel"/>, <see cref="IDecodingState"/>) for every model family:
/// stepping equals the full forward, Select keeps / reorders / repeats rows, a state is never changed by a step,
/// and the checks that native code cannot make reject bad tokens and states by argument name.</summary>
[TestFixture]
public sealed class StepContractTests
{
    private const int Vocabulary = 7;

    /// <summary>The families that read token tasks: the language models, which have the step contract.</summary>
    public static IEnumerable<string> Families() =>
        ModelFamilies.All.Where(f => f.TaskKinds.Contains(HybridSeq.Models.Tasks.TaskKinds.Tokens)).Select(f => f.Name);

    /// <summary>A small float64 model of <paramref name="family"/>, odd sizes (several heads where the family has them).</summary>
    private static LanguageModel SmallModel(string family, int seed = 3)
    {
        torch.manual_seed(seed);
        IModelConfig config = family switch
        {
            ModelFamilies.Mamba => new MambaConfig(Vocabulary, ModelDimension: 12, Layers: 2, StateDimension: 3),
            ModelFamilies.Lstm => new RecurrentConfig(RnnCell.Lstm, Vocabulary, ModelDimension: 6, Layers: 2, Heads: 2),
            ModelFamilies.Gru => new RecurrentConfig(RnnCell.Gru, Vocabulary, ModelDimension: 6, Layers: 2),
            ModelFamilies.Tcn => new ConvLanguageModelConfig(Vocabulary, new BackboneConfig(family, ModelDimension: 6, Layers: 2, KernelSize: 3)),
            ModelFamilies.WaveNet => new ConvLanguageModelConfig(Vocabulary,
                new BackboneConfig(family, ModelDimension: 6, Layers: 3, KernelSize: 2, DilationCycle: 2)),
            ModelFamilies.TcnCa => new ConvLanguageModelConfig(Vocabulary,
                new BackboneConfig(family, ModelDimension: 8, Layers: 2, Heads: 2, KernelSize: 3, ChunkSize: 4)),
            ModelFamilies.S4D => new StateSpaceConfig(StateSpaceKind.S4D, Vocabulary, ModelDimension: 6, Layers: 2, StateDimension: 6),
            ModelFamilies.S4 => new StateSpaceConfig(StateSpaceKind.S4, Vocabulary, ModelDimension: 5, Layers: 2, StateDimension: 4,
                Discretization: SsmDiscretization.Bilinear),
            ModelFamilies.Lssl => new StateSpaceConfig(StateSpaceKind.Lssl, Vocabulary, ModelDimension: 5, Layers: 2, StateDimension: 5,
                Discretization: SsmDiscretization.Bilinear),
            _ => new RecurrentConfig(RnnCell.Slstm, Vocabulary, ModelDimension: 6, Layers: 2, Heads: 3),
        };
        var model = ModelFamilies.Create(config);
        Assert.That(model.Family, Is.EqualTo(family));
        model.to(ScalarType.Float64);
        return model;
    }

    private static Tensor Advance(IStepModel model, Tensor tokens, ref IDecodingState state)
    {
        var (logits, next) = model.Step(tokens, state);
        state.Dispose();
        state = next;
        return logits;
    }

    [TestCaseSource(nameof(Families))]
    public void StepLogitsEqualFullForwardLogits(string family)
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(family);
        var tokens = randint(0, Vocabulary, [3, 9], ScalarType.Int64);
        Tensor full;
        using (no_grad()) full = model.forward(tokens);
        Assert.That(full.shape, Is.EqualTo(new long[] { 3, 9, Vocabulary }));

        IDecodingState state = model.InitialState(3);
        Assert.That(state.BatchSize, Is.EqualTo(3));
        var steps = new List<Tensor>();
        for (int t = 0; t < 9; t++) steps.Add(Advance(model, tokens[.., t], ref state));
        state.Dispose();
        TensorAssert.Close(stack(steps, 1), full, $"{family}: step logits vs full forward logits");
        Assert.That(full.std().item<double>(), Is.GreaterThan(1e-4), "the logits must not be trivially constant");
    }

    [TestCaseSource(nameof(Families))]
    public void SelectedStateStepsLikeTheSelectedRowsOfTheOriginal(string family)
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(family);
        var prefix = randint(0, Vocabulary, [3, 4], ScalarType.Int64);
        var continuation = randint(0, Vocabulary, [3, 3], ScalarType.Int64);
        IDecodingState state = model.InitialState(3);
        for (int t = 0; t < 4; t++) Advance(model, prefix[.., t], ref state);

        // Reordered, with row 2 twice and row 0 once: what beam search does with its hypotheses.
        var rows = tensor(new long[] { 2, 0, 2, 1 });
        IDecodingState selected = state.Select(rows);
        Assert.That(selected.BatchSize, Is.EqualTo(4));
        for (int t = 0; t < 3; t++)
        {
            var original = Advance(model, continuation[.., t], ref state);
            var chosen = Advance(model, continuation[.., t].index_select(0, rows), ref selected);
            TensorAssert.Close(chosen, original.index_select(0, rows), $"{family}: step {t} of the selected state");
        }
        state.Dispose();
        selected.Dispose();
    }

    [TestCaseSource(nameof(Families))]
    public void StepAndSelectLeaveTheirStateUnchanged(string family)
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(family);
        var tokens = randint(0, Vocabulary, [2, 3], ScalarType.Int64);
        IDecodingState state = model.InitialState(2);
        for (int t = 0; t < 2; t++) Advance(model, tokens[.., t], ref state);

        var (first, firstNext) = model.Step(tokens[.., 2], state);
        using var selected = state.Select(tensor(new long[] { 1, 0 }));
        var (second, secondNext) = model.Step(tokens[.., 2], state);
        TensorAssert.Identical(second, first, $"{family}: the same state stepped twice");
        // Stepping the successor must not reach back either: the first successor steps like the second.
        var (afterFirst, a) = model.Step(tokens[.., 0], firstNext);
        var (afterSecond, b) = model.Step(tokens[.., 0], secondNext);
        TensorAssert.Identical(afterSecond, afterFirst, $"{family}: successors of one state");
        foreach (var s in new[] { state, firstNext, secondNext, a, b }) s.Dispose();
    }

    [TestCaseSource(nameof(Families))]
    public void TokensOutsideTheVocabularyAreRejected(string family)
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(family);
        var tooLarge = tensor(new long[] { 0, 3, Vocabulary }, [1, 3]);
        var forwardError = Assert.Throws<ArgumentException>(() => model.forward(tooLarge));
        Assert.That(forwardError!.ParamName, Is.EqualTo("tokens"));
        Assert.That(forwardError.Message, Does.Contain($"[0, {Vocabulary})").And.Contain($"got ids in [0, {Vocabulary}]"));

        using var state = model.InitialState(2);
        var stepError = Assert.Throws<ArgumentException>(() => model.Step(tensor(new long[] { -1, 2 }), state));
        Assert.That(stepError!.ParamName, Is.EqualTo("tokens"));
        Assert.That(stepError.Message, Does.Contain("got ids in [-1, 2]"));
        var rankError = Assert.Throws<ArgumentException>(() => model.Step(zeros([2, 1], ScalarType.Int64), state));
        Assert.That(rankError!.Message, Does.Contain("shape (Bt)").And.Contain("(2, 1)"));
    }

    [TestCaseSource(nameof(Families))]
    public void NullForeignAndMisSizedStatesAreRejected(string family)
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(family);
        var tokens = zeros([3], ScalarType.Int64);

        var nullError = Assert.Throws<ArgumentNullException>(() => model.Step(tokens, null!));
        Assert.That(nullError!.ParamName, Is.EqualTo("state"));
        Assert.That(nullError.Message, Does.Contain("got null"));

        using var small = model.InitialState(2);
        var batchError = Assert.Throws<ArgumentException>(() => model.Step(tokens, small));
        Assert.That(batchError!.ParamName, Is.EqualTo("state"));
        Assert.That(batchError.Message, Does.Contain("batch size 3").And.Contain("got 2"));

        // A state of another family: Mamba's for the RNNs, the LSTM's for Mamba.
        using var other = SmallModel(family == ModelFamilies.Mamba ? ModelFamilies.Lstm : ModelFamilies.Mamba);
        using var foreign = other.InitialState(3);
        var foreignError = Assert.Throws<ArgumentException>(() => model.Step(tokens, foreign));
        Assert.That(foreignError!.ParamName, Is.EqualTo("state"));
        Assert.That(foreignError.Message, Does.Contain(foreign.GetType().Name));

        var batchZero = Assert.Throws<ArgumentOutOfRangeException>(() => model.InitialState(0));
        Assert.That(batchZero!.ParamName, Is.EqualTo("batch"));
    }

    [TestCaseSource(nameof(Families))]
    public void SelectRejectsRowsOutsideTheBatch(string family)
    {
        using var scope = NewDisposeScope();
        using var model = SmallModel(family);
        using var state = model.InitialState(3);
        var error = Assert.Throws<ArgumentException>(() => state.Select(tensor(new long[] { 0, 3 })));
        Assert.That(error!.ParamName, Is.EqualTo("rows"));
        Assert.That(error.Message, Does.Contain("[0, 3)").And.Contain("got indices in [0, 3]"));
        var dtype = Assert.Throws<ArgumentException>(() => state.Select(tensor(new[] { 0, 1 })));
        Assert.That(dtype!.Message, Does.Contain("int64").And.Contain("Int32"));
    }

    /// <summary>The device check, without needing a second device: a state that reports another device.</summary>
    [Test]
    public void StateOnAnotherDeviceIsRejected()
    {
        var state = new ElsewhereState(new Device(DeviceType.CUDA, 1));
        var error = Assert.Throws<ArgumentException>(
            () => DecodingChecks.State<ElsewhereState>(state, 3, CPU, "test model"));
        Assert.That(error!.ParamName, Is.EqualTo("state"));
        Assert.That(error.Message, Does.Contain("tokens' device cpu").And.Contain("cuda:1"));
        var here = new ElsewhereState(CPU);
        Assert.That(DecodingChecks.State<ElsewhereState>(here, 3, CPU, "test model"), Is.SameAs(here));
    }

    private sealed class ElsewhereState(Device device) : IDecodingState
    {
        public long BatchSize => 3;
        public Device Device => device;
        public IDecodingState Select(Tensor rows) => throw new NotSupportedException();
        public void Dispose() { }
    }
}
