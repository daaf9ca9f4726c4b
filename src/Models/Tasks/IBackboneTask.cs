using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Tasks;

/// <summary>Where a <see cref="SequenceModel"/> reads its outputs out of the backbone.</summary>
public enum SequenceReadout
{
    /// <summary>One output vector per sequence, from the last step (the adding problem, sequence classification).</summary>
    LastStep,

    /// <summary>One output vector per position (copy memory: a class at every step).</summary>
    EveryStep,

    /// <summary>One output vector per sequence: the mean of the backbone's outputs over the sequence's own steps
    /// (sequence classification of padded sequences of varying length: ListOps; padding is never read).</summary>
    MeanPool,
}

/// <summary>
/// The tasks that the one "backbone + head" wiring (<see cref="SequenceModel"/>) reads, whatever the backbone family
/// (lstm, gru, slstm, mamba, tcn, wavenet, tcnca): per step either a token id (<see cref="InputVocabulary"/> &gt; 0,
/// embedded) or <see cref="InputChannels"/> real values (projected), outputs read out at the last step or at every
/// step (<see cref="Readout"/>), and a loss and metrics the task defines over those outputs. So a new task of this
/// shape (a regression, a sequence classification, a per-step labelling) needs no model code, and a new backbone
/// trains on every such task.
/// </summary>
public interface IBackboneTask : ITask
{
    /// <summary>&gt; 0: the inputs are token ids in [0, InputVocabulary); 0: the inputs are real values.</summary>
    int InputVocabulary { get; }

    /// <summary>Real values per step (1 for token inputs, which are one id per step).</summary>
    int InputChannels { get; }

    /// <summary>O: values per output vector (regression outputs, or classes).</summary>
    int Outputs { get; }

    /// <summary>Last step or every step.</summary>
    SequenceReadout Readout { get; }

    /// <summary>Steps per training sequence (what a convolutional backbone's receptive field must cover).</summary>
    int SequenceLength { get; }

    /// <summary>The mean training loss of <paramref name="outputs"/> ((Bt, O) for <see cref="SequenceReadout.LastStep"/>,
    /// (Bt, L, O) for <see cref="SequenceReadout.EveryStep"/>, with autograd) against the batch's targets.</summary>
    Tensor Loss(Tensor outputs, SequenceBatch batch);

    /// <summary>Adds the metric sums of <paramref name="outputs"/> (as in <see cref="Loss"/>, without autograd) to
    /// <paramref name="totals"/> (aligned with <see cref="ITask.Metrics"/>).</summary>
    void AddMetrics(MetricTotals totals, Tensor outputs, SequenceBatch batch);
}

/// <summary>
/// A batch of an <see cref="IBackboneTask"/>: Count sequences of one Length, as plain CPU arrays. Inputs are either
/// token ids (<see cref="Tokens"/>, Count x Length, row-major) or real values (<see cref="Values"/>, Count x Length x
/// Channels, row-major); targets are real values (<see cref="RealTargets"/>, Count x TargetsPerExample) or class ids
/// (<see cref="ClassTargets"/>, Count x TargetsPerExample). Sequences of varying length are padded at the end to one
/// Length and carry their own lengths (<see cref="Lengths"/>); a model reads the last step and pools at each
/// sequence's own end, so the padding never changes an output.
/// </summary>
public sealed class SequenceBatch : TaskBatch
{
    private SequenceBatch(int count, int length, int channels, long[]? tokens, float[]? values,
        int targetsPerExample, float[]? realTargets, long[]? classTargets, long[]? lengths = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetsPerExample, 1);
        if (tokens is not null && tokens.Length != (long)count * length)
            throw new ArgumentException($"tokens: expected {count} x {length} ids, got {tokens.Length}.", nameof(tokens));
        if (values is not null && values.Length != (long)count * length * channels)
            throw new ArgumentException($"values: expected {count} x {length} x {channels} values, got {values.Length}.",
                nameof(values));
        long targets = (long)count * targetsPerExample;
        if (realTargets is not null && realTargets.Length != targets)
            throw new ArgumentException($"realTargets: expected {count} x {targetsPerExample} values, got {realTargets.Length}.",
                nameof(realTargets));
        if (classTargets is not null && classTargets.Length != targets)
            throw new ArgumentException($"classTargets: expected {count} x {targetsPerExample} ids, got {classTargets.Length}.",
                nameof(classTargets));
        if (lengths is not null)
        {
            if (lengths.Length != count)
                throw new ArgumentException($"lengths: expected {count} lengths, got {lengths.Length}.", nameof(lengths));
            for (int i = 0; i < lengths.Length; i++)
                if (lengths[i] < 1 || lengths[i] > length)
                    throw new ArgumentException(
                        $"lengths: expected every length in [1, {length}], got {lengths[i]} at {i}.", nameof(lengths));
        }
        Count = count;
        Length = length;
        Lengths = lengths;
        Channels = channels;
        Tokens = tokens;
        Values = values;
        TargetsPerExample = targetsPerExample;
        RealTargets = realTargets;
        ClassTargets = classTargets;
    }

    /// <summary>Real-valued inputs (Count x Length x Channels) with real-valued targets (Count x targetsPerExample).</summary>
    public static SequenceBatch Regression(int count, int length, int channels, float[] values, int targetsPerExample,
        float[] targets)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(targets);
        return new(count, length, channels, null, values, targetsPerExample, targets, null);
    }

    /// <summary>Token inputs (Count x Length) with class targets (Count x targetsPerExample).</summary>
    public static SequenceBatch TokenClasses(int count, int length, long[] tokens, int targetsPerExample, long[] targets)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(targets);
        return new(count, length, 1, tokens, null, targetsPerExample, null, targets);
    }

    /// <summary>Token inputs padded at the end (Count x Length, row i's own tokens first), their lengths (Count,
    /// each in [1, Length]) and class targets (Count x targetsPerExample).</summary>
    public static SequenceBatch PaddedTokenClasses(int count, int length, long[] tokens, long[] lengths,
        int targetsPerExample, long[] targets)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentNullException.ThrowIfNull(targets);
        return new(count, length, 1, tokens, null, targetsPerExample, null, targets, lengths);
    }

    /// <summary>Real-valued inputs (Count x Length x Channels) with class targets (Count x targetsPerExample).</summary>
    public static SequenceBatch ValueClasses(int count, int length, int channels, float[] values, int targetsPerExample,
        long[] targets)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(targets);
        return new(count, length, channels, null, values, targetsPerExample, null, targets);
    }

    public override int Count { get; }

    /// <summary>L: steps per sequence (the longest, for padded sequences).</summary>
    public int Length { get; }

    /// <summary>Each sequence's own length (Count, in [1, Length]) when the batch is padded, else null (every
    /// sequence has Length steps).</summary>
    public long[]? Lengths { get; }

    /// <summary>C: real values per step (1 for token inputs).</summary>
    public int Channels { get; }

    /// <summary>Token inputs (Count x Length), or null for real-valued inputs.</summary>
    public long[]? Tokens { get; }

    /// <summary>Real-valued inputs (Count x Length x Channels), or null for token inputs.</summary>
    public float[]? Values { get; }

    /// <summary>Targets per example (1 for a last-step regression of one value, Length for a per-step labelling).</summary>
    public int TargetsPerExample { get; }

    /// <summary>Real-valued targets (Count x TargetsPerExample), or null.</summary>
    public float[]? RealTargets { get; }

    /// <summary>Class targets (Count x TargetsPerExample), or null.</summary>
    public long[]? ClassTargets { get; }

    public override long ElementCount => (Lengths?.Sum() ?? (long)Count * Length) + (long)Count * TargetsPerExample;

    public override TaskBatch Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), start,
                $"start, count: expected a range inside [0, {Count}), got [{start}, {start + count}).");
        long[]? SliceLong(long[]? array, int perExample) => array?.AsSpan(start * perExample, count * perExample).ToArray();
        float[]? SliceFloat(float[]? array, int perExample) => array?.AsSpan(start * perExample, count * perExample).ToArray();
        return new SequenceBatch(count, Length, Channels, SliceLong(Tokens, Length), SliceFloat(Values, Length * Channels),
            TargetsPerExample, SliceFloat(RealTargets, TargetsPerExample), SliceLong(ClassTargets, TargetsPerExample),
            SliceLong(Lengths, 1));
    }

    /// <summary>The lengths (Bt) int64 on <paramref name="device"/>, or null when the batch is not padded.</summary>
    public Tensor? LengthTensor(Device device) =>
        Lengths is null ? null : tensor(Lengths, [Count], ScalarType.Int64).to(device);

    /// <summary>The inputs as a tensor on <paramref name="device"/>: tokens (Bt, L) int64, or values (Bt, L, C) of
    /// <paramref name="dtype"/>.</summary>
    public Tensor InputTensor(Device device, ScalarType dtype) => Tokens is not null
        ? tensor(Tokens, [Count, Length], ScalarType.Int64).to(device)
        : tensor(Values!, [Count, Length, Channels]).to(dtype).to(device);

    /// <summary>The real targets (Bt, TargetsPerExample) of <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    public Tensor RealTargetTensor(Device device, ScalarType dtype) => RealTargets is not null
        ? tensor(RealTargets, [Count, TargetsPerExample]).to(dtype).to(device)
        : throw new InvalidOperationException("This batch has class targets, not real-valued ones.");

    /// <summary>The class targets (Bt, TargetsPerExample) int64 on <paramref name="device"/>.</summary>
    public Tensor ClassTargetTensor(Device device) => ClassTargets is not null
        ? tensor(ClassTargets, [Count, TargetsPerExample], ScalarType.Int64).to(device)
        : throw new InvalidOperationException("This batch has real-valued targets, not class ids.");
}
