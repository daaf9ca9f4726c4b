using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models;

/// <summary>The hyper-parameters of one model family; a JSON-serialisable record stored in checkpoints, so a
/// checkpoint rebuilds exactly the model that wrote it (see <see cref="ModelFamilies"/>).</summary>
public interface IModelConfig
{
    /// <summary>The family name the registry builds this config with (mamba, lstm, gru, slstm, seq2seq, ...).</summary>
    string Family { get; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    void Validate();

    /// <summary>Throws an <see cref="ArgumentException"/> (ParamName "config") when a model of this config cannot
    /// read <paramref name="task"/>'s batches (a vocabulary too small, another input width, ...). The task's kind is
    /// checked before, by the registry (<see cref="ModelFamilies.RequireSupports"/>).</summary>
    void ValidateFor(ITask task);
}

/// <summary>How evaluation decodes, where a task's metrics come from decoding (seq2seq, pointer tasks). A record,
/// so new settings can be added without changing the contract.</summary>
/// <param name="BeamSize">1: greedy decoding; more: beam search of that width (families that have it).</param>
/// <param name="PrimaryOnly">Only the primary metric (Metrics[0]) is needed (the trainer's periodic evaluation):
/// a model may skip the others, whose totals then stay empty (NaN).</param>
public sealed record EvaluationOptions(int BeamSize = 1, bool PrimaryOnly = false)
{
    public static EvaluationOptions Greedy { get; } = new();

    public void Validate()
    {
        if (BeamSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BeamSize), BeamSize,
                $"EvaluationOptions.BeamSize must be at least 1 (1 = greedy), got {BeamSize}.");
    }
}

/// <summary>
/// The model contract: what every model family offers the trainer, the evaluator and the CLI, whatever its task kind.
/// A model computes the training loss of a batch (with autograd) and the task's evaluation metrics for a batch
/// (without; by decoding where the task's kind says so), knows its config, and splits its parameters into
/// weight-decayed and undecayed groups. The registry (<see cref="ModelFamilies"/>) builds it from its config and says
/// which task kinds it reads.
/// </summary>
public abstract class TaskModel : nn.Module
{
    protected TaskModel(string name) : base(name)
    {
    }

    /// <summary>The config this model was built from.</summary>
    public abstract IModelConfig Config { get; }

    /// <summary>The family name (<see cref="IModelConfig.Family"/>).</summary>
    public string Family => Config.Family;

    /// <summary>Mean training loss of <paramref name="batch"/> of <paramref name="task"/> (a scalar with autograd,
    /// on the model's device): cross-entropy for token, seq2seq and pointer tasks, e.g. the mean squared error for
    /// regression. Called in training mode.</summary>
    public abstract Tensor Loss(ITask task, TaskBatch batch);

    /// <summary>The metric sums of <paramref name="task"/>'s <see cref="ITask.Metrics"/> over
    /// <paramref name="batch"/>, without autograd, in evaluation mode (the caller sets it).</summary>
    public abstract MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options);

    /// <summary>Examples per evaluation chunk for batches of size <paramref name="size"/> (bounds the memory of long
    /// sequences); <paramref name="batchSize"/> is the training batch size.</summary>
    public virtual int EvaluationChunk(int size, int batchSize) =>
        Math.Max(1, Math.Min(Math.Max(batchSize, 64), 16384 / Math.Max(1, size)));

    /// <summary>The device of the model's parameters (where its states and inputs must live).</summary>
    public Device ParameterDevice => parameters().First().device;

    /// <summary>The dtype of the model's parameters (the dtype of its states).</summary>
    public ScalarType ParameterDtype => parameters().First().dtype;

    /// <summary>Parameters that get weight decay (the matrices of the linear maps, convolutions and recurrences).</summary>
    public IEnumerable<Parameter> DecayedParameters() =>
        named_parameters().Where(p => IsDecayed(p.name)).Select(p => p.parameter);

    /// <summary>Every parameter that <see cref="DecayedParameters"/> leaves out.</summary>
    public IEnumerable<Parameter> UndecayedParameters() =>
        named_parameters().Where(p => !IsDecayed(p.name)).Select(p => p.parameter);

    /// <summary>Whether the parameter of this name gets weight decay; norms, biases and embeddings not.</summary>
    protected abstract bool IsDecayed(string parameterName);

    /// <summary>The batch as the subclass <typeparamref name="TBatch"/> of the task's kind; an ArgumentException
    /// naming both types otherwise.</summary>
    protected static TBatch ExpectBatch<TBatch>(TaskBatch batch) where TBatch : TaskBatch
    {
        ArgumentNullException.ThrowIfNull(batch);
        return batch as TBatch ?? throw new ArgumentException(
            $"batch: expected a {typeof(TBatch).Name}, got a {batch.GetType().Name}.", nameof(batch));
    }

    /// <summary>The task as <typeparamref name="TTask"/>; an ArgumentException naming the task otherwise.</summary>
    protected TTask ExpectTask<TTask>(ITask task) where TTask : class, ITask
    {
        ArgumentNullException.ThrowIfNull(task);
        return task as TTask ?? throw new ArgumentException(
            $"task: a {Family} model reads {typeof(TTask).Name} tasks, got {task.Name} (kind {task.Kind}).", nameof(task));
    }
}
