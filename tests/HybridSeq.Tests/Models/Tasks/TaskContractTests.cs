using System.Text.Json;
using System.Text.Json.Nodes;
using HybridSeq.Models;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Tasks;

/// <summary>The task contract (<see cref="ITask"/>, <see cref="TaskModel"/>): token tasks through it, metric
/// directions and sums, the registry's kind check, and what checkpoints store about the task.</summary>
[TestFixture]
public sealed class TaskContractTests
{
    private static readonly SelectiveCopyingTask TinyTask = new(RegionLength: 10, DataTokenCount: 2, DataVocabulary: 3);

    [Test]
    public void TokenTasksAreOfKindTokensWithFullForwardAndStepModeAccuracy()
    {
        foreach (var definition in TaskRegistry.All.Where(t => t.Default is ISequenceTask))
        {
            ITask task = definition.Default;
            Assert.That(task.Kind, Is.EqualTo(TaskKinds.Tokens), definition.Name);
            Assert.That(task.Metrics.Select(m => m.Name),
                Is.EqualTo(new[] { SequenceTaskMetrics.Accuracy, SequenceTaskMetrics.StepModeAccuracy }));
            Assert.That(task.EvaluationSizes, Is.EqualTo(((ISequenceTask)task).EvaluationLengths));
        }
    }

    [Test]
    public void SampleIsTheSeededExamplesOfTheTask()
    {
        ITask task = TinyTask;
        var batch = (TokenTaskBatch)task.Sample(5, seed: 11);
        var examples = TinyTask.SampleExamples(5, seed: 11);
        Assert.That(batch.Count, Is.EqualTo(5));
        Assert.That(batch.ElementCount, Is.EqualTo(5 * TinyTask.SequenceLength));
        for (int i = 0; i < 5; i++)
        {
            Assert.That(batch.Examples[i].Inputs, Is.EqualTo(examples[i].Inputs));
            Assert.That(batch.Examples[i].Answer, Is.EqualTo(examples[i].Answer));
        }
        var slice = (TokenTaskBatch)batch.Slice(2, 2);
        Assert.That(slice.Examples[0].Inputs, Is.EqualTo(examples[2].Inputs));
        Assert.That(slice.Count, Is.EqualTo(2));
    }

    [Test]
    public void MetricsReachTheirThresholdInTheirDirection()
    {
        var accuracy = new MetricDefinition("a", "accuracy", "{0}", MetricGoal.HigherIsBetter, IsFraction: true);
        var length = new MetricDefinition("l", "tour length", "{0}", MetricGoal.LowerIsBetter, IsFraction: false);
        Assert.That(accuracy.Reaches(0.9, 0.9), Is.True);
        Assert.That(accuracy.Reaches(0.89, 0.9), Is.False);
        Assert.That(length.Reaches(3.0, 3.5), Is.True);
        Assert.That(length.Reaches(3.6, 3.5), Is.False);
        Assert.That(accuracy.FormatValue(0.1234), Is.EqualTo("12.3%"));
        Assert.That(length.FormatValue(3.14159), Is.EqualTo("3.1416"));
    }

    [Test]
    public void MetricTotalsAreRatiosOfSumsMergedOverChunks()
    {
        var first = new MetricTotals(2);
        first.Add(0, 3, 4);
        first.Add(1, 10, 2);
        var second = new MetricTotals(2);
        second.Add(0, 1, 4);
        first.Add(second);
        Assert.That(first.Value(0), Is.EqualTo(0.5));
        Assert.That(first.Value(1), Is.EqualTo(5.0));
        Assert.That(second.Value(1), Is.NaN, "nothing counted");
        var index = Assert.Throws<ArgumentOutOfRangeException>(() => first.Add(2, 1, 1));
        Assert.That(index!.ParamName, Is.EqualTo("index"));
        var other = Assert.Throws<ArgumentException>(() => first.Add(new MetricTotals(3)));
        Assert.That(other!.ParamName, Is.EqualTo("other"));
    }

    [Test]
    public void ALanguageModelRefusesABatchOfAnotherKind()
    {
        using var model = ModelFamilies.Create(new MambaConfig(TinyTask.VocabularySize, ModelDimension: 8, Layers: 1,
            StateDimension: 4));
        var error = Assert.Throws<ArgumentException>(() => model.Loss(TinyTask, new ForeignBatch()));
        Assert.That(error!.ParamName, Is.EqualTo("batch"));
        Assert.That(error.Message, Does.Contain("TokenTaskBatch").And.Contain("ForeignBatch"));
    }

    [Test]
    public void EvaluationOfAllMetricsAgreesWithThePrimaryOnlyEvaluation()
    {
        var options = new TrainingOptions(Steps: 2, BatchSize: 4, WarmupSteps: 1, EvalExamples: 24, Seed: 6);
        using var trainer = new Trainer(new MambaConfig(TinyTask.VocabularySize, ModelDimension: 8, Layers: 1,
            StateDimension: 4), TinyTask, options, CPU);
        trainer.TrainStep();
        var all = trainer.Evaluator.Evaluate(0);
        Assert.That(all.Examples, Is.EqualTo(24));
        Assert.That(all.Size, Is.EqualTo(TinyTask.SequenceLength));
        Assert.That(trainer.EvaluateAccuracy(), Is.EqualTo(all.Value(SequenceTaskMetrics.Accuracy)));
        var unknown = Assert.Throws<ArgumentException>(() => all.Value("bleu"));
        Assert.That(unknown!.Message, Does.Contain("accuracy, step-accuracy").And.Contain("'bleu'"));
    }

    [Test]
    public void TheCheckpointStoresTheTaskKindAndMetricNamesAndRefusesVersion1()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-contract-").FullName;
        try
        {
            string path = Path.Combine(directory, "model.ckpt");
            var options = new TrainingOptions(Steps: 2, BatchSize: 2, WarmupSteps: 1, EvalEvery: 2, EvalExamples: 4);
            using (var trainer = new Trainer(new MambaConfig(TinyTask.VocabularySize, 8, 1, 4), TinyTask, options, CPU))
                trainer.Run(directory);
            var metadata = RunCheckpoint.ReadMetadata(path);
            Assert.That(metadata.Version, Is.EqualTo(CheckpointMetadata.CurrentVersion).And.EqualTo(2));
            Assert.That(metadata.TaskKind, Is.EqualTo(TaskKinds.Tokens));
            Assert.That(metadata.MetricNames, Is.EqualTo(new[] { "accuracy", "step-accuracy" }));
            Assert.That(metadata.LengthAccuracies.Single().Metrics.Select(m => m.Name),
                Is.EqualTo(new[] { "accuracy", "step-accuracy" }));

            // The same file with the metadata as version 1 wrote it (no Version, TaskKind, MetricNames).
            string json;
            Dictionary<string, Tensor> weights;
            Dictionary<string, byte[]> extras;
            using (var checkpoint = CheckpointStore.Read(path))
            {
                json = checkpoint.MetadataJson;
                weights = checkpoint.Weights.ToDictionary(p => p.Key, p => p.Value.clone());
                extras = checkpoint.Extras.ToDictionary(p => p.Key, p => p.Value);
            }
            var node = JsonNode.Parse(json)!.AsObject();
            node.Remove("Version");
            node.Remove("TaskKind");
            node.Remove("MetricNames");
            CheckpointStore.Write(path, node.ToJsonString(), weights, extras, overwrite: true);
            foreach (var tensor in weights.Values) tensor.Dispose();

            var error = Assert.Throws<InvalidDataException>(() => RunCheckpoint.ReadMetadata(path));
            Assert.That(error!.Message, Does.Contain(path).And.Contain("version 1").And.Contain("reads version 2")
                .And.Contain("Train the run again"));
            Assert.Throws<InvalidDataException>(() => Trainer.LoadCheckpoint(path, CPU).Dispose());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void ATaskOfAKindTheFamilyDoesNotReadIsRefusedListingTheFamiliesThatDo()
    {
        var task = new ForeignTask();
        var error = Assert.Throws<ArgumentException>(() => ModelFamilies.RequireSupports(ModelFamilies.Mamba, task));
        Assert.That(error!.ParamName, Is.EqualTo("family"));
        Assert.That(error.Message, Does.Contain("'mamba' does not train on foreign tasks such as foreign-task")
            .And.Contain("models for foreign-task: none"));
        var trainer = Assert.Throws<ArgumentException>(() =>
            new Trainer(new MambaConfig(4), task, new TrainingOptions(), CPU).Dispose());
        Assert.That(trainer!.ParamName, Is.EqualTo("family"));
        Assert.That(ModelFamilies.Supporting(TinyTask).Select(f => f.Name), Is.SupersetOf(new[] { "mamba", "lstm", "gru", "slstm" }));
    }

    private sealed class ForeignBatch : TaskBatch
    {
        public override int Count => 1;
        public override long ElementCount => 1;
        public override TaskBatch Slice(int start, int count) => this;
    }

    private sealed class ForeignTask : ITask
    {
        public string Name => "foreign-task";
        public string Kind => "foreign";
        public IReadOnlyList<MetricDefinition> Metrics { get; } =
            [new("m", "m", "{0}", MetricGoal.HigherIsBetter, IsFraction: true)];
        public string SizeName => "n";
        public IReadOnlyList<int> EvaluationSizes => [1];
        public void Validate() { }
        public TaskBatch Sample(int count, int seed, int? size = null) => new ForeignBatch();
    }
}
