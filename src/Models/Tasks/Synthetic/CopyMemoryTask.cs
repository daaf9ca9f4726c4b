using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Tasks.Synthetic;

/// <summary>
/// The copy memory task as Bai, Kolter and Koltun (2018, section 4.3) define it (their generator): each input has
/// T + 20 steps, token ids 0..9. The first <see cref="MemoryLength"/> (10) are symbols drawn uniformly from 1..8, then
/// T - 1 blanks (0), then 11 copies of the marker 9 (the first is the delimiter). The target is blank (0) everywhere
/// except the last 10 steps, which repeat the 10 symbols in order. The loss is the cross-entropy over all T + 20 steps
/// (the paper's, whose baseline of predicting blanks and then uniformly among the 8 symbols is 10 ln 8 / (T + 20));
/// the metrics are the accuracy on the last 10 steps (primary), that loss, and the cross-entropy on the last 10 steps.
/// <see cref="RepeatMarker"/> = false gives the earlier variant of Arjovsky et al. (2016): the delimiter once, then 10
/// blanks.
/// </summary>
/// <param name="Length">T: the blank time (the paper: 500, 1000, 2000; at least 1).</param>
/// <param name="MemoryLength">Symbols to remember (the paper: 10).</param>
/// <param name="RepeatMarker">true (the TCN paper): the last MemoryLength + 1 inputs are all the marker; false: the
/// marker once, then blanks.</param>
public sealed record CopyMemoryTask(int Length = 100, int MemoryLength = 10, bool RepeatMarker = true) : IBackboneTask
{
    public const string TaskName = "copy-memory";
    public const long Blank = 0;
    public const long Marker = 9;
    public const int Symbols = 8;

    public static IReadOnlyList<MetricDefinition> CopyMetrics { get; } =
    [
        new("accuracy", "accuracy on the copied steps", "accuracy {0} on the copied steps", MetricGoal.HigherIsBetter, IsFraction: true),
        new("cross-entropy", "cross-entropy over every step (the paper's loss)", "loss {0} over every step", MetricGoal.LowerIsBetter, IsFraction: false),
        new("copy-cross-entropy", "cross-entropy on the copied steps", "{0} on the copied steps", MetricGoal.LowerIsBetter, IsFraction: false),
    ];

    [JsonIgnore] public string Name => TaskName;
    [JsonIgnore] public string Kind => TaskKinds.Classification;
    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => CopyMetrics;
    [JsonIgnore] public string SizeName => "T";
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes => [Length];
    [JsonIgnore] public int InputVocabulary => (int)Marker + 1;
    [JsonIgnore] public int InputChannels => 1;
    [JsonIgnore] public int Outputs => (int)Marker + 1;
    [JsonIgnore] public SequenceReadout Readout => SequenceReadout.EveryStep;

    /// <summary>Steps per sequence: T + 2 x MemoryLength.</summary>
    [JsonIgnore] public int SequenceLength => Length + 2 * MemoryLength;

    /// <summary>The paper's baseline loss: blanks predicted exactly, the copied steps uniformly among the 8 symbols.</summary>
    public double BaselineLoss(int? length = null) => MemoryLength * Math.Log(Symbols) / ((length ?? Length) + 2 * MemoryLength);

    public void Validate()
    {
        if (Length < 1)
            throw new ArgumentOutOfRangeException(nameof(Length), Length, $"CopyMemoryTask.Length must be at least 1, got {Length}.");
        if (MemoryLength < 1)
            throw new ArgumentOutOfRangeException(nameof(MemoryLength), MemoryLength,
                $"CopyMemoryTask.MemoryLength must be at least 1, got {MemoryLength}.");
    }

    /// <summary>Draws <paramref name="count"/> examples of blank time <paramref name="size"/> (null: Length)
    /// deterministically from <paramref name="seed"/>: token inputs and per-step class targets, (count, T + 20) each.</summary>
    public TaskBatch Sample(int count, int seed, int? size = null)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int blank = size ?? Length;
        if (blank < 1)
            throw new ArgumentOutOfRangeException(nameof(size), blank, $"size: expected a blank time of at least 1, got {blank}.");
        int m = MemoryLength, length = blank + 2 * m;
        var random = new Random(seed);
        var inputs = new long[(long)count * length];   // blanks
        var targets = new long[(long)count * length];  // blanks
        for (int e = 0; e < count; e++)
        {
            long row = (long)e * length;
            for (int i = 0; i < m; i++)
            {
                long symbol = random.Next(1, Symbols + 1);
                inputs[row + i] = symbol;
                targets[row + length - m + i] = symbol;
            }
            // The delimiter sits at step m + T - 1: after T - 1 blanks; with RepeatMarker the m steps after it too.
            inputs[row + m + blank - 1] = Marker;
            if (RepeatMarker)
                for (int i = length - m; i < length; i++) inputs[row + i] = Marker;
        }
        return SequenceBatch.TokenClasses(count, length, inputs, length, targets);
    }

    /// <summary>Mean cross-entropy over every step: outputs (Bt, L, 10) logits.</summary>
    public Tensor Loss(Tensor outputs, SequenceBatch batch)
    {
        var targets = batch.ClassTargetTensor(outputs.device);
        return nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[^1]), targets.reshape(-1));
    }

    public void AddMetrics(MetricTotals totals, Tensor outputs, SequenceBatch batch)
    {
        using var scope = NewDisposeScope();
        var targets = batch.ClassTargetTensor(outputs.device);
        long length = outputs.shape[1], m = MemoryLength;
        var logits = outputs.to(ScalarType.Float64);
        var losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1),
            reduction: nn.Reduction.None).reshape(batch.Count, length);
        var copied = targets.narrow(1, length - m, m);
        var copiedLogits = logits.narrow(1, length - m, m);
        long correct = copiedLogits.argmax(-1).eq(copied).sum().item<long>();
        totals.Add(0, correct, batch.Count * m);
        totals.Add(1, losses.sum().item<double>(), batch.Count * length);
        totals.Add(2, losses.narrow(1, length - m, m).sum().item<double>(), batch.Count * m);
    }
}
