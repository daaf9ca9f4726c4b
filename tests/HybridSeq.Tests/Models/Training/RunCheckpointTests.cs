using System.Text.Json;
using HybridSeq.Models;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Seq2Seq;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Training;

/// <summary>RunCheckpoint on the CheckpointStore container: the file holds the metadata record, the state dict under
/// its own names and the optimizer state; a damaged or truncated file is refused by every reader, naming the file;
/// weights load strictly (missing, extra or reshaped tensors are errors naming the tensor).</summary>
[TestFixture]
public sealed class RunCheckpointTests
{
    private static readonly SelectiveCopyingTask TinyTask = new(RegionLength: 10, DataTokenCount: 2, DataVocabulary: 3);
    private static readonly MambaConfig TinyModel = new(TinyTask.VocabularySize, ModelDimension: 8, Layers: 1,
        StateDimension: 4);
    private static readonly TrainingOptions TinyOptions = new(Steps: 4, BatchSize: 4, WarmupSteps: 1, Seed: 7);

    private string directory = "";

    [SetUp]
    public void CreateDirectory() =>
        directory = Directory.CreateTempSubdirectory("hybridseq-runcheckpoint-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(directory, recursive: true);

    /// <summary>A checkpoint after 2 steps (so the optimizer has moments to save).</summary>
    private string TrainAndSave(string name = "model.ckpt")
    {
        string path = Path.Combine(directory, name);
        using var trainer = new Trainer(TinyModel, TinyTask, TinyOptions, CPU);
        trainer.TrainStep();
        trainer.TrainStep();
        trainer.SaveCheckpoint(path);
        return path;
    }

    [Test]
    public void TheFileIsACheckpointStoreContainerOfMetadataStateDictAndOptimizer()
    {
        string path = Path.Combine(directory, "model.ckpt");
        using var trainer = new Trainer(TinyModel, TinyTask, TinyOptions, CPU);
        trainer.TrainStep();
        trainer.TrainStep();
        trainer.SaveCheckpoint(path);

        byte[] bytes = File.ReadAllBytes(path);
        Assert.That(System.Text.Encoding.ASCII.GetString(bytes, 0, 8), Is.EqualTo(CheckpointStore.Magic));
        using var checkpoint = CheckpointStore.Read(path);
        var metadata = JsonSerializer.Deserialize<CheckpointMetadata>(checkpoint.MetadataJson)!;
        Assert.That(metadata.CompletedSteps, Is.EqualTo(2));
        Assert.That(metadata.ModelFamily, Is.EqualTo(trainer.Model.Family));
        Assert.That(metadata.Options, Is.EqualTo(TinyOptions));
        Assert.That(metadata.Losses.Select(p => p.Step), Is.EqualTo(new[] { 1, 2 }));

        var stateDict = trainer.Model.state_dict();
        Assert.That(checkpoint.Weights.Keys, Is.EquivalentTo(stateDict.Keys));
        foreach (var (name, tensor) in stateDict)
        {
            Assert.That(checkpoint.Weights[name].device_type, Is.EqualTo(DeviceType.CPU), name);
            TensorAssert.Identical(checkpoint.Weights[name], tensor, name);
        }
        Assert.That(checkpoint.Extras.Keys, Is.EquivalentTo(new[] { RunCheckpoint.OptimizerExtra }));
        Assert.That(checkpoint.Extras[RunCheckpoint.OptimizerExtra], Has.Length.GreaterThan(100),
            "Adam's moments of every parameter");
    }

    [Test]
    public void SaveReplacesTheRunsOwnCheckpointAndLeavesNoTemporaryFile()
    {
        string path = TrainAndSave();
        using var trainer = Trainer.LoadCheckpoint(path, CPU);
        trainer.TrainStep();
        trainer.SaveCheckpoint(path);
        Assert.That(RunCheckpoint.ReadMetadata(path).CompletedSteps, Is.EqualTo(3));
        Assert.That(Directory.GetFiles(directory).Select(Path.GetFileName), Is.EquivalentTo(new[] { "model.ckpt" }));
    }

    private static IEnumerable<TestCaseData> Readers()
    {
        yield return new TestCaseData(new Action<string>(path => RunCheckpoint.ReadMetadata(path))).SetArgDisplayNames("ReadMetadata");
        yield return new TestCaseData(new Action<string>(path => RunCheckpoint.LoadModel(path, CPU).Model.Dispose()))
            .SetArgDisplayNames("LoadModel");
        yield return new TestCaseData(new Action<string>(path => Trainer.LoadCheckpoint(path, CPU).Dispose()))
            .SetArgDisplayNames("Trainer.LoadCheckpoint");
    }

    [TestCaseSource(nameof(Readers))]
    public void AFlippedByteIsRefusedAsCorruptNamingTheFile(Action<string> read)
    {
        string path = TrainAndSave();
        byte[] bytes = File.ReadAllBytes(path);
        int middle = bytes.Length / 2;
        for (int i = middle; i < middle + 4; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => read(path));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("is corrupt").And.Contain("checksum mismatch"));
    }

    [TestCaseSource(nameof(Readers))]
    public void AHalfFileIsRefusedAsTruncatedNamingTheFile(Action<string> read)
    {
        string path = TrainAndSave();
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<InvalidDataException>(() => read(path));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("is truncated")
            .And.Contain($"expected {bytes.Length} bytes, found {bytes.Length / 2}"));
    }

    [TestCaseSource(nameof(Readers))]
    public void ACheckpointOfTheEarlierFormatIsRefusedSayingSo(Action<string> read)
    {
        string path = Path.Combine(directory, "old.ckpt");
        using (var writer = new BinaryWriter(File.Create(path)))
        {
            writer.Write("HybridSeq.MambaCheckpoint");
            writer.Write(2);
            writer.Write("{}");
        }
        var error = Assert.Throws<InvalidDataException>(() => read(path));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("earlier HybridSeq format").And.Contain("train the run again"));
    }

    [Test]
    public void AMissingFileIsAFileNotFoundNamingIt()
    {
        string path = Path.Combine(directory, "absent.ckpt");
        var error = Assert.Throws<FileNotFoundException>(() => RunCheckpoint.LoadModel(path, CPU));
        Assert.That(error!.Message, Does.Contain(path));
    }

    /// <summary>Rewrites a valid checkpoint (same metadata and optimizer state, checksum valid) with its weights
    /// changed by <paramref name="edit"/>.</summary>
    private static void RewriteWeights(string path, Action<Dictionary<string, Tensor>> edit,
        Action<Dictionary<string, byte[]>>? editExtras = null)
    {
        string json;
        Dictionary<string, Tensor> weights;
        Dictionary<string, byte[]> extras;
        using (var checkpoint = CheckpointStore.Read(path))
        {
            json = checkpoint.MetadataJson;
            weights = checkpoint.Weights.ToDictionary(p => p.Key, p => p.Value.clone());
            extras = checkpoint.Extras.ToDictionary(p => p.Key, p => p.Value);
        }
        edit(weights);
        editExtras?.Invoke(extras);
        CheckpointStore.Write(path, json, weights, extras, overwrite: true);
        foreach (var tensor in weights.Values) tensor.Dispose();
    }

    [Test]
    public void AMissingWeightIsRefusedNamingTheFileAndTheTensor()
    {
        string path = TrainAndSave();
        RewriteWeights(path, weights => Assert.That(weights.Remove("norm_f.weight"), Is.True, "the name the model uses"));

        var error = Assert.Throws<InvalidDataException>(() => RunCheckpoint.LoadModel(path, CPU));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("has no weight 'norm_f.weight'"));
        Assert.Throws<InvalidDataException>(() => Trainer.LoadCheckpoint(path, CPU).Dispose());
    }

    [Test]
    public void AnExtraWeightIsRefusedNamingTheFileAndTheTensor()
    {
        string path = TrainAndSave();
        RewriteWeights(path, weights => weights.Add("layers.7.stray", zeros(3)));

        var error = Assert.Throws<InvalidDataException>(() => RunCheckpoint.LoadModel(path, CPU));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("'layers.7.stray'"));
    }

    [Test]
    public void AWeightOfAnotherShapeOrDtypeIsRefusedNamingTheFileAndTheTensor()
    {
        string path = TrainAndSave();
        RewriteWeights(path, weights =>
        {
            var original = weights["norm_f.weight"];
            weights["norm_f.weight"] = zeros(original.shape[0] + 1);
            original.Dispose();
        });
        var shape = Assert.Throws<InvalidDataException>(() => RunCheckpoint.LoadModel(path, CPU));
        Assert.That(shape!.Message, Does.Contain(path).And.Contain("'norm_f.weight'").And.Contain("[9]").And.Contain("[8]"));

        RewriteWeights(path, weights =>
        {
            var original = weights["norm_f.weight"];
            weights["norm_f.weight"] = zeros(8, dtype: ScalarType.Float64);
            original.Dispose();
        });
        var dtype = Assert.Throws<InvalidDataException>(() => RunCheckpoint.LoadModel(path, CPU));
        Assert.That(dtype!.Message, Does.Contain(path).And.Contain("'norm_f.weight'").And.Contain("Float64"));
    }

    [Test]
    public void ResumingNeedsTheOptimizerSection()
    {
        string path = TrainAndSave();
        RewriteWeights(path, _ => { }, extras => extras.Remove(RunCheckpoint.OptimizerExtra));

        var error = Assert.Throws<InvalidDataException>(() => Trainer.LoadCheckpoint(path, CPU).Dispose());
        Assert.That(error!.Message, Does.Contain(path).And.Contain("no optimizer state"));
        // The model alone needs no optimizer.
        var (_, model) = RunCheckpoint.LoadModel(path, CPU);
        model.Dispose();
    }

    [Test]
    public void LoadLanguageModelGivesTheSavedLanguageModelAndRefusesAnotherKindNamingIt()
    {
        string languagePath = TrainAndSave();
        var (metadata, model) = RunCheckpoint.LoadLanguageModel(languagePath, CPU);
        using (model)
        {
            Assert.That(metadata.ModelFamily, Is.EqualTo("mamba"));
            Assert.That(model, Is.InstanceOf<LanguageModel>());
            Assert.That(model.Config, Is.EqualTo(TinyModel));
        }

        var reverse = new ReverseTask(MinLength: 2, MaxLength: 3, Base: 4);
        string seq2seqPath = Path.Combine(directory, "seq2seq.ckpt");
        using (var trainer = new Trainer(new Seq2SeqConfig(reverse.VocabularySize, EmbeddingDimension: 4, HiddenSize: 6,
                   Layers: 1), reverse, TinyOptions, CPU))
        {
            trainer.TrainStep();
            trainer.SaveCheckpoint(seq2seqPath);
        }
        var error = Assert.Throws<InvalidDataException>(() => RunCheckpoint.LoadLanguageModel(seq2seqPath, CPU));
        Assert.That(error!.Message, Does.Contain(seq2seqPath).And.Contain("seq2seq").And.Contain("not a language model"));
    }
}
