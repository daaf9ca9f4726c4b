namespace HybridSeq.Models.Tasks;

/// <summary>
/// The kinds of task. A kind fixes what a batch holds (<see cref="TaskBatch"/>), how a model reads it and what it
/// predicts; the registry of model families (<see cref="ModelFamilies"/>) says which kinds each family trains on.
/// </summary>
public static class TaskKinds
{
    /// <summary>Token tasks (<see cref="ISequenceTask"/>): a language model reads a token sequence and predicts the
    /// answers at its last K positions (selective-copying, induction-heads).</summary>
    public const string Tokens = "tokens";

    /// <summary>Sequence-to-sequence tasks (see Seq2SeqTask): a source token sequence in, a target token
    /// sequence out (reverse, sort, addition).</summary>
    public const string Seq2Seq = "seq2seq";

    /// <summary>Pointer tasks: real-valued inputs (points, numbers), targets that are indices into the input
    /// (convex hull, Delaunay, TSP, sorting numbers).</summary>
    public const string Pointer = "pointer";

    /// <summary>Regression tasks: real-valued targets, a loss such as the mean squared error (forecasting, the
    /// adding problem).</summary>
    public const string Regression = "regression";

    /// <summary>Forecasting tasks (see Forecasting.IForecastTask): windows of past values of a series (and
    /// covariates) in, the next values out, missing values masked; metrics where lower is better (MSE, MAE, MASE).</summary>
    public const string Forecasting = "forecasting";

    /// <summary>Classification tasks (<see cref="IBackboneTask"/>): token or real-valued sequences in, class ids out at
    /// the last step, pooled over each sequence or at every step; cross-entropy loss (copy memory, ListOps).</summary>
    public const string Classification = "classification";
}

/// <summary>Whether a larger or a smaller value of a metric is the better one (accuracy: larger; tour length or
/// mean squared error: smaller). Early stopping and the accuracy target follow it.</summary>
public enum MetricGoal
{
    HigherIsBetter,
    LowerIsBetter,
}

/// <summary>
/// One metric of a task. Its value is a ratio Sum / Count accumulated over the held-out examples (correct tokens /
/// tokens, exact sequences / sequences, summed tour length / tours), so evaluating in chunks gives the same value
/// as evaluating at once.
/// </summary>
/// <param name="Name">The key stored in checkpoints (e.g. "accuracy", "exact-sequence-accuracy"); unique per task.</param>
/// <param name="Description">What it is, in words, for reports ("token accuracy").</param>
/// <param name="Format">How a table row shows it: a composite format with {0} for the formatted value
/// ("accuracy {0} full forward", "{0} exact sequences").</param>
/// <param name="Goal">Which direction is better.</param>
/// <param name="IsFraction">True: the value is a fraction in [0, 1], shown as a percentage; false: shown as is.</param>
public sealed record MetricDefinition(string Name, string Description, string Format, MetricGoal Goal, bool IsFraction)
{
    /// <summary>The value as reports show it: "97.5%" for fractions, "3.1416" otherwise.</summary>
    public string FormatValue(double value) => IsFraction
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{100 * value:F1}%")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{value:F4}");

    /// <summary>Whether <paramref name="value"/> reaches <paramref name="threshold"/> in this metric's direction
    /// (at or above for higher-is-better, at or below for lower-is-better).</summary>
    public bool Reaches(double value, double threshold) =>
        Goal == MetricGoal.HigherIsBetter ? value >= threshold : value <= threshold;
}

/// <summary>
/// Examples of one task kind, drawn by <see cref="ITask.Sample"/>: plain CPU data (arrays), turned into tensors by
/// the model that reads them. Each kind has its own subclass (<see cref="TokenTaskBatch"/>,
/// Seq2SeqBatch, ...).
/// </summary>
public abstract class TaskBatch
{
    /// <summary>Number of examples.</summary>
    public abstract int Count { get; }

    /// <summary>Input plus target elements of the whole batch (tokens, points): the unit of the trainer's
    /// throughput report.</summary>
    public abstract long ElementCount { get; }

    /// <summary>The examples [start, start + count) as a batch of the same kind (evaluation runs in chunks).</summary>
    public abstract TaskBatch Slice(int start, int count);
}

/// <summary>
/// The task contract: every task the trainer trains, of any kind. A task is a JSON-serialisable record registered in
/// <see cref="TaskRegistry"/> and stored in checkpoints. Examples are a pure function of the seed (the same seed always
/// gives the same batch), so the trainer's batch of step s is a function of (seed, s) and a resumed run equals the
/// uninterrupted one. What the model does with a batch (its loss, its predictions) is fixed by the task's
/// <see cref="Kind"/>; the metrics it reports are the task's <see cref="Metrics"/>.
/// </summary>
public interface ITask
{
    /// <summary>The registry name (selective-copying, reverse, ...).</summary>
    string Name { get; }

    /// <summary>The task kind (<see cref="TaskKinds"/>): which batches it draws and which models can read them.</summary>
    string Kind { get; }

    /// <summary>The metrics evaluation reports, in order; the first is the primary one (early stopping, the target,
    /// the held-out curve).</summary>
    IReadOnlyList<MetricDefinition> Metrics { get; }

    /// <summary>What a size means for this task ("length", "n"): the label of <see cref="EvaluationSizes"/>.</summary>
    string SizeName { get; }

    /// <summary>The sizes (sequence length, number of points, ...) evaluated after training. The first stands for the
    /// training distribution: its held-out examples are drawn with size null. Longer ones test extrapolation.</summary>
    IReadOnlyList<int> EvaluationSizes { get; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    void Validate();

    /// <summary>Draws <paramref name="count"/> examples deterministically from <paramref name="seed"/>, of size
    /// <paramref name="size"/> (null: the training distribution).</summary>
    TaskBatch Sample(int count, int seed, int? size = null);
}

/// <summary>
/// Metric sums of one evaluation, aligned with a task's <see cref="ITask.Metrics"/>: metric i is Sums[i] / Counts[i].
/// Models fill one per evaluated chunk; <see cref="Add(MetricTotals)"/> merges chunks.
/// </summary>
public sealed class MetricTotals
{
    private readonly double[] sums;
    private readonly double[] counts;

    /// <summary>Zero sums for <paramref name="metrics"/> metrics.</summary>
    public MetricTotals(int metrics)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(metrics);
        sums = new double[metrics];
        counts = new double[metrics];
    }

    /// <summary>Zero sums for every metric of <paramref name="task"/>.</summary>
    public static MetricTotals For(ITask task) => new(task.Metrics.Count);

    public int MetricCount => sums.Length;

    /// <summary>Adds <paramref name="sum"/> over <paramref name="count"/> items to metric <paramref name="index"/>.</summary>
    public void Add(int index, double sum, double count)
    {
        if ((uint)index >= (uint)sums.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index,
                $"index: expected a metric index in [0, {sums.Length}), got {index}.");
        sums[index] += sum;
        counts[index] += count;
    }

    /// <summary>Adds every sum of <paramref name="other"/> (same metrics).</summary>
    public void Add(MetricTotals other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.MetricCount != MetricCount)
            throw new ArgumentException(
                $"other: expected totals of {MetricCount} metrics, got {other.MetricCount}.", nameof(other));
        for (int i = 0; i < sums.Length; i++)
        {
            sums[i] += other.sums[i];
            counts[i] += other.counts[i];
        }
    }

    /// <summary>Sum / Count of metric <paramref name="index"/>; NaN when nothing was counted.</summary>
    public double Value(int index) => counts[index] == 0 ? double.NaN : sums[index] / counts[index];

    /// <summary>The values named by <paramref name="task"/>'s metrics.</summary>
    public IReadOnlyList<MetricValue> Values(ITask task)
    {
        if (task.Metrics.Count != MetricCount)
            throw new ArgumentException(
                $"task: expected a task of {MetricCount} metrics, got {task.Name} with {task.Metrics.Count}.", nameof(task));
        return task.Metrics.Select((metric, i) => new MetricValue(metric.Name, Value(i))).ToList();
    }
}

/// <summary>One metric's value.</summary>
public sealed record MetricValue(string Name, double Value);
