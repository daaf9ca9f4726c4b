using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Tasks.Synthetic;

/// <summary>
/// The adding problem as Bai, Kolter and Koltun (2018, section 4.2) define it: each input is a sequence of
/// <see cref="Length"/> T steps of depth 2; channel 0 holds values drawn uniformly from [0, 1), channel 1 is zero except
/// for two marked steps (value 1), one drawn uniformly from the first half [0, floor(T/2)) and one from the second
/// half [floor(T/2), T). The target is the sum of the two marked values, predicted at the last step; the metric is the
/// mean squared error. Predicting 1 for every sequence scores the variance of a sum of two uniforms, 1/6 = 0.1667 (the
/// paper quotes 0.1767 as the baseline).
/// </summary>
/// <param name="Length">T: steps per sequence (the paper: 200, 400, 600; at least 2).</param>
public sealed record AddingTask(int Length = 200) : IBackboneTask
{
    public const string TaskName = "adding";

    /// <summary>The MSE of always predicting 1: Var(U1 + U2) = 2/12.</summary>
    public const double PredictOneMse = 1.0 / 6.0;

    public static IReadOnlyList<MetricDefinition> AddingMetrics { get; } =
    [
        new("mse", "mean squared error of the sum", "MSE {0}", MetricGoal.LowerIsBetter, IsFraction: false),
    ];

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public string Kind => TaskKinds.Regression;
    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => AddingMetrics;
    [JsonIgnore] public string SizeName => "T";
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes => [Length];
    [JsonIgnore] public int InputVocabulary => 0;
    [JsonIgnore] public int InputChannels => 2;
    [JsonIgnore] public int Outputs => 1;
    [JsonIgnore] public SequenceReadout Readout => SequenceReadout.LastStep;
    [JsonIgnore] public int SequenceLength => Length;

    public void Validate()
    {
        if (Length < 2)
            throw new ArgumentOutOfRangeException(nameof(Length), Length,
                $"AddingTask.Length must be at least 2 (one marked step in each half), got {Length}.");
    }

    /// <summary>Draws <paramref name="count"/> sequences of length <paramref name="size"/> (null: Length)
    /// deterministically from <paramref name="seed"/>: a <see cref="SequenceBatch"/> of (count, T, 2) values and
    /// (count, 1) targets.</summary>
    public TaskBatch Sample(int count, int seed, int? size = null)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int length = size ?? Length;
        if (length < 2)
            throw new ArgumentOutOfRangeException(nameof(size), length,
                $"size: expected a length of at least 2 (one marked step in each half), got {length}.");
        var random = new Random(seed);
        var values = new float[(long)count * length * 2];
        var targets = new float[count];
        int half = length / 2;
        for (int e = 0; e < count; e++)
        {
            long offset = (long)e * length * 2;
            for (int t = 0; t < length; t++) values[offset + 2 * t] = random.NextSingle();
            int first = random.Next(0, half), second = random.Next(half, length);
            values[offset + 2 * first + 1] = 1;
            values[offset + 2 * second + 1] = 1;
            targets[e] = values[offset + 2 * first] + values[offset + 2 * second];
        }
        return SequenceBatch.Regression(count, length, 2, values, 1, targets);
    }

    /// <summary>Mean squared error of outputs (Bt, 1) against the sums.</summary>
    public Tensor Loss(Tensor outputs, SequenceBatch batch)
    {
        var targets = batch.RealTargetTensor(outputs.device, outputs.dtype);
        return nn.functional.mse_loss(outputs.reshape(targets.shape), targets);
    }

    public void AddMetrics(MetricTotals totals, Tensor outputs, SequenceBatch batch)
    {
        using var scope = NewDisposeScope();
        var targets = batch.RealTargetTensor(outputs.device, ScalarType.Float64);
        var squared = (outputs.to(ScalarType.Float64).reshape(targets.shape) - targets).square().sum().item<double>();
        totals.Add(0, squared, batch.Count);
    }
}
