using HybridSeq.Models;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using HybridSeq.Managed;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Training;

[TestFixture]
public sealed class TrainerTests
{
    private static readonly SelectiveCopyingTask TinyTask = new(RegionLength: 10, DataTokenCount: 2, DataVocabulary: 3);
    private static readonly MambaConfig TinyModel = new(TinyTask.VocabularySize, ModelDimension: 16, Layers: 1,
        StateDimension: 4);

    private string directory = "";

    [SetUp]
    public void CreateDirectory() =>
        directory = Directory.CreateTempSubdirectory("hybridseq-trainer-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(directory, recursive: true);

    [Test]
    public void LossFallsOnSelectiveCopying()
    {
        // One data token in a region of 6: small enough to be learned in 80 steps, still impossible to solve
        // without selecting the data token from the noise (the answer is never at a fixed position).
        var task = new SelectiveCopyingTask(RegionLength: 6, DataTokenCount: 1, DataVocabulary: 4);
        var options = new TrainingOptions(Steps: 80, BatchSize: 32, LearningRate: 1e-2, WarmupSteps: 10, Seed: 3);
        using var trainer = new Trainer(TinyModel with { VocabularySize = task.VocabularySize }, task, options, CPU);
        var losses = Enumerable.Range(0, options.Steps).Select(_ => trainer.TrainStep()).ToArray();

        double first = losses[..10].Average(), last = losses[^10..].Average();
        double chance = Math.Log(task.DataVocabulary);
        Assert.That(first, Is.GreaterThan(chance), "the untrained loss starts at or above chance");
        Assert.That(last, Is.LessThan(0.5 * chance),
            $"mean loss of the first 10 steps {first:F3}, of the last 10 {last:F3}, chance {chance:F3}");
        Assert.That(trainer.CompletedSteps, Is.EqualTo(options.Steps));
    }

    [Test]
    public void CheckpointRestoresParametersAndTheNextStepExactly()
    {
        var options = new TrainingOptions(Steps: 20, BatchSize: 8, WarmupSteps: 2, Seed: 5);
        string path = Path.Combine(directory, "model.ckpt");
        using var original = new Trainer(TinyModel, TinyTask, options, CPU);
        for (int i = 0; i < 3; i++) original.TrainStep();
        original.SaveCheckpoint(path);

        using var restored = Trainer.LoadCheckpoint(path, CPU);
        Assert.That(restored.CompletedSteps, Is.EqualTo(3));
        Assert.That(restored.Model.Config, Is.EqualTo(TinyModel));
        Assert.That(restored.Task, Is.EqualTo(TinyTask));
        Assert.That(restored.Options, Is.EqualTo(options));
        Assert.That(restored.LossHistory, Is.EqualTo(original.LossHistory));
        AssertParametersIdentical(restored.Model, original.Model, "after load");

        // Same weights, same Adam moments, same step counter and same batch: the next step matches bit for bit.
        double originalLoss = original.TrainStep(), restoredLoss = restored.TrainStep();
        Assert.That(restoredLoss, Is.EqualTo(originalLoss));
        AssertParametersIdentical(restored.Model, original.Model, "after one more step");
    }

    [Test]
    public void CheckpointOfAnotherFormatIsRejectedWithThePath()
    {
        string path = Path.Combine(directory, "not-a-checkpoint.ckpt");
        File.WriteAllText(path, "hello");
        var error = Assert.Throws<InvalidDataException>(() => Trainer.LoadCheckpoint(path, CPU));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("not a HybridSeq checkpoint"));
    }

    [Test]
    public void RunStopsAtTheFirstEvaluationThatReachesTheThresholdAndWritesTheCheckpoint()
    {
        // A threshold that the first non-zero accuracy meets.
        var options = new TrainingOptions(Steps: 60, BatchSize: 4, EvalEvery: 4, EvalExamples: 16,
            EarlyStopAccuracy: 1e-9, Seed: 2);
        using var trainer = new Trainer(TinyModel, TinyTask, options, CPU);
        var reports = new List<TrainingProgress>();
        var result = trainer.Run(directory, reports.Add);

        Assert.That(result.StoppedEarly, Is.True, "some evaluation within 60 steps gets a token right");
        Assert.That(result.Paused, Is.False);
        Assert.That(reports.Select(r => r.Step), Is.EqualTo(Enumerable.Range(1, result.Steps)));
        var evaluations = reports.Where(r => r.EvalAccuracy.HasValue).ToList();
        Assert.That(evaluations.Select(r => r.Step), Is.EqualTo(Enumerable.Range(1, result.Steps / 4).Select(i => 4 * i)));
        Assert.That(evaluations[..^1].Select(r => r.EvalAccuracy), Has.All.EqualTo(0.0), "earlier evaluations were below");
        Assert.That(evaluations[^1].EvalAccuracy, Is.EqualTo(result.HeldOutAccuracy).And.GreaterThan(0.0));
        Assert.That(trainer.EvalHistory.Select(p => p.Step), Is.EqualTo(evaluations.Select(r => r.Step)));
        // The final evaluation per length: selective copying has the training length only; the full forward's
        // figure is the early-stop accuracy, and step-mode decoding agrees with it.
        Assert.That(result.Lengths.Select(l => l.Size), Is.EqualTo(new[] { TinyTask.SequenceLength }));
        Assert.That(result.Lengths[0].Value(SequenceTaskMetrics.Accuracy), Is.EqualTo(result.HeldOutAccuracy));
        Assert.That(result.Lengths[0].Value(SequenceTaskMetrics.StepModeAccuracy), Is.EqualTo(result.HeldOutAccuracy).Within(1.0 / 32),
            "up to one arg-max tie among the 32 answer tokens");

        Assert.That(new FileInfo(result.CheckpointPath).Length, Is.GreaterThan(1000));
        Assert.That(Directory.GetFiles(directory).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { Trainer.CheckpointFileName }), "no temporary files left, no plot (the CLI draws it)");
        using var reloaded = Trainer.LoadCheckpoint(result.CheckpointPath, CPU);
        Assert.That(reloaded.CompletedSteps, Is.EqualTo(result.Steps));
        Assert.That(reloaded.LengthAccuracies, Is.EqualTo(result.Lengths));
    }

    /// <summary>N steps straight equal N/2 steps, a checkpoint, a fresh process's load, and N/2 more: the loss
    /// history, the evaluations and every weight bit for bit (the batch of step s is a function of (seed, s) and the
    /// optimizer state travels in the checkpoint).</summary>
    [TestCase(ModelFamilies.Mamba)]
    [TestCase(ModelFamilies.Lstm)]
    public void ResumedRunEqualsTheUninterruptedRun(string family)
    {
        var options = new TrainingOptions(Steps: 8, BatchSize: 4, WarmupSteps: 2, EvalEvery: 3, EvalExamples: 8,
            EarlyStopAccuracy: 2, Seed: 4);
        IModelConfig config = family == ModelFamilies.Mamba
            ? TinyModel
            : new RecurrentConfig(RnnCell.Lstm, TinyTask.VocabularySize, ModelDimension: 8, Layers: 1);
        string straightDirectory = Path.Combine(directory, "straight"), pausedDirectory = Path.Combine(directory, "paused");

        using var straight = new Trainer(config, TinyTask, options, CPU);
        var straightResult = straight.Run(straightDirectory);

        TrainingResult pausedResult;
        using (var first = new Trainer(config, TinyTask, options, CPU))
            pausedResult = first.Run(pausedDirectory, stopAtStep: 4);
        Assert.That(pausedResult.Paused, Is.True);
        Assert.That(pausedResult.Steps, Is.EqualTo(4));
        using var resumed = Trainer.LoadCheckpoint(pausedResult.CheckpointPath, CPU);
        Assert.That(resumed.CompletedSteps, Is.EqualTo(4));
        var resumedResult = resumed.Run(pausedDirectory);

        Assert.That(resumedResult.Steps, Is.EqualTo(straightResult.Steps).And.EqualTo(8));
        Assert.That(resumed.LossHistory, Is.EqualTo(straight.LossHistory), "loss of every step");
        Assert.That(resumed.EvalHistory, Is.EqualTo(straight.EvalHistory), "evaluations at steps 3, 6 and 8");
        Assert.That(resumed.LossHistory.Select(p => p.Step), Is.EqualTo(Enumerable.Range(1, 8)));
        AssertParametersIdentical(resumed.Model, straight.Model, "after 8 steps");
    }

    [Test]
    public void TrainerTrainsInductionHeadsWithARecurrentModelAndEvaluatesEveryLength()
    {
        var task = new InductionHeadsTask(SequenceLength: 8, VocabularySize: 6, MaxEvaluationLength: 32);
        var options = new TrainingOptions(Steps: 3, BatchSize: 4, WarmupSteps: 1, EvalEvery: 3, EvalExamples: 16);
        using var trainer = new Trainer(new RecurrentConfig(RnnCell.Gru, task.VocabularySize, ModelDimension: 8, Layers: 1),
            task, options, CPU);
        var result = trainer.Run(directory);
        Assert.That(trainer.Model, Is.InstanceOf<RecurrentLanguageModel>());
        Assert.That(result.Lengths.Select(l => l.Size), Is.EqualTo(new[] { 8, 32 }));
        // 16 examples at the training length; at 4x as many tokens: max(128, ...) capped by EvalExamples = 16.
        Assert.That(result.Lengths.Select(l => l.Examples), Is.EqualTo(new[] { 16, 16 }));
        foreach (var length in result.Lengths)
            Assert.That(length.Value(SequenceTaskMetrics.StepModeAccuracy), Is.EqualTo(length.Value(SequenceTaskMetrics.Accuracy)).Within(1.0 / length.Examples),
                $"step mode = full forward at {length.Size} (up to one arg-max tie)");

        using var reloaded = Trainer.LoadCheckpoint(result.CheckpointPath, CPU);
        Assert.That(reloaded.Task, Is.EqualTo(task));
        Assert.That(reloaded.Model.Config, Is.EqualTo(trainer.Model.Config));
        var (metadata, model) = RunCheckpoint.LoadModel(result.CheckpointPath, CPU);
        using (model)
        {
            Assert.That(metadata.ModelFamily, Is.EqualTo(ModelFamilies.Gru));
            Assert.That(metadata.TaskName, Is.EqualTo(InductionHeadsTask.TaskName));
            AssertParametersIdentical(model, trainer.Model, "model loaded without its trainer");
        }
    }

    [Test]
    public void LearningRateWarmsUpLinearlyThenDecaysToTheMinimum()
    {
        var options = new TrainingOptions(Steps: 110, LearningRate: 1e-2, MinimumLearningRate: 1e-3, WarmupSteps: 10);
        using var trainer = new Trainer(TinyModel, TinyTask, options, CPU);
        Assert.That(trainer.LearningRateAt(0), Is.EqualTo(1e-3).Within(1e-15));
        Assert.That(trainer.LearningRateAt(4), Is.EqualTo(5e-3).Within(1e-15));
        Assert.That(trainer.LearningRateAt(9), Is.EqualTo(1e-2).Within(1e-15));
        Assert.That(trainer.LearningRateAt(60), Is.EqualTo(5.5e-3).Within(1e-12), "half-way through the cosine");
        Assert.That(trainer.LearningRateAt(110), Is.EqualTo(1e-3).Within(1e-15));
        var decay = Enumerable.Range(10, 100).Select(trainer.LearningRateAt).ToArray();
        Assert.That(decay, Is.Ordered.Descending);
    }

    [Test]
    public void InvalidOptionsNameTheField()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => new Trainer(TinyModel, TinyTask, new TrainingOptions(BatchSize: 0), CPU));
        Assert.That(error!.ParamName, Is.EqualTo("BatchSize"));
        Assert.That(error.Message, Does.Contain("got 0"));
        var vocabulary = Assert.Throws<ArgumentException>(
            () => new Trainer(TinyModel with { VocabularySize = 3 }, TinyTask, new TrainingOptions(), CPU));
        Assert.That(vocabulary!.Message, Does.Contain("5 token ids, got 3"));
    }

    private static void AssertParametersIdentical(nn.Module actual, nn.Module expected, string when)
    {
        var expectedParameters = expected.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var actualParameters = actual.named_parameters().ToList();
        Assert.That(actualParameters.Select(p => p.name), Is.EquivalentTo(expectedParameters.Keys), when);
        foreach (var (name, parameter) in actualParameters)
            TensorAssert.Identical(parameter, expectedParameters[name], $"{name} {when}");
    }
}
