using HybridSeq.Models.Tasks;
using static TorchSharp.torch;

namespace HybridSeq.Models.Training;

/// <summary>
/// Held-out evaluation of a model on a task of any kind: every metric of the task, at the training distribution and
/// at the task's other evaluation sizes, computed by the model (<see cref="TaskModel.Evaluate"/>) chunk by chunk.
/// The held-out sets are a pure function of the options' seed (a stream apart from the training batches), so the
/// trainer and a later `eval` of its checkpoint score the same examples. Needs no optimizer.
/// </summary>
public sealed class TaskEvaluator
{
    private readonly TaskModel model;
    private readonly ITask task;
    private readonly TrainingOptions options;
    private readonly Dictionary<int, TaskBatch> heldOut = [];

    /// <param name="model">The model; evaluation switches it to evaluation mode.</param>
    /// <param name="task">The task; its kind must be one the model reads.</param>
    /// <param name="options">The run's options: Seed, EvalExamples and BatchSize are used.</param>
    /// <remarks>The model evaluates on its own device (<see cref="TaskModel.ParameterDevice"/>).</remarks>
    public TaskEvaluator(TaskModel model, ITask task, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(options);
        this.model = model;
        this.task = task;
        this.options = options;
    }

    /// <summary>The size that stands for the training distribution (EvaluationSizes[0]).</summary>
    public int TrainingSize => task.EvaluationSizes[0];

    /// <summary>The held-out examples at evaluation size index <paramref name="index"/> (0: the training
    /// distribution): EvalExamples there, fewer at larger sizes (as many elements, at least 128 examples).</summary>
    public TaskBatch HeldOut(int index)
    {
        if ((uint)index >= (uint)task.EvaluationSizes.Count)
            throw new ArgumentOutOfRangeException(nameof(index), index,
                $"index: expected an evaluation size index in [0, {task.EvaluationSizes.Count}), got {index}.");
        if (!heldOut.TryGetValue(index, out var batch))
        {
            int size = task.EvaluationSizes[index];
            bool training = index == 0;
            int count = training
                ? options.EvalExamples
                : Math.Min(options.EvalExamples,
                    Math.Max(128, (int)((long)options.EvalExamples * TrainingSize / Math.Max(1, size))));
            // The training distribution keeps index 0 of the held-out stream; other sizes take their size as index.
            int seed = Trainer.DeriveSeed(options.Seed, stream: 1, index: training ? 0 : size);
            batch = task.Sample(count, seed, training ? null : size);
            heldOut[index] = batch;
        }
        return batch;
    }

    /// <summary>Every metric of the task at evaluation size index <paramref name="index"/> (0: the training
    /// distribution).</summary>
    public EvaluationResult Evaluate(int index = 0, EvaluationOptions? evaluation = null)
    {
        evaluation ??= EvaluationOptions.Greedy;
        evaluation.Validate();
        var batch = HeldOut(index);
        int size = task.EvaluationSizes[index];
        model.eval();
        var totals = MetricTotals.For(task);
        int chunk = model.EvaluationChunk(size, options.BatchSize);
        for (int start = 0; start < batch.Count; start += chunk)
        {
            using var scope = NewDisposeScope();
            totals.Add(model.Evaluate(task, batch.Slice(start, Math.Min(chunk, batch.Count - start)), evaluation));
        }
        return new EvaluationResult(size, batch.Count, totals.Values(task));
    }

    /// <summary>The primary metric (Metrics[0]) on the training distribution: what the trainer evaluates
    /// periodically (the model may skip the other metrics).</summary>
    public double Primary() => Evaluate(0, new EvaluationOptions(PrimaryOnly: true)).Primary;

    /// <summary>Every metric at every evaluation size of the task, the training distribution first.</summary>
    public IReadOnlyList<EvaluationResult> AllSizes(EvaluationOptions? evaluation = null) =>
        Enumerable.Range(0, task.EvaluationSizes.Count).Select(i => Evaluate(i, evaluation)).ToList();
}
