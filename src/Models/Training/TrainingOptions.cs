namespace HybridSeq.Models.Training;

/// <summary>Optimisation settings of a <see cref="Trainer"/>; stored in checkpoints.</summary>
/// <param name="Steps">Optimizer steps to run (the cosine schedule ends here).</param>
/// <param name="BatchSize">Examples per step.</param>
/// <param name="LearningRate">Peak AdamW learning rate, reached at the end of the warm-up.</param>
/// <param name="MinimumLearningRate">Learning rate at the end of the cosine decay.</param>
/// <param name="WarmupSteps">Steps of linear warm-up from LearningRate / WarmupSteps to LearningRate.</param>
/// <param name="WeightDecay">AdamW decoupled weight decay of the weight matrices (see LanguageModel.DecayedParameters).</param>
/// <param name="GradientClipNorm">Global L2 norm the gradients are clipped to.</param>
/// <param name="EvalEvery">Evaluate the held-out set (and checkpoint) every this many steps.</param>
/// <param name="EvalExamples">Size of the held-out set.</param>
/// <param name="Seed">Seeds the initial weights, the training batches and (through a different stream) the held-out set.</param>
/// <param name="EarlyStopAccuracy">Stop once the task's primary held-out metric reaches this value in its direction
/// (an accuracy: at or above this fraction, 1.0 or more: never; a lower-is-better metric: at or below it).</param>
public sealed record TrainingOptions(
    int Steps = 2000,
    int BatchSize = 32,
    double LearningRate = 5e-3,
    double MinimumLearningRate = 1e-4,
    int WarmupSteps = 100,
    double WeightDecay = 0.1,
    double GradientClipNorm = 1.0,
    int EvalEvery = 100,
    int EvalExamples = 512,
    int Seed = 1,
    double EarlyStopAccuracy = 0.99)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        Require(Steps > 0, Steps, nameof(Steps), "a positive number of steps");
        Require(BatchSize > 0, BatchSize, nameof(BatchSize), "a positive batch size");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), LearningRate, nameof(LearningRate), "a positive finite rate");
        Require(MinimumLearningRate >= 0 && MinimumLearningRate <= LearningRate, MinimumLearningRate,
            nameof(MinimumLearningRate), $"a rate in [0, LearningRate = {LearningRate}]");
        Require(WarmupSteps >= 0, WarmupSteps, nameof(WarmupSteps), "zero or more steps");
        Require(WeightDecay >= 0 && double.IsFinite(WeightDecay), WeightDecay, nameof(WeightDecay), "zero or more");
        Require(GradientClipNorm > 0 && double.IsFinite(GradientClipNorm), GradientClipNorm, nameof(GradientClipNorm),
            "a positive finite norm");
        Require(EvalEvery > 0, EvalEvery, nameof(EvalEvery), "a positive number of steps");
        Require(EvalExamples > 0, EvalExamples, nameof(EvalExamples), "a positive number of examples");
        Require(EarlyStopAccuracy > 0, EarlyStopAccuracy, nameof(EarlyStopAccuracy), "a positive fraction");
    }

    private static void Require(bool ok, object value, string name, string expected)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"TrainingOptions.{name} must be {expected}, got {value}.");
    }
}

/// <summary>What the trainer reports after every step. EvalAccuracy (the task's primary metric) is set on the steps
/// that evaluated. TokensPerSecond counts the batch's elements (<see cref="Tasks.TaskBatch.ElementCount"/>).</summary>
public readonly record struct TrainingProgress(
    int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond, double? EvalAccuracy);

/// <summary>The held-out evaluation at one size of a task (a sequence length, a number of points): every metric of
/// the task (<see cref="Tasks.ITask.Metrics"/>, same order) on <paramref name="Examples"/> examples.</summary>
public sealed record EvaluationResult(int Size, int Examples, IReadOnlyList<Tasks.MetricValue> Metrics)
{
    /// <summary>The value of the metric called <paramref name="name"/>; an ArgumentException listing the names
    /// when there is none.</summary>
    public double Value(string name) =>
        Metrics.FirstOrDefault(m => m.Name == name)?.Value ?? throw new ArgumentException(
            $"name: expected one of {string.Join(", ", Metrics.Select(m => m.Name))}, got '{name}'.", nameof(name));

    /// <summary>The primary metric's value (the first).</summary>
    public double Primary => Metrics[0].Value;

    // Value equality of the metric list (a record compares lists by reference).
    public bool Equals(EvaluationResult? other) =>
        other is not null && Size == other.Size && Examples == other.Examples && Metrics.SequenceEqual(other.Metrics);

    public override int GetHashCode() => HashCode.Combine(Size, Examples, Metrics.Count);
}

/// <summary>The outcome of <see cref="Trainer.Run"/>.</summary>
/// <param name="Steps">Optimizer steps completed in total (including those before a resume).</param>
/// <param name="HeldOutAccuracy">The task's primary held-out metric (token accuracy for token tasks, in [0, 1]) on
/// the training distribution after the last step.</param>
/// <param name="StoppedEarly">True when EarlyStopAccuracy was reached before Steps.</param>
/// <param name="Paused">True when Run stopped at its stopAtStep before the end (the checkpoint resumes it).</param>
/// <param name="Elapsed">Wall time of this Run call.</param>
/// <param name="CheckpointPath">The checkpoint written at the end.</param>
/// <param name="Lengths">The final evaluation at every size of the task (empty when paused).</param>
public sealed record TrainingResult(int Steps, double HeldOutAccuracy, bool StoppedEarly, bool Paused, TimeSpan Elapsed,
    string CheckpointPath, IReadOnlyList<EvaluationResult> Lengths);
