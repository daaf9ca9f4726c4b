using System.Text.Json;
using HybridSeq.Models;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Mamba;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.StateSpace;

/// <summary>The Mamba block with the S4D mixer (the Mamba paper's LTI baseline): step mode equals the full forward,
/// and old configs without the option read as selective.</summary>
[TestFixture]
public sealed class MambaS4DMixerTests
{
    private static MambaConfig Config => new(VocabularySize: 5, ModelDimension: 6, Layers: 2, StateDimension: 4,
        ConvolutionWidth: 3, Mixer: MambaMixer.S4D);

    [Test]
    public void StepLogitsEqualTheFullForward()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(5);
        using var model = new MambaLanguageModel(Config);
        model.to(ScalarType.Float64);
        Assert.That(model.named_parameters().Select(p => p.name),
            Has.Some.EndsWith("mixer.s4d.log_dt").And.None.Contains("A_log").And.None.Contains("x_proj"));
        var tokens = randint(0, 5, [2, 9], ScalarType.Int64);
        Tensor full;
        using (no_grad()) full = model.forward(tokens);
        IDecodingState state = model.InitialState(2);
        var steps = new List<Tensor>();
        for (int t = 0; t < 9; t++)
        {
            var (logits, next) = model.Step(tokens[.., t], state);
            state.Dispose();
            state = next;
            steps.Add(logits);
        }
        state.Dispose();
        TensorAssert.Close(stack(steps, 1), full, "S4D mixer: step vs full forward logits");
        Assert.That(full.std().item<double>(), Is.GreaterThan(1e-4));
    }

    [Test]
    public void ConfigsWithoutTheMixerReadAsSelective()
    {
        var json = JsonSerializer.SerializeToElement(new { VocabularySize = 7, ModelDimension = 8 });
        var config = (MambaConfig)ModelFamilies.FromJson("mamba", json);
        Assert.That(config.Mixer, Is.EqualTo(MambaMixer.Selective));
        var roundTrip = (MambaConfig)ModelFamilies.FromJson("mamba", ModelFamilies.ToJson(Config));
        Assert.That(roundTrip, Is.EqualTo(Config));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => (Config with { StateDimension = 3 }).Validate())!.ParamName,
            Is.EqualTo("StateDimension"));
    }
}
