using HybridSeq.Managed;
using HybridSeq.Models;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Pointer;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.Seq2Seq;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Tasks.Pointer;
using HybridSeq.Models.Tasks.Synthetic;
using HybridSeq.Models.Convolutional;
using NUnit.Framework;

namespace HybridSeq.Tests.Models;

/// <summary>The registries: every family and task builds from its name, and its config survives the JSON of a
/// checkpoint unchanged.</summary>
[TestFixture]
public sealed class ModelFamiliesTests
{
    [Test]
    public void TheRegistryListsTheFamiliesWithTheTaskKindsTheyRead()
    {
        Assert.That(ModelFamilies.All.Select(f => f.Name),
            Is.EqualTo(new[] { "mamba", "lstm", "gru", "slstm", "seq2seq", "arnet", "ptrnet", "rpw", "tcn", "wavenet", "tcnca", "s4d", "s4", "lssl" }));
        Assert.That(ModelFamilies.All.Where(f => f.TaskKinds.Contains(TaskKinds.Tokens)).Select(f => f.Name),
            Is.EqualTo(new[] { "mamba", "lstm", "gru", "slstm", "tcn", "wavenet", "tcnca", "s4d", "s4", "lssl" }));
        Assert.That(ModelFamilies.All.Where(f => f.TaskKinds.Contains(TaskKinds.Regression)).Select(f => f.Name),
            Is.EqualTo(new[] { "mamba", "lstm", "gru", "slstm", "tcn", "wavenet", "tcnca", "s4d", "s4", "lssl" }));
        Assert.That(ModelFamilies.All.Where(f => f.TaskKinds.Contains(TaskKinds.Classification)).Select(f => f.Name),
            Is.EqualTo(new[] { "mamba", "lstm", "gru", "slstm", "tcn", "wavenet", "tcnca", "s4d", "s4", "lssl" }));
        Assert.That(ModelFamilies.All.Where(f => f.TaskKinds.Contains(TaskKinds.Forecasting)).Select(f => f.Name),
            Is.EqualTo(new[] { "mamba", "lstm", "gru", "slstm", "arnet", "tcn", "s4d" }));
        Assert.That(ModelFamilies.Get("seq2seq").TaskKinds, Is.EqualTo(new[] { TaskKinds.Seq2Seq }));
        Assert.That(ModelFamilies.All.Where(f => f.TaskKinds.Contains(TaskKinds.Pointer)).Select(f => f.Name),
            Is.EqualTo(new[] { "ptrnet", "rpw" }));
        Assert.That(ModelFamilies.Get("arnet").TaskKinds, Is.EqualTo(new[] { TaskKinds.Forecasting }));
    }

    [Test]
    public void Seq2SeqConfigRoundTripsThroughJsonAndBuildsItsFamily()
    {
        var config = new Seq2SeqConfig(11, RnnCell.Gru, EmbeddingDimension: 7, HiddenSize: 9, Layers: 3,
            Attention: Seq2SeqAttention.General, ReverseSource: true);
        var read = ModelFamilies.FromJson(config.Family, ModelFamilies.ToJson(config));
        Assert.That(read, Is.EqualTo(config));
        using var model = ModelFamilies.Build(read);
        Assert.That(model, Is.InstanceOf<Seq2SeqModel>());
        Assert.That(model.Config, Is.EqualTo(config));
        Assert.That(model.DecayedParameters().Count() + model.UndecayedParameters().Count(),
            Is.EqualTo(model.parameters().Count()));
        var decayed = model.DecayedParameters().ToHashSet(ReferenceEqualityComparer.Instance);
        var names = model.named_parameters().Where(p => decayed.Contains(p.parameter)).Select(p => p.name).ToList();
        Assert.That(names, Does.Contain("encoder.weight_hh_l2").And.Contain("attention.general.weight")
            .And.Not.Contain("source_embedding.weight").And.Not.Contain("output.bias"));
        var notLanguageModel = Assert.Throws<ArgumentException>(() => ModelFamilies.Create(config));
        Assert.That(notLanguageModel!.Message, Does.Contain("not a language model"));
    }

    public static IEnumerable<PointerNetworkConfig> PointerConfigs()
    {
        yield return new PointerNetworkConfig(PointerEncoder.Lstm, InputFeatures: 2, HiddenSize: 12, EncoderLayers: 2, AttentionSize: 6);
        yield return new PointerNetworkConfig(PointerEncoder.ReadProcessWrite, InputFeatures: 1, HiddenSize: 10, ProcessSteps: 3,
            AttentionSize: 7);
    }

    [TestCaseSource(nameof(PointerConfigs))]
    public void PointerConfigRoundTripsThroughJsonAndBuildsItsFamily(PointerNetworkConfig config)
    {
        var read = ModelFamilies.FromJson(config.Family, ModelFamilies.ToJson(config));
        Assert.That(read, Is.EqualTo(config));
        using var model = ModelFamilies.Build(read);
        Assert.That(model, Is.InstanceOf<PointerNetwork>());
        Assert.That(model.Config, Is.EqualTo(config));
        Assert.That(model.DecayedParameters().Count() + model.UndecayedParameters().Count(),
            Is.EqualTo(model.parameters().Count()));
        var undecayed = model.named_parameters().Where(p => model.UndecayedParameters().Contains(p.parameter))
            .Select(p => p.name).ToArray();
        Assert.That(undecayed, Does.Contain("attentionVector").And.Contain("goInput").And.Contain("endMemory"));
        Assert.That(undecayed.Where(n => n.Contains("weight")), Is.Empty, "every weight matrix is decayed");
        Assert.That(Assert.Throws<ArgumentException>(() => ModelFamilies.Create(read))!.Message,
            Does.Contain("not a language model"));
    }

    public static IEnumerable<IModelConfig> Configs()
    {
        yield return new MambaConfig(11, ModelDimension: 24, Layers: 3, StateDimension: 5, ConvolutionWidth: 3, DtRank: 2);
        yield return new RecurrentConfig(RnnCell.Lstm, 11, ModelDimension: 12, Layers: 3, Heads: 2);
        yield return new RecurrentConfig(RnnCell.Gru, 11, ModelDimension: 12);
        yield return new RecurrentConfig(RnnCell.Slstm, 11, ModelDimension: 12, Heads: 4);
        yield return new ConvLanguageModelConfig(11, new BackboneConfig("tcn", ModelDimension: 6, Layers: 3, KernelSize: 3, Dropout: 0.1));
        yield return new ConvLanguageModelConfig(11, new BackboneConfig("wavenet", ModelDimension: 6, Layers: 4, KernelSize: 2, DilationCycle: 2));
        yield return new ConvLanguageModelConfig(11, new BackboneConfig("tcnca", ModelDimension: 8, Layers: 2, Heads: 2, KernelSize: 3, ChunkSize: 5));
    }

    /// <summary>The backbone + head wiring: every backbone family reads the adding problem and copy memory, and its
    /// config survives the checkpoint JSON under the family's name.</summary>
    [TestCase("mamba")]
    [TestCase("lstm")]
    [TestCase("gru")]
    [TestCase("slstm")]
    [TestCase("tcn")]
    [TestCase("wavenet")]
    [TestCase("tcnca")]
    public void SequenceModelConfigsRoundTripAndBuildForEveryBackbone(string family)
    {
        ITask[] tasks = [new AddingTask(20), new CopyMemoryTask(5)];
        foreach (var task in tasks)
        {
            var config = ModelFamilies.Get(family).DefaultConfig(task);
            Assert.That(config, Is.InstanceOf<SequenceModelConfig>());
            Assert.That(config.Family, Is.EqualTo(family));
            config.ValidateFor(task);
            var read = ModelFamilies.FromJson(family, ModelFamilies.ToJson(config));
            Assert.That(read, Is.EqualTo(config));
            using var model = ModelFamilies.Build(read);
            Assert.That(model, Is.InstanceOf<SequenceModel>());
            Assert.That(model.DecayedParameters(), Is.Not.Empty);
            Assert.That(model.DecayedParameters().Count() + model.UndecayedParameters().Count(), Is.EqualTo(model.parameters().Count()));
            using var scope = TorchSharp.torch.NewDisposeScope();
            var batch = (SequenceBatch)task.Sample(3, seed: 1);
            var outputs = ((SequenceModel)model).forward(batch.InputTensor(TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32));
            Assert.That(outputs.shape, Is.EqualTo(task is AddingTask ? new long[] { 3, 1 } : new long[] { 3, 25, 10 }));
        }
        var wrongShape = ModelFamilies.Get(family).DefaultConfig(new AddingTask(20));
        Assert.That(Assert.Throws<ArgumentException>(() => wrongShape.ValidateFor(new CopyMemoryTask(5)))!.ParamName, Is.EqualTo("config"));
    }

    [TestCaseSource(nameof(Configs))]
    public void ConfigRoundTripsThroughJsonAndBuildsItsFamily(IModelConfig config)
    {
        var json = ModelFamilies.ToJson(config);
        var read = ModelFamilies.FromJson(config.Family, json);
        Assert.That(read, Is.EqualTo(config));
        Assert.That(read.GetType(), Is.EqualTo(config.GetType()));
        using var model = ModelFamilies.Create(read);
        Assert.That(model.Family, Is.EqualTo(config.Family));
        Assert.That(model.Config, Is.EqualTo(config));
        Assert.That(model.VocabularySize, Is.EqualTo(11));
        Assert.That(model.DecayedParameters().Count() + model.UndecayedParameters().Count(),
            Is.EqualTo(model.parameters().Count()));
        Assert.That(model.DecayedParameters(), Is.Not.Empty);
    }

    [Test]
    public void RecurrentModelsDecayTheirMatricesOnly()
    {
        using var model = ModelFamilies.Create(new RecurrentConfig(RnnCell.Lstm, 5, ModelDimension: 4, Layers: 2));
        var decayed = model.DecayedParameters().ToHashSet(ReferenceEqualityComparer.Instance);
        var names = model.named_parameters().Where(p => decayed.Contains(p.parameter)).Select(p => p.name);
        Assert.That(names, Is.EquivalentTo(new[] { "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1" }));
    }

    [Test]
    public void UnknownNamesListTheKnownOnes()
    {
        var family = Assert.Throws<ArgumentException>(() => ModelFamilies.Get("transformer"));
        Assert.That(family!.Message, Does.Contain("mamba, lstm, gru, slstm").And.Contain("'transformer'"));
        var task = Assert.Throws<ArgumentException>(() => TaskRegistry.Get("copy"));
        Assert.That(task!.Message, Does.Contain("selective-copying, induction-heads").And.Contain("'copy'"));
    }

    [Test]
    public void MismatchedFamilyInTheJsonIsRejected()
    {
        var json = ModelFamilies.ToJson(new RecurrentConfig(RnnCell.Gru, 5));
        var error = Assert.Throws<InvalidDataException>(() => ModelFamilies.FromJson(ModelFamilies.Lstm, json));
        Assert.That(error!.Message, Does.Contain("'gru'").And.Contain("'lstm'"));
    }

    [TestCaseSource(typeof(TaskRegistry), nameof(TaskRegistry.All))]
    public void TaskConfigRoundTripsThroughJson(TaskDefinition definition)
    {
        ITask task = definition.Default switch
        {
            SelectiveCopyingTask copying => copying with { RegionLength = 20, DataTokenCount = 3 },
            InductionHeadsTask induction => induction with { SequenceLength = 32, MaxEvaluationLength = 512 },
            ConvexHullTask hull => hull with { MinSize = 4, MaxSize = 9, EvaluateAt = [4, 30] },
            DelaunayTask delaunay => delaunay with { MinSize = 6, EvaluateAt = [6, 12] },
            TspTask tsp => tsp with { MaxSize = 11, EvaluateAt = [20] },
            SortNumbersTask sort => sort with { MinSize = 10, MaxSize = 15, EvaluateAt = [10, 15, 20] },
            VanillaCopyingTask vanilla => vanilla with { RegionLength = 30, DataVocabulary = 5 },
            ListOpsTask listOps => listOps with { MinLength = 501, MaxLength = 1999, MaxDepth = 8, MaxArguments = 5 },
            var other => other,
        };
        var read = TaskRegistry.FromJson(definition.Name, TaskRegistry.ToJson(task));
        Assert.That(read, Is.EqualTo(task));
        Assert.That(read.Name, Is.EqualTo(definition.Name));
        Assert.That(read.EvaluationSizes, Is.EqualTo(task.EvaluationSizes));
    }
}
