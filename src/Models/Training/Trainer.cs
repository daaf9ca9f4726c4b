using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Training;

/// <summary>
/// Trains any model (a family of <see cref="ModelFamilies"/>, a <see cref="TaskModel"/>) on any task
/// (<see cref="ITask"/>) of a kind the family reads, with AdamW, global gradient-norm clipping and a linear-warm-up + cosine learning-rate
/// schedule. Everything random is seeded from <see cref="TrainingOptions.Seed"/>: the initial weights, and the batch
/// of step s as a pure function of (seed, s), so a run resumed from a checkpoint (weights, optimizer moments, step,
/// curves) continues exactly as the uninterrupted run would. Owns the model and the optimizer.
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string CheckpointFileName = RunCheckpoint.FileName;

    private readonly AdamW optimizer;
    private long lastBatchElements;
    private readonly List<(int Step, double Loss)> lossHistory = [];
    private readonly List<(int Step, double Accuracy)> evalHistory = [];
    private List<EvaluationResult> lengthAccuracies = [];

    public TaskModel Model { get; }
    public ITask Task { get; }
    public TrainingOptions Options { get; }
    public Device Device { get; }

    /// <summary>The held-out evaluation of <see cref="Model"/> on <see cref="Task"/>.</summary>
    public TaskEvaluator Evaluator { get; }

    /// <summary>Optimizer steps taken so far (restored by <see cref="LoadCheckpoint"/>).</summary>
    public int CompletedSteps { get; private set; }

    /// <summary>The training loss after every step: the curve data (plotting is the caller's business).</summary>
    public IReadOnlyList<(int Step, double Loss)> LossHistory => lossHistory;

    /// <summary>The task's primary held-out metric on the training distribution after every evaluation.</summary>
    public IReadOnlyList<(int Step, double Accuracy)> EvalHistory => evalHistory;

    /// <summary>The last evaluation at every size of the task (<see cref="EvaluateLengths"/>); empty before.</summary>
    public IReadOnlyList<EvaluationResult> LengthAccuracies => lengthAccuracies;

    /// <summary>
    /// A fresh model of config's family (weights drawn after torch.manual_seed(options.Seed)) on
    /// <paramref name="device"/>. The family must read the task's kind (<see cref="ModelFamilies.RequireSupports"/>)
    /// and the config must fit the task (<see cref="IModelConfig.ValidateFor"/>: e.g. a vocabulary that covers the
    /// task's token ids).
    /// </summary>
    public Trainer(IModelConfig config, ITask task, TrainingOptions options, Device device)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(options);
        config.Validate();
        task.Validate();
        options.Validate();
        ModelFamilies.RequireSupports(config.Family, task);
        config.ValidateFor(task);
        Task = task;
        Options = options;
        Device = device;

        torch.manual_seed(options.Seed);
        Model = ModelFamilies.Build(config);
        Model.to(device);
        optimizer = torch.optim.AdamW(
        [
            new AdamW.ParamGroup(Model.DecayedParameters(), lr: options.LearningRate, weight_decay: options.WeightDecay),
            new AdamW.ParamGroup(Model.UndecayedParameters(), lr: options.LearningRate, weight_decay: 0.0),
        ], lr: options.LearningRate);
        Evaluator = new TaskEvaluator(Model, task, options);
    }

    /// <summary>Learning rate of the step with 0-based index <paramref name="step"/>.</summary>
    public double LearningRateAt(int step)
    {
        if (step < Options.WarmupSteps) return Options.LearningRate * (step + 1) / Options.WarmupSteps;
        double decaySteps = Math.Max(1, Options.Steps - Options.WarmupSteps);
        double progress = Math.Min(1.0, (step - Options.WarmupSteps) / decaySteps);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return Options.MinimumLearningRate + (Options.LearningRate - Options.MinimumLearningRate) * cosine;
    }

    /// <summary>The training examples of step <paramref name="step"/> (0-based): a pure function of (seed, step).</summary>
    public TaskBatch TrainingBatch(int step) =>
        Task.Sample(Options.BatchSize, DeriveSeed(Options.Seed, stream: 0, index: step));

    /// <summary>The model's training loss of <paramref name="batch"/> (<see cref="TaskModel.Loss"/>), with autograd.</summary>
    public Tensor Loss(TaskBatch batch) => Model.Loss(Task, batch);

    /// <summary>One optimizer step on the next training batch; returns its loss (before the update).</summary>
    public double TrainStep()
    {
        using var scope = NewDisposeScope();
        Model.train();
        double learningRate = LearningRateAt(CompletedSteps);
        foreach (var group in optimizer.ParamGroups) group.LearningRate = learningRate;

        optimizer.zero_grad();
        var batch = TrainingBatch(CompletedSteps);
        lastBatchElements = batch.ElementCount;
        var loss = Loss(batch);
        loss.backward();
        nn.utils.clip_grad_norm_(Model.parameters(), Options.GradientClipNorm);
        optimizer.step();

        double value = loss.item<float>();
        if (!double.IsFinite(value))
            throw new InvalidOperationException(
                $"Training diverged: the loss of step {CompletedSteps + 1} is {value}. Lower the learning rate or the gradient clip norm.");
        CompletedSteps++;
        lossHistory.Add((CompletedSteps, value));
        return value;
    }

    /// <summary>The task's primary held-out metric on the training distribution (token tasks: token accuracy in
    /// [0, 1] by the full forward); see <see cref="TaskEvaluator.Primary"/>.</summary>
    public double EvaluateAccuracy() => Evaluator.Primary();

    /// <summary>Every metric at every evaluation size of the task (training distribution first); also kept in
    /// <see cref="LengthAccuracies"/> and in the next checkpoint.</summary>
    public IReadOnlyList<EvaluationResult> EvaluateLengths()
    {
        lengthAccuracies = Evaluator.AllSizes().ToList();
        return lengthAccuracies;
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Steps"/> or until the primary held-out metric reaches
    /// <see cref="TrainingOptions.EarlyStopAccuracy"/> (in its direction), then evaluates at every size of the task. Evaluates and
    /// writes the checkpoint into <paramref name="outputDirectory"/> every EvalEvery steps and at the end.
    /// <paramref name="progress"/> is called after every step on the training thread (after the checkpoint on the
    /// steps that evaluated). With <paramref name="stopAtStep"/>, stops once that many steps are done and writes the
    /// checkpoint, as an interrupted run would leave it: a later Run of <see cref="LoadCheckpoint"/> resumes it.
    /// </summary>
    public TrainingResult Run(string outputDirectory, Action<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default, int? stopAtStep = null)
    {
        Directory.CreateDirectory(outputDirectory);
        string checkpointPath = RunCheckpoint.PathIn(outputDirectory);
        var total = System.Diagnostics.Stopwatch.StartNew();
        var sinceReport = System.Diagnostics.Stopwatch.StartNew();

        // A run resumed from a checkpoint that had already stopped early stays stopped.
        double accuracy = evalHistory.Count > 0 ? evalHistory[^1].Accuracy : 0.0;
        var primary = Task.Metrics[0];
        bool stoppedEarly = evalHistory.Count > 0 && primary.Reaches(accuracy, Options.EarlyStopAccuracy)
                            && CompletedSteps < Options.Steps;
        while (!stoppedEarly && CompletedSteps < Options.Steps)
        {
            if (stopAtStep is int stop && CompletedSteps >= stop)
            {
                SaveCheckpoint(checkpointPath);
                return new TrainingResult(CompletedSteps, accuracy, false, true, total.Elapsed, checkpointPath, []);
            }
            cancellationToken.ThrowIfCancellationRequested();
            double learningRate = LearningRateAt(CompletedSteps);
            double loss = TrainStep();
            double tokensPerSecond = lastBatchElements / Math.Max(sinceReport.Elapsed.TotalSeconds, 1e-9);
            double? evalAccuracy = null;
            if (CompletedSteps % Options.EvalEvery == 0 || CompletedSteps == Options.Steps)
            {
                accuracy = EvaluateAccuracy();
                evalHistory.Add((CompletedSteps, accuracy));
                evalAccuracy = accuracy;
                stoppedEarly = primary.Reaches(accuracy, Options.EarlyStopAccuracy) && CompletedSteps < Options.Steps;
                SaveCheckpoint(checkpointPath);
            }
            progress?.Invoke(new TrainingProgress(CompletedSteps, Options.Steps, loss, learningRate, tokensPerSecond,
                evalAccuracy));
            sinceReport.Restart();
        }
        if (evalHistory.Count == 0 || evalHistory[^1].Step != CompletedSteps)
        {
            // Only when no step ran (a resumed run that was already complete) and its last evaluation is older.
            accuracy = EvaluateAccuracy();
            evalHistory.Add((CompletedSteps, accuracy));
        }
        var lengths = EvaluateLengths();
        SaveCheckpoint(checkpointPath);
        return new TrainingResult(CompletedSteps, accuracy, stoppedEarly, false, total.Elapsed, checkpointPath, lengths);
    }

    /// <summary>Writes model weights, optimizer state, step, curves, the last length evaluation and every config to
    /// <paramref name="path"/> (<see cref="RunCheckpoint"/>).</summary>
    public void SaveCheckpoint(string path)
    {
        var metadata = new CheckpointMetadata(CheckpointMetadata.CurrentVersion, Model.Family,
            ModelFamilies.ToJson(Model.Config), Task.Name, Task.Kind, TaskRegistry.ToJson(Task),
            Task.Metrics.Select(m => m.Name).ToList(), Options, CompletedSteps,
            lossHistory.Select(p => new CurvePoint(p.Step, p.Loss)).ToList(),
            evalHistory.Select(p => new CurvePoint(p.Step, p.Accuracy)).ToList(),
            lengthAccuracies);
        RunCheckpoint.Save(path, metadata, Model, optimizer);
    }

    /// <summary>Rebuilds the trainer saved at <paramref name="path"/> on <paramref name="device"/>: same weights,
    /// optimizer moments, step and curves, so the next <see cref="TrainStep"/> equals the uninterrupted run's.
    /// <paramref name="steps"/> extends (or shortens) the run; the cosine schedule then follows the new total.</summary>
    public static Trainer LoadCheckpoint(string path, Device device, int? steps = null)
    {
        var metadata = RunCheckpoint.ReadMetadata(path);
        var options = steps is int total ? metadata.Options with { Steps = total } : metadata.Options;
        var trainer = new Trainer(metadata.ReadModelConfig(), metadata.ReadTask(), options, device);
        try
        {
            RunCheckpoint.LoadInto(path, trainer.Model, trainer.optimizer);
            trainer.CompletedSteps = metadata.CompletedSteps;
            trainer.lossHistory.AddRange(metadata.Losses.Select(p => (p.Step, p.Value)));
            trainer.evalHistory.AddRange(metadata.Accuracies.Select(p => (p.Step, p.Value)));
            trainer.lengthAccuracies = metadata.LengthAccuracies.ToList();
            return trainer;
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        optimizer.Dispose();
        Model.Dispose();
    }

    /// <summary>
    /// A 31-bit seed for item <paramref name="index"/> of random stream <paramref name="stream"/> (0: training
    /// batches, 1: held-out sets), mixed with SplitMix64 so that neighbouring seeds and steps give unrelated
    /// examples. Stable across processes and platforms (unlike string.GetHashCode or HashCode).
    /// </summary>
    internal static int DeriveSeed(int seed, int stream, long index)
    {
        ulong x = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)stream * 0xBF58476D1CE4E5B9UL ^ (ulong)index);
        x = unchecked(x + 0x9E3779B97F4A7C15UL);
        x = unchecked((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL);
        x = unchecked((x ^ (x >> 27)) * 0x94D049BB133111EBUL);
        x ^= x >> 31;
        return (int)(x & 0x7FFFFFFF);
    }
}
