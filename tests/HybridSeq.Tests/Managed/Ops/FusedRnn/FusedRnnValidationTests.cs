using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Recurrent;

/// <summary>Bad arguments to the op and the modules fail before any native call with an ArgumentException that
/// names the argument and says what was expected and what came.</summary>
[TestFixture]
public sealed class FusedRnnValidationTests
{
    // LSTM, Bt 3, T 5, NH 2, DH 3 (H 6, G*H 24).
    private static RnnInputs Valid() =>
        new RnnCase(RnnCell.Lstm, Batch: 3, Steps: 5, Heads: 2, HeadDim: 3, HasS0: true, HasLengths: true)
            .MakeInputs(ScalarType.Float32, seed: 1);

    private static void ExpectForwardError(RnnInputs x, string parameter, params string[] fragments)
        => Expect(() => x.RunManaged(), parameter, fragments);

    private static void Expect(TestDelegate call, string parameter, params string[] fragments)
    {
        var error = Assert.Throws<ArgumentException>(call)!;
        Assert.That(error.ParamName, Is.EqualTo(parameter), error.Message);
        foreach (string fragment in fragments)
            Assert.That(error.Message, Does.Contain(fragment));
    }

    [Test]
    public void WxOfWrongRankOrWidthIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { Wx = x.Wx[0] }, "wx", "rank-3", "(3, 24)");
        // R says H = 6 (2 heads x 3); a wx for H = 5 does not fit.
        ExpectForwardError(x with { Wx = torch.zeros(5, 3, 20) }, "wx", "G*H = 4 * 6 = 24", "(5, 3, 20)");
        ExpectForwardError(x with { Wx = x.Wx.to(ScalarType.Int32) }, "wx", "Float32 or Float64", "Int32");
    }

    [Test]
    public void RNotMatchingTheCellOrHeadsIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        // Gate dimension must be G * DH = 4 * 3.
        ExpectForwardError(x with { R = torch.zeros(2, 9, 3) }, "R", "G = 4", "(2, 9, 3)");
        ExpectForwardError(x with { R = torch.zeros(12, 6) }, "R", "rank-3", "(12, 6)");
        // Heads that do not divide the width of wx: 4 heads x 3 = H 12 needs G*H = 48.
        ExpectForwardError(x with { R = torch.zeros(4, 12, 3) }, "wx", "48");
    }

    [Test]
    public void BiasAndInitialStateShapesAreNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { B = torch.zeros(23) }, "b", "(G*H) = (24)", "(23)");
        ExpectForwardError(x with { S0 = torch.zeros(1, 3, 6) }, "s0", "(S, Bt, H) = (2, 3, 6)", "(1, 3, 6)");
        ExpectForwardError(x with { S0 = torch.zeros(2, 4, 6) }, "s0", "(2, 3, 6)", "(2, 4, 6)");
    }

    [Test]
    public void DTypeMixIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { R = x.R.to(ScalarType.Float64) }, "R", "Float32 (the dtype of wx)", "Float64");
        ExpectForwardError(x with { B = x.B.to(ScalarType.Float64) }, "b", "Float32", "Float64");
        ExpectForwardError(x with { S0 = x.S0!.to(ScalarType.Float64) }, "s0", "Float32", "Float64");
    }

    /// <summary>A tensor on another device (the meta device, which exists without a GPU) is named.</summary>
    [Test]
    public void DeviceMixIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        Device meta = torch.META;
        ExpectForwardError(x with { R = torch.empty(x.R.shape, device: meta) }, "R", "(the device of wx)", "meta");
        ExpectForwardError(x with { B = torch.empty(x.B.shape, device: meta) }, "b", "(the device of wx)", "meta");
        ExpectForwardError(x with { Lengths = torch.zeros([3], ScalarType.Int64, meta) }, "lengths",
            "on the CPU or on cpu", "meta");
    }

    [Test]
    public void LengthsOutOfRangeOrMalformedAreNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { Lengths = torch.tensor(new long[] { 5, 6, 0 }) }, "lengths", "[0, 5]", "6");
        ExpectForwardError(x with { Lengths = torch.tensor(new long[] { 5, -1, 0 }) }, "lengths", "[0, 5]", "-1");
        ExpectForwardError(x with { Lengths = torch.tensor(new[] { 5, 1, 0 }) }, "lengths", "Int64", "Int32");
        ExpectForwardError(x with { Lengths = torch.tensor(new long[] { 5, 1 }) }, "lengths", "(Bt) = (3)", "(2)");
    }

    [Test]
    public void UndefinedCellIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        Expect(() => FusedRnn.Forward((RnnCell)7, x.Wx, x.R, x.B), "cell", "Lstm, Gru or Slstm", "7");
    }

    [Test]
    public void StepArgumentsAreNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        Expect(() => FusedRnn.Step(RnnCell.Lstm, x.Wx, x.R, x.B, x.S0!), "wx", "rank-2");
        Expect(() => FusedRnn.Step(RnnCell.Lstm, x.Wx[0], x.R, x.B, torch.zeros(2, 3, 5)), "state",
            "(S, Bt, H) = (2, 3, 6)", "(2, 3, 5)");
        Expect(() => FusedRnn.Step(RnnCell.Gru, x.Wx[0], x.R, x.B, x.S0!), "R", "G = 3");
    }

    [Test]
    public void ModuleConstructorArgumentsAreNamed()
    {
        Expect(() => _ = new FusedLSTM(4, 10, heads: 3), "heads", "divisor of hiddenSize = 10", "3");
        Expect(() => _ = new SLSTM(4, 8, numLayers: 0), "numLayers", "at least 1", "0");
        Expect(() => _ = new FusedGRU(4, 8, dropout: 1.5), "dropout", "[0, 1]", "1.5");
        Expect(() => _ = new FusedGRU(0, 8), "inputSize", "at least 1", "0");
    }

    [Test]
    public void ModuleInputsAndStatesAreChecked()
    {
        using var scope = torch.NewDisposeScope();
        var lstm = new FusedLSTM(4, 6, numLayers: 2);
        Expect(() => lstm.forward(torch.zeros(5, 3, 3)), "input", "I = 4", "(5, 3, 3)");
        RecurrentState wrongLayers = RecurrentState.Zeros(RnnCell.Lstm, 1, 1, 3, 6, ScalarType.Float32, torch.CPU);
        Expect(() => lstm.forward(torch.zeros(5, 3, 4), wrongLayers, null), "state", "2 layer(s)", "1 x 1");
        RecurrentState gruState = RecurrentState.Zeros(RnnCell.Gru, 2, 1, 3, 6, ScalarType.Float32, torch.CPU);
        Expect(() => lstm.Step(torch.zeros(3, 4), gruState), "state", "Lstm state", "Gru state");

        var bidirectional = new FusedGRU(4, 6, bidirectional: true);
        var error = Assert.Throws<InvalidOperationException>(() => bidirectional.Step(torch.zeros(3, 4)))!;
        Assert.That(error.Message, Does.Contain("bidirectional"));
    }

    [Test]
    public void LoadingTorchWeightsChecksHeadsAndShapes()
    {
        using var scope = torch.NewDisposeScope();
        var headed = new FusedLSTM(4, 6, heads: 2);
        var error = Assert.Throws<InvalidOperationException>(() => headed.LoadFromTorch(nn.LSTM(4, 6)))!;
        Assert.That(error.Message, Does.Contain("heads = 2"));
        var fused = new FusedLSTM(4, 6);
        Expect(() => fused.LoadFromTorch(nn.LSTM(4, 7)), "stateDict", "weight_ih_l0", "(24, 4)", "(28, 4)");
        Expect(() => new FusedGRU(4, 6, numLayers: 2).LoadFromTorch(nn.GRU(4, 6)), "stateDict", "weight_ih_l1");
    }
}
