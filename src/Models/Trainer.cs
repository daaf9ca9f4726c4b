using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models;

/// <summary>
/// Trains a <see cref="MambaLanguageModel"/> on <see cref="SelectiveCopyingTask"/> with AdamW, global gradient-norm
/// clipping and a linear-warm-up + cosine learning-rate schedule. Everything random is seeded from
/// <see cref="TrainingOptions.Seed"/>: the batch of step s is a pure function of (seed, s), so a run resumed from a
/// checkpoint continues exactly as the uninterrupted run would. Owns the model and the optimizer.
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string CheckpointFileName = "model.ckpt";
    public const string CurveFileName = "training-curve.png";

    private readonly AdamW optimizer;
    private readonly SelectiveCopyingExample[] heldOutExamples;
    private readonly List<(int Step, double Loss)> lossHistory = [];
    private readonly List<(int Step, double Accuracy)> evalHistory = [];

    public MambaLanguageModel Model { get; }
    public SelectiveCopyingTask Task { get; }
    public TrainingOptions Options { get; }
    public Device Device { get; }

    /// <summary>Optimizer steps taken so far (restored by <see cref="LoadCheckpoint"/>).</summary>
    public int CompletedSteps { get; private set; }

    public IReadOnlyList<(int Step, double Loss)> LossHistory => lossHistory;
    public IReadOnlyList<(int Step, double Accuracy)> EvalHistory => evalHistory;

    /// <summary>
    /// A fresh model (weights drawn after torch.manual_seed(options.Seed)) on <paramref name="device"/>.
    /// config.VocabularySize must be at least task.VocabularySize.
    /// </summary>
    public Trainer(MambaConfig config, SelectiveCopyingTask task, TrainingOptions options, Device device)
    {
        config.Validate();
        task.Validate();
        options.Validate();
        if (config.VocabularySize < task.VocabularySize)
            throw new ArgumentException(
                $"config.VocabularySize must cover the task's {task.VocabularySize} token ids, got {config.VocabularySize}.",
                nameof(config));
        Task = task;
        Options = options;
        Device = device;

        torch.manual_seed(options.Seed);
        Model = new MambaLanguageModel(config);
        Model.to(device);
        optimizer = torch.optim.AdamW(
        [
            new AdamW.ParamGroup(Model.DecayedParameters(), lr: options.LearningRate, weight_decay: options.WeightDecay),
            new AdamW.ParamGroup(Model.UndecayedParameters(), lr: options.LearningRate, weight_decay: 0.0),
        ], lr: options.LearningRate);
        heldOutExamples = task.SampleExamples(options.EvalExamples, DeriveSeed(options.Seed, stream: 1, index: 0));
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
    public SelectiveCopyingExample[] TrainingBatch(int step) =>
        Task.SampleExamples(Options.BatchSize, DeriveSeed(Options.Seed, stream: 0, index: step));

    /// <summary>Mean cross-entropy over the answer positions of <paramref name="examples"/>, with autograd.</summary>
    public Tensor AnswerLoss(IReadOnlyList<SelectiveCopyingExample> examples)
    {
        var (inputs, answers) = Task.ToTensors(examples, Device);
        var logits = Task.AnswerLogits(Model.forward(inputs));
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), answers.reshape(-1));
    }

    /// <summary>One optimizer step on the next training batch; returns its loss (before the update).</summary>
    public double TrainStep()
    {
        using var scope = NewDisposeScope();
        Model.train();
        double learningRate = LearningRateAt(CompletedSteps);
        foreach (var group in optimizer.ParamGroups) group.LearningRate = learningRate;

        optimizer.zero_grad();
        var loss = AnswerLoss(TrainingBatch(CompletedSteps));
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

    /// <summary>
    /// Held-out token accuracy in [0, 1]: the arg-max at every marker position of a full forward pass, compared
    /// with the answer. Evaluated in batches of <see cref="TrainingOptions.BatchSize"/>.
    /// </summary>
    public double EvaluateAccuracy()
    {
        using var noGrad = no_grad();
        Model.eval();
        long correct = 0, total = 0;
        foreach (var chunk in heldOutExamples.Chunk(Math.Max(Options.BatchSize, 64)))
        {
            using var scope = NewDisposeScope();
            var (inputs, answers) = Task.ToTensors(chunk, Device);
            var predicted = Task.AnswerLogits(Model.forward(inputs)).argmax(-1);
            var (c, t) = SelectiveCopyingTask.CountCorrect(predicted, answers);
            correct += c;
            total += t;
        }
        return (double)correct / total;
    }

    /// <summary>
    /// Held-out token accuracy in [0, 1] of step-mode greedy decoding (<see cref="SelectiveCopyingTask.DecodeAnswers"/>):
    /// the recurrent path used for generation, which must agree with the full forward.
    /// </summary>
    public double EvaluateStepModeAccuracy()
    {
        Model.eval();
        long correct = 0, total = 0;
        foreach (var chunk in heldOutExamples.Chunk(256))
        {
            using var scope = NewDisposeScope();
            var (inputs, answers) = Task.ToTensors(chunk, Device);
            var (c, t) = SelectiveCopyingTask.CountCorrect(Task.DecodeAnswers(Model, inputs), answers);
            correct += c;
            total += t;
        }
        return (double)correct / total;
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Steps"/> or until held-out accuracy reaches
    /// <see cref="TrainingOptions.EarlyStopAccuracy"/>. Evaluates and writes the checkpoint and the curve into
    /// <paramref name="outputDirectory"/> every EvalEvery steps and at the end. <paramref name="progress"/> is
    /// called after every step on the training thread.
    /// </summary>
    public TrainingResult Run(string outputDirectory, Action<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(outputDirectory);
        string checkpointPath = Path.Combine(outputDirectory, CheckpointFileName);
        string curvePath = Path.Combine(outputDirectory, CurveFileName);
        long tokensPerStep = (long)Options.BatchSize * Task.SequenceLength;
        var total = System.Diagnostics.Stopwatch.StartNew();
        var sinceReport = System.Diagnostics.Stopwatch.StartNew();

        // A run resumed from a checkpoint that had already stopped early stays stopped.
        double accuracy = evalHistory.Count > 0 ? evalHistory[^1].Accuracy : 0.0;
        bool stoppedEarly = accuracy >= Options.EarlyStopAccuracy && CompletedSteps < Options.Steps;
        while (!stoppedEarly && CompletedSteps < Options.Steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double learningRate = LearningRateAt(CompletedSteps);
            double loss = TrainStep();
            double tokensPerSecond = tokensPerStep / Math.Max(sinceReport.Elapsed.TotalSeconds, 1e-9);
            double? evalAccuracy = null;
            if (CompletedSteps % Options.EvalEvery == 0 || CompletedSteps == Options.Steps)
            {
                accuracy = EvaluateAccuracy();
                evalHistory.Add((CompletedSteps, accuracy));
                evalAccuracy = accuracy;
                stoppedEarly = accuracy >= Options.EarlyStopAccuracy && CompletedSteps < Options.Steps;
                SaveCheckpoint(checkpointPath);
                TrainingCurve.WritePng(curvePath, lossHistory, evalHistory);
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
            SaveCheckpoint(checkpointPath);
            TrainingCurve.WritePng(curvePath, lossHistory, evalHistory);
        }
        return new TrainingResult(CompletedSteps, accuracy, stoppedEarly, total.Elapsed, checkpointPath, curvePath);
    }

    /// <summary>Writes model weights, optimizer state, step, histories and every config to <paramref name="path"/>
    /// (through a temporary file, so an interrupted save never leaves a truncated checkpoint).</summary>
    public void SaveCheckpoint(string path)
    {
        var metadata = new CheckpointMetadata(Model.Config, Task, Options, CompletedSteps,
            lossHistory.Select(p => new CurvePoint(p.Step, p.Loss)).ToList(),
            evalHistory.Select(p => new CurvePoint(p.Step, p.Accuracy)).ToList());
        CheckpointFile.Write(path, metadata, writer => Model.save(writer), writer => optimizer.save_state_dict(writer));
    }

    /// <summary>Rebuilds the trainer saved at <paramref name="path"/> on <paramref name="device"/>: same weights,
    /// optimizer moments, step and histories, so the next <see cref="TrainStep"/> equals the uninterrupted run's.</summary>
    public static Trainer LoadCheckpoint(string path, Device device)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        var metadata = CheckpointFile.ReadMetadata(reader, path);
        var trainer = new Trainer(metadata.Model, metadata.Task, metadata.Options, device)
        {
            CompletedSteps = metadata.CompletedSteps,
        };
        try
        {
            trainer.lossHistory.AddRange(metadata.Losses.Select(p => (p.Step, p.Value)));
            trainer.evalHistory.AddRange(metadata.Accuracies.Select(p => (p.Step, p.Value)));
            trainer.Model.load(reader, strict: true);
            trainer.optimizer.load_state_dict(reader);
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
    /// batches, 1: held-out set), mixed with SplitMix64 so that neighbouring seeds and steps give unrelated
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
