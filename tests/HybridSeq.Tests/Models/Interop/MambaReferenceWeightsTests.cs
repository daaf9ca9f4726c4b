using HybridSeq.Models.Mamba;
using System.Text.Json;
using HybridSeq.Models;
using HybridSeq.Models.Interop;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Interop;

/// <summary>MambaReferenceWeights: the exported names and shapes are exactly mamba_ssm's MambaLMHeadModel ones
/// (written out by hand below from mamba_simple.py's definitions), export → safetensors → import gives a bitwise-equal
/// model with identical logits, and weights the model cannot represent are refused.</summary>
[TestFixture]
public sealed class MambaReferenceWeightsTests
{
    // d_model 8 -> d_inner 16, dt_rank = ceil(8 / 16) = 1, x_proj out = 1 + 2 * 4 = 9.
    private static readonly MambaConfig Config = new(VocabularySize: 11, ModelDimension: 8, Layers: 2,
        StateDimension: 4, ConvolutionWidth: 3, Expand: 2);

    private static IEnumerable<(string Name, long[] Shape)> HandWrittenReferenceLayout()
    {
        yield return ("backbone.embedding.weight", [11, 8]);
        for (int i = 0; i < 2; i++)
        {
            string p = $"backbone.layers.{i}.";
            // PyTorch's state_dict order: Mamba's own parameters (A_log, D) first, then its submodules in
            // registration order; Block registers mixer before norm.
            yield return (p + "mixer.A_log", [16, 4]);
            yield return (p + "mixer.D", [16]);
            yield return (p + "mixer.in_proj.weight", [32, 8]);
            yield return (p + "mixer.conv1d.weight", [16, 1, 3]);
            yield return (p + "mixer.conv1d.bias", [16]);
            yield return (p + "mixer.x_proj.weight", [9, 16]);
            yield return (p + "mixer.dt_proj.weight", [16, 1]);
            yield return (p + "mixer.dt_proj.bias", [16]);
            yield return (p + "mixer.out_proj.weight", [8, 16]);
            yield return (p + "norm.weight", [8]);
        }
        yield return ("backbone.norm_f.weight", [8]);
        yield return ("lm_head.weight", [11, 8]);
    }

    private static MambaLanguageModel Model(int seed)
    {
        torch.manual_seed(seed);
        return new MambaLanguageModel(Config);
    }

    [Test]
    public void ExportedNamesAndShapesAreExactlyTheReferenceOnes()
    {
        using var scope = NewDisposeScope();
        using var model = Model(1);
        var exported = model.ExportReference();
        var expected = HandWrittenReferenceLayout().ToList();
        Assert.That(exported.Keys.OrderBy(k => k, StringComparer.Ordinal),
            Is.EqualTo(expected.Select(e => e.Name).OrderBy(k => k, StringComparer.Ordinal)));
        foreach (var (name, shape) in expected)
            Assert.That(exported[name].shape, Is.EqualTo(shape), name);
        Assert.That(MambaReferenceWeights.ReferenceLayout(Config).Select(p => p.Name),
            Is.EqualTo(expected.Select(e => e.Name)), "ReferenceLayout order");
        TensorAssert.Identical(exported["lm_head.weight"], exported["backbone.embedding.weight"], "tied head");
    }

    [Test]
    public void ModelLayoutIsTheModelsStateDict()
    {
        using var scope = NewDisposeScope();
        using var model = Model(1);
        var stateDict = model.state_dict();
        var layout = MambaReferenceWeights.ModelLayout(Config);
        Assert.That(stateDict.Keys, Is.EqualTo(layout.Select(p => p.Name)));
        foreach (var (name, shape) in layout) Assert.That(stateDict[name].shape, Is.EqualTo(shape), name);
    }

    [Test]
    public void ExportThroughSafetensorsAndImportGivesTheSameModel()
    {
        string folder = Path.Combine(Path.GetTempPath(), "hybridseq-mamba-ref-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var scope = NewDisposeScope();
            using var source = Model(1);
            using var target = Model(2);
            string path = Path.Combine(folder, "model.safetensors");
            SafeTensors.Save(path, source.ExportReference(), new Dictionary<string, string> { ["format"] = "pt" });

            var loaded = SafeTensors.Load(path);
            Assert.That(loaded.Metadata["format"], Is.EqualTo("pt"));
            var tokens = randint(0, 11, [2, 7], ScalarType.Int64);
            Tensor before;
            using (no_grad()) before = target.forward(tokens);
            target.LoadReference(loaded.Tensors);

            var sourceState = source.state_dict();
            foreach (var (name, tensor) in target.state_dict())
                TensorAssert.Identical(tensor, sourceState[name], name);
            using (no_grad())
            {
                Tensor expected = source.forward(tokens), actual = target.forward(tokens);
                TensorAssert.Identical(actual, expected, "logits");
                Assert.That(before.eq(expected).all().item<bool>(), Is.False, "the two seeds give different models");
            }
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void NameMappingIsABijection()
    {
        foreach (var (name, _) in MambaReferenceWeights.ModelLayout(Config))
            Assert.That(MambaReferenceWeights.FromReferenceName(MambaReferenceWeights.ToReferenceName(name)),
                Is.EqualTo(name));
        Assert.Throws<ArgumentException>(() => MambaReferenceWeights.ToReferenceName("lm_head.weight"));
        Assert.Throws<ArgumentException>(() => MambaReferenceWeights.FromReferenceName("lm_head.weight"));
        Assert.Throws<ArgumentException>(() => MambaReferenceWeights.FromReferenceName("backbone.layers0.norm.weight"));
    }

    [Test]
    public void AnAbsentHeadIsAcceptedAnUntiedOneIsRefused()
    {
        using var scope = NewDisposeScope();
        using var source = Model(1);
        var weights = source.ExportReference();
        weights.Remove("lm_head.weight");
        using var target = Model(3);
        target.LoadReference(weights);
        TensorAssert.Identical(target.state_dict()["embedding.weight"], source.state_dict()["embedding.weight"], "embedding");

        weights["lm_head.weight"] = weights["backbone.embedding.weight"].clone();
        weights["lm_head.weight"][0, 0] = weights["lm_head.weight"][0, 0] + 1;
        var error = Assert.Throws<ArgumentException>(() => target.LoadReference(weights))!;
        Assert.That(error.Message, Does.Contain("lm_head.weight").And.Contain("tie"));
    }

    [Test]
    public void WrongNamesOrShapesAreRefusedNamingThem()
    {
        using var scope = NewDisposeScope();
        using var model = Model(1);
        var weights = model.ExportReference();

        var missing = new Dictionary<string, Tensor>(weights);
        missing.Remove("backbone.layers.1.mixer.D");
        var error = Assert.Throws<ArgumentException>(() => MambaReferenceWeights.FromReference(missing, Config))!;
        Assert.That(error.Message, Does.Contain("missing: [backbone.layers.1.mixer.D]"));

        var extra = new Dictionary<string, Tensor>(weights) { ["backbone.layers.2.mixer.D"] = ones(16) };
        error = Assert.Throws<ArgumentException>(() => MambaReferenceWeights.FromReference(extra, Config))!;
        Assert.That(error.Message, Does.Contain("unexpected: [backbone.layers.2.mixer.D]"));

        var reshaped = new Dictionary<string, Tensor>(weights)
        {
            ["backbone.layers.0.mixer.conv1d.weight"] = zeros(16, 3),
        };
        error = Assert.Throws<ArgumentException>(() => MambaReferenceWeights.FromReference(reshaped, Config))!;
        Assert.That(error.Message, Does.Contain("'backbone.layers.0.mixer.conv1d.weight' of shape (16, 1, 3), got (16, 3)"));

        var wrongConfig = Config with { StateDimension = 5 };
        error = Assert.Throws<ArgumentException>(() => MambaReferenceWeights.FromReference(weights, wrongConfig))!;
        Assert.That(error.Message, Does.Contain("A_log' of shape (16, 5), got (16, 4)"));
    }

    [Test]
    public void ReferenceConfigDescribesTheSameModel()
    {
        using var document = JsonDocument.Parse(MambaReferenceWeights.ReferenceConfigJson(Config with { DtRank = 3 }));
        JsonElement root = document.RootElement;
        Assert.That(root.GetProperty("d_model").GetInt32(), Is.EqualTo(8));
        Assert.That(root.GetProperty("n_layer").GetInt32(), Is.EqualTo(2));
        Assert.That(root.GetProperty("vocab_size").GetInt32(), Is.EqualTo(11));
        Assert.That(root.GetProperty("d_intermediate").GetInt32(), Is.Zero);
        Assert.That(root.GetProperty("pad_vocab_size_multiple").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("tie_embeddings").GetBoolean(), Is.True);
        Assert.That(root.GetProperty("rms_norm").GetBoolean(), Is.True);
        JsonElement ssm = root.GetProperty("ssm_cfg");
        Assert.That(ssm.GetProperty("layer").GetString(), Is.EqualTo("Mamba1"));
        Assert.That(ssm.GetProperty("d_state").GetInt32(), Is.EqualTo(4));
        Assert.That(ssm.GetProperty("d_conv").GetInt32(), Is.EqualTo(3));
        Assert.That(ssm.GetProperty("expand").GetInt32(), Is.EqualTo(2));
        Assert.That(ssm.GetProperty("dt_rank").GetInt32(), Is.EqualTo(3));
        using var auto = JsonDocument.Parse(MambaReferenceWeights.ReferenceConfigJson(Config));
        Assert.That(auto.RootElement.GetProperty("ssm_cfg").GetProperty("dt_rank").GetString(), Is.EqualTo("auto"));
    }
}
