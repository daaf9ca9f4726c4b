using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Recurrent;

/// <summary>RecurrentExport: a one-head FusedLSTM / FusedGRU exported to TorchSharp's nn.LSTM / nn.GRU computes the
/// same outputs and final states (float64, tight tolerance), LoadFromTorch(ToTorch()) is bitwise, the exported names
/// are nn.LSTM's own, and modules nn.LSTM cannot express (heads &gt; 1) or mismatched targets are refused.</summary>
[TestFixture]
public sealed class RecurrentExportTests
{
    private const long InputSize = 4, Hidden = 6, Batch = 3, Steps = 7;

    public sealed record ExportCase(int Layers, bool Bidirectional, bool BatchFirst)
    {
        public int Directions => Bidirectional ? 2 : 1;
        public override string ToString() =>
            $"layers {Layers}{(Bidirectional ? " bidirectional" : "")}{(BatchFirst ? " batchFirst" : "")}";
    }

    public static IEnumerable<ExportCase> Cases()
    {
        yield return new ExportCase(1, false, false);
        yield return new ExportCase(2, true, false);
        yield return new ExportCase(2, false, true);
        yield return new ExportCase(3, true, true);
    }

    private static Tensor Random(torch.Generator generator, params long[] shape) =>
        randn(shape, dtype: ScalarType.Float64, generator: generator);

    private static long[] InputShape(ExportCase c) => c.BatchFirst ? [Batch, Steps, InputSize] : [Steps, Batch, InputSize];

    [TestCaseSource(nameof(Cases))]
    public void ExportedLstmComputesWhatTheFusedLstmComputes(ExportCase c)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(21);
        var fused = new FusedLSTM(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional, batchFirst: c.BatchFirst);
        fused.to(ScalarType.Float64);
        LSTM exported = fused.ToTorch();

        var generator = new torch.Generator(22);
        Tensor input = Random(generator, InputShape(c));
        Tensor h0 = Random(generator, c.Layers * c.Directions, Batch, Hidden);
        Tensor c0 = Random(generator, c.Layers * c.Directions, Batch, Hidden);
        using var noGrad = no_grad();
        (Tensor output, RecurrentState state) =
            fused.forward(input, RecurrentState.FromComponents(RnnCell.Lstm, c.Layers, c.Directions, h0, c0), null);
        (Tensor expected, Tensor expectedH, Tensor expectedC) = exported.forward(input, (h0, c0));

        TensorAssert.Close(output, expected, "output");
        TensorAssert.Close(state.H, expectedH, "h_n");
        TensorAssert.Close(state.Component(1), expectedC, "c_n");
    }

    [TestCaseSource(nameof(Cases))]
    public void ExportedGruComputesWhatTheFusedGruComputes(ExportCase c)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(31);
        var fused = new FusedGRU(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional, batchFirst: c.BatchFirst);
        fused.to(ScalarType.Float64);
        GRU exported = fused.ToTorch();

        var generator = new torch.Generator(32);
        Tensor input = Random(generator, InputShape(c));
        Tensor h0 = Random(generator, c.Layers * c.Directions, Batch, Hidden);
        using var noGrad = no_grad();
        (Tensor output, RecurrentState state) =
            fused.forward(input, RecurrentState.FromComponents(RnnCell.Gru, c.Layers, c.Directions, h0), null);
        (Tensor expected, Tensor expectedH) = exported.forward(input, h0);

        TensorAssert.Close(output, expected, "output");
        TensorAssert.Close(state.H, expectedH, "h_n");
    }

    [TestCaseSource(nameof(Cases))]
    public void LoadFromTorchOfToTorchIsBitwise(ExportCase c)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(41);
        var lstm = new FusedLSTM(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional, batchFirst: c.BatchFirst);
        var gru = new FusedGRU(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional, batchFirst: c.BatchFirst);
        torch.manual_seed(42);
        var lstmCopy = new FusedLSTM(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional, batchFirst: c.BatchFirst);
        var gruCopy = new FusedGRU(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional, batchFirst: c.BatchFirst);

        lstmCopy.LoadFromTorch(lstm.ToTorch());
        gruCopy.LoadFromTorch(gru.ToTorch());

        foreach (var (original, copy) in new (FusedRecurrentNetwork, FusedRecurrentNetwork)[] { (lstm, lstmCopy), (gru, gruCopy) })
        {
            var copied = copy.state_dict();
            Assert.That(copied.Keys, Is.EqualTo(original.state_dict().Keys));
            foreach (var (name, tensor) in original.state_dict())
                TensorAssert.Identical(copied[name], tensor, $"{original.Cell} {name}");
        }
    }

    [Test]
    public void SlstmWeightsRoundTripThroughTheTorchLayout()
    {
        // sLSTM has no PyTorch module, but its dense weights take the same names, so they travel the same way.
        using var scope = NewDisposeScope();
        torch.manual_seed(61);
        var slstm = new SLSTM(InputSize, Hidden, numLayers: 2, bidirectional: true);
        torch.manual_seed(62);
        var copy = new SLSTM(InputSize, Hidden, numLayers: 2, bidirectional: true);
        copy.LoadFromTorchStateDict(slstm.ToTorchStateDict());
        var copied = copy.state_dict();
        foreach (var (name, tensor) in slstm.state_dict()) TensorAssert.Identical(copied[name], tensor, name);
    }

    [Test]
    public void ExportedNamesAndShapesAreThoseOfNnLstmAndNnGru()
    {
        using var scope = NewDisposeScope();
        var fused = new FusedLSTM(InputSize, Hidden, numLayers: 2, bidirectional: true);
        var reference = nn.LSTM(InputSize, Hidden, numLayers: 2, bidirectional: true).state_dict();
        var exported = fused.ToTorchStateDict();
        Assert.That(exported.Keys, Is.EqualTo(reference.Keys));
        foreach (var (name, tensor) in reference) Assert.That(exported[name].shape, Is.EqualTo(tensor.shape), name);
        Assert.That(exported["weight_hh_l1_reverse"].shape, Is.EqualTo(new long[] { 4 * Hidden, Hidden }));

        var gru = new FusedGRU(InputSize, Hidden).ToTorchStateDict();
        var gruReference = nn.GRU(InputSize, Hidden).state_dict();
        Assert.That(gru.Keys, Is.EqualTo(gruReference.Keys));
        foreach (var (name, tensor) in gruReference) Assert.That(gru[name].shape, Is.EqualTo(tensor.shape), name);
    }

    [Test]
    public void ToTorchKeepsSettingsDTypeAndMode()
    {
        using var scope = NewDisposeScope();
        var fused = new FusedLSTM(InputSize, Hidden, numLayers: 2, dropout: 0.25, batchFirst: true);
        fused.to(ScalarType.Float64);
        fused.eval();
        LSTM exported = fused.ToTorch();
        Assert.That(exported.training, Is.False);
        Assert.That(exported.parameters().All(p => p.dtype == ScalarType.Float64), Is.True);
        // batch_first shows in what forward accepts: (Bt, T, I) with Bt = 2, T = 5 gives (2, 5, H).
        (Tensor output, _, _) = exported.forward(zeros([2, 5, InputSize], dtype: ScalarType.Float64));
        Assert.That(output.shape, Is.EqualTo(new long[] { 2, 5, Hidden }));
    }

    [Test]
    public void ExportToCopiesIntoAMatchingModuleAndRefusesAMismatchedOne()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(51);
        var fused = new FusedGRU(InputSize, Hidden, numLayers: 2);
        GRU target = nn.GRU(InputSize, Hidden, numLayers: 2);
        fused.ExportTo(target);
        var exported = fused.ToTorchStateDict();
        foreach (var (name, tensor) in target.state_dict()) TensorAssert.Identical(tensor, exported[name], name);

        var wrongHidden = Assert.Throws<ArgumentException>(() => fused.ExportTo(nn.GRU(InputSize, Hidden + 1, numLayers: 2)))!;
        Assert.That(wrongHidden.ParamName, Is.EqualTo("target"));
        Assert.That(wrongHidden.Message, Does.Contain("weight_ih_l0").And.Contain($"({3 * Hidden}, {InputSize})"));

        var noBias = Assert.Throws<ArgumentException>(() => fused.ExportTo(nn.GRU(InputSize, Hidden, numLayers: 2, bias: false)))!;
        Assert.That(noBias.Message, Does.Contain("lacks [bias_ih_l0"));

        var fewerLayers = Assert.Throws<ArgumentException>(() =>
            new FusedLSTM(InputSize, Hidden, numLayers: 2).ExportTo(nn.LSTM(InputSize, Hidden)))!;
        Assert.That(fewerLayers.Message, Does.Contain("weight_ih_l1"));
    }

    [Test]
    public void ModulesWithSeveralHeadsAreRefused()
    {
        using var scope = NewDisposeScope();
        var lstm = new FusedLSTM(InputSize, Hidden, heads: 2);
        var gru = new FusedGRU(InputSize, Hidden, heads: 3);
        foreach (var action in new Action[] { () => lstm.ToTorch(), () => gru.ToTorch(), () => lstm.ToTorchStateDict(),
                     () => lstm.ExportTo(nn.LSTM(InputSize, Hidden)) })
        {
            var error = Assert.Throws<InvalidOperationException>(() => action())!;
            Assert.That(error.Message, Does.Contain("heads = ").And.Contain("block-diagonal"));
        }
    }
}
