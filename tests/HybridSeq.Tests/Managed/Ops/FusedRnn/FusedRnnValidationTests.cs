using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>Bad arguments to the op fail with an ArgumentException that names the argument and says what was expected
/// and what came: the native shim's HybridSeqArgumentException with the user's argument as ParamName, or the
/// managed layer's own (null tensors, an undefined cell, a tensor the view cannot express). The modules' own checks
/// are in Recurrent/RecurrentModuleValidationTests.</summary>
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
        var error = Assert.Catch<ArgumentException>(call)!;
        Assert.That(error.ParamName, Is.EqualTo(parameter), error.Message);
        foreach (string fragment in fragments)
            Assert.That(error.Message, Does.Contain(fragment));
    }

    [Test]
    public void WxOfWrongRankOrWidthIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { Wx = x.Wx[0] }, "wx", "rank 3", "(3, 24)");
        // R says H = 6 (2 heads x 3); a wx for H = 5 does not fit. The shim checks R against wx and names R, with
        // both sides of the mismatch.
        ExpectForwardError(x with { Wx = torch.zeros(5, 3, 20) }, "R", "H = NH*DH = 6", "'wx' has G*H = 20");
        ExpectForwardError(x with { Wx = x.Wx.to(ScalarType.Int32) }, "wx", "float32 or float64", "int32");
    }

    [Test]
    public void RNotMatchingTheCellOrHeadsIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        // Gate dimension must be G * DH = 4 * 3.
        ExpectForwardError(x with { R = torch.zeros(2, 9, 3) }, "R", "G = 4", "(2, 9, 3)");
        ExpectForwardError(x with { R = torch.zeros(12, 6) }, "R", "rank 3", "(12, 6)");
        // Heads that do not fit the width of wx: 4 heads x 3 = H 12, but wx has G*H = 24 (H = 6).
        ExpectForwardError(x with { R = torch.zeros(4, 12, 3) }, "R", "H = NH*DH = 12", "'wx' has G*H = 24");
    }

    [Test]
    public void BiasAndInitialStateShapesAreNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { B = torch.zeros(23) }, "b", "(24,) = (G*H,)", "(23,)");
        ExpectForwardError(x with { S0 = torch.zeros(1, 3, 6) }, "s0", "(2, 3, 6) = (S, Bt, H)", "(1, 3, 6)");
        ExpectForwardError(x with { S0 = torch.zeros(2, 4, 6) }, "s0", "(2, 3, 6)", "(2, 4, 6)");
    }

    [Test]
    public void DTypeMixIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { R = x.R.to(ScalarType.Float64) }, "R", "float32 like 'wx'", "float64");
        ExpectForwardError(x with { B = x.B.to(ScalarType.Float64) }, "b", "float32", "float64");
        ExpectForwardError(x with { S0 = x.S0!.to(ScalarType.Float64) }, "s0", "float32", "float64");
    }

    /// <summary>A tensor on a device the view cannot express (the meta device, which exists without a GPU) is named.
    /// </summary>
    [Test]
    public void DeviceMixIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        Device meta = torch.META;
        ExpectForwardError(x with { R = torch.empty(x.R.shape, device: meta) }, "R", "CPU or CUDA", "meta");
        ExpectForwardError(x with { B = torch.empty(x.B.shape, device: meta) }, "b", "CPU or CUDA", "meta");
        ExpectForwardError(x with { Lengths = torch.zeros([3], ScalarType.Int64, meta) }, "lengths",
            "CPU or CUDA", "meta");
    }

    [Test]
    public void LengthsOutOfRangeOrMalformedAreNamed()
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs x = Valid();
        ExpectForwardError(x with { Lengths = torch.tensor(new long[] { 5, 6, 0 }) }, "lengths", "[0, 5]", "6");
        ExpectForwardError(x with { Lengths = torch.tensor(new long[] { 5, -1, 0 }) }, "lengths", "[0, 5]", "-1");
        ExpectForwardError(x with { Lengths = torch.tensor(new[] { 5, 1, 0 }) }, "lengths", "int64", "int32");
        ExpectForwardError(x with { Lengths = torch.tensor(new long[] { 5, 1 }) }, "lengths", "(3,) = (Bt,)", "(2,)");
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
        Expect(() => FusedRnn.Step(RnnCell.Lstm, x.Wx, x.R, x.B, x.S0!), "wx", "rank 2");
        Expect(() => FusedRnn.Step(RnnCell.Lstm, x.Wx[0], x.R, x.B, torch.zeros(2, 3, 5)), "state",
            "(2, 3, 6) = (S, Bt, H)", "(2, 3, 5)");
        Expect(() => FusedRnn.Step(RnnCell.Gru, x.Wx[0], x.R, x.B, x.S0!), "R", "G = 3");
    }
}
