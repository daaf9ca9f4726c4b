using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Recurrent;

/// <summary>Bad arguments to the recurrent modules fail in the module, before any native call, with an
/// ArgumentException that names the argument and says what was expected and what came.</summary>
[TestFixture]
public sealed class RecurrentModuleValidationTests
{
    private static void Expect(TestDelegate call, string parameter, params string[] fragments)
    {
        var error = Assert.Throws<ArgumentException>(call)!;
        Assert.That(error.ParamName, Is.EqualTo(parameter), error.Message);
        foreach (string fragment in fragments)
            Assert.That(error.Message, Does.Contain(fragment));
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
