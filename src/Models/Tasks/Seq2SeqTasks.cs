using System.Text.Json.Serialization;

namespace HybridSeq.Models.Tasks;

/// <summary>One example of a sequence-to-sequence task.</summary>
/// <param name="Source">(S) token ids the encoder reads (no begin or end token).</param>
/// <param name="Target">(T) token ids the decoder must write, the end token (<see cref="Seq2SeqVocabulary.End"/>) last.</param>
public sealed record Seq2SeqExample(long[] Source, long[] Target);

/// <summary>
/// The token ids shared by the generated seq2seq tasks: padding, begin and end of the target, the plus sign of the
/// addition task, then the digits 0 .. base-1.
/// </summary>
public static class Seq2SeqVocabulary
{
    /// <summary>Padding of sources and targets to the batch's longest (ignored by the loss, masked by attention).</summary>
    public const long Pad = 0;

    /// <summary>The decoder's first input (begin of the target).</summary>
    public const long Begin = 1;

    /// <summary>The last target token: the decoder stops there.</summary>
    public const long End = 2;

    /// <summary>The operator between the two numbers of the addition task.</summary>
    public const long Plus = 3;

    /// <summary>The id of digit 0; digit d is FirstDigit + d.</summary>
    public const long FirstDigit = 4;

    /// <summary>Ids in use with digits of base <paramref name="digitBase"/>.</summary>
    public static int Size(int digitBase) => (int)FirstDigit + digitBase;

    /// <summary>One character per token: '0'-'9' then 'a'-'z' for digits, '+' for the plus sign, '$' for the end,
    /// '^' for the begin, '_' for padding.</summary>
    public static string Render(IEnumerable<long> tokens) => string.Concat(tokens.Select(token => token switch
    {
        Pad => "_",
        Begin => "^",
        End => "$",
        Plus => "+",
        >= FirstDigit and < FirstDigit + 36 => ((token - FirstDigit) < 10
            ? (char)('0' + (token - FirstDigit))
            : (char)('a' + (token - FirstDigit - 10))).ToString(),
        _ => $"<{token}>",
    }));
}

/// <summary>
/// The sequence-to-sequence tasks (kind <see cref="TaskKinds.Seq2Seq"/>) of the task contract: a source token
/// sequence in, a target token sequence out (ending with <see cref="Seq2SeqVocabulary.End"/>). The metrics are the
/// exact-sequence accuracy (primary: the decoded sequence, up to and including its end token, equals the target)
/// and the token accuracy (position by position over the target's tokens, the end token included), both by decoding
/// (greedy, or beam search with <see cref="EvaluationOptions.BeamSize"/>).
/// </summary>
public interface ISeq2SeqTask : ITask
{
    /// <summary>Token ids in use in sources and targets: every id is in [0, VocabularySize).</summary>
    int VocabularySize { get; }

    /// <summary>Draws <paramref name="count"/> examples deterministically from <paramref name="seed"/>, of size
    /// <paramref name="size"/> (null: sizes drawn from the training range).</summary>
    Seq2SeqExample[] SampleExamples(int count, int seed, int? size = null);

    string ITask.Kind => TaskKinds.Seq2Seq;

    IReadOnlyList<MetricDefinition> ITask.Metrics => Seq2SeqMetrics.All;

    TaskBatch ITask.Sample(int count, int seed, int? size) => new Seq2SeqBatch(SampleExamples(count, seed, size));
}

/// <summary>The metrics of every seq2seq task and how decoded sequences are scored.</summary>
public static class Seq2SeqMetrics
{
    public const string ExactSequenceAccuracy = "exact-sequence-accuracy";
    public const string TokenAccuracy = "token-accuracy";

    public static IReadOnlyList<MetricDefinition> All { get; } =
    [
        new(ExactSequenceAccuracy, "exact-sequence accuracy", "{0} exact sequences", MetricGoal.HigherIsBetter,
            IsFraction: true),
        new(TokenAccuracy, "token accuracy", "{0} tokens", MetricGoal.HigherIsBetter, IsFraction: true),
    ];

    /// <summary>
    /// Adds the scores of <paramref name="predicted"/> against the examples' targets to <paramref name="totals"/>:
    /// metric 0 counts sequences equal to their target up to and including the first end token, metric 1 counts
    /// target positions where the prediction has the target's token (a prediction shorter than its target is wrong
    /// at the missing positions). A prediction is cut after its first end token.
    /// </summary>
    public static void Score(IReadOnlyList<Seq2SeqExample> examples, IReadOnlyList<long[]> predicted, MetricTotals totals)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(totals);
        if (predicted.Count != examples.Count)
            throw new ArgumentException(
                $"predicted: expected one sequence per example ({examples.Count}), got {predicted.Count}.", nameof(predicted));
        long exact = 0, correctTokens = 0, tokens = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            long[] target = examples[i].Target;
            long[] output = CutAtEnd(predicted[i]);
            if (output.AsSpan().SequenceEqual(target)) exact++;
            for (int t = 0; t < target.Length; t++)
                if (t < output.Length && output[t] == target[t]) correctTokens++;
            tokens += target.Length;
        }
        totals.Add(0, exact, examples.Count);
        totals.Add(1, correctTokens, tokens);
    }

    /// <summary>The tokens up to and including the first end token (all of them when there is none).</summary>
    public static long[] CutAtEnd(long[] tokens)
    {
        int end = Array.IndexOf(tokens, Seq2SeqVocabulary.End);
        return end < 0 ? tokens : tokens[..(end + 1)];
    }
}

/// <summary>A batch of a seq2seq task: examples of varying source and target lengths.</summary>
public sealed class Seq2SeqBatch : TaskBatch
{
    public Seq2SeqBatch(Seq2SeqExample[] examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        Examples = examples;
    }

    public Seq2SeqExample[] Examples { get; }

    public override int Count => Examples.Length;

    public override long ElementCount => Examples.Sum(e => (long)e.Source.Length + e.Target.Length);

    public override TaskBatch Slice(int start, int count) => new Seq2SeqBatch(Examples.AsSpan(start, count).ToArray());
}

/// <summary>Shared validation and sampling of the digit-sequence tasks (reverse, sort).</summary>
internal static class DigitSequences
{
    public static void Validate(int minLength, int maxLength, int digitBase)
    {
        if (minLength < 1)
            throw new ArgumentOutOfRangeException("MinLength", minLength, $"MinLength must be at least 1, got {minLength}.");
        if (maxLength < minLength)
            throw new ArgumentOutOfRangeException("MaxLength", maxLength,
                $"MaxLength must be at least MinLength ({minLength}), got {maxLength}.");
        if (digitBase is < 2 or > 36)
            throw new ArgumentOutOfRangeException("Base", digitBase, $"Base must be in [2, 36], got {digitBase}.");
    }

    /// <summary>Random digit tokens, their length uniform in [min, max] or exactly <paramref name="size"/>.</summary>
    public static long[] Draw(Random random, int minLength, int maxLength, int digitBase, int? size)
    {
        int length = size ?? random.Next(minLength, maxLength + 1);
        var tokens = new long[length];
        for (int i = 0; i < length; i++) tokens[i] = Seq2SeqVocabulary.FirstDigit + random.Next(digitBase);
        return tokens;
    }

    /// <summary>The examples of a digit-sequence task: <paramref name="count"/> sources drawn from
    /// <paramref name="seed"/> (MinLength..MaxLength digits, or exactly <paramref name="size"/>), each with
    /// target(source) then the end token.</summary>
    public static Seq2SeqExample[] Sample(int count, int seed, int? size, int minLength, int maxLength, int digitBase,
        Func<long[], IEnumerable<long>> target)
    {
        Validate(minLength, maxLength, digitBase);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckSize(size);
        var random = new Random(seed);
        var examples = new Seq2SeqExample[count];
        for (int e = 0; e < count; e++)
        {
            long[] source = Draw(random, minLength, maxLength, digitBase, size);
            examples[e] = new Seq2SeqExample(source, [.. target(source), Seq2SeqVocabulary.End]);
        }
        return examples;
    }

    public static int CheckSize(int? size)
    {
        if (size is int s && s < 1)
            throw new ArgumentOutOfRangeException("size", s, $"size must be a positive sequence length, got {s}.");
        return size ?? 0;
    }
}

/// <summary>
/// Sequence reversal: the source is MinLength..MaxLength random digits, the target the same digits in reverse order,
/// then the end token. A pure function of the seed.
/// </summary>
/// <param name="MinLength">Shortest source (at least 1).</param>
/// <param name="MaxLength">Longest source; the evaluation size of the training distribution.</param>
/// <param name="Base">Distinct digits (2..36).</param>
public sealed record ReverseTask(int MinLength = 3, int MaxLength = 10, int Base = 10) : ISeq2SeqTask
{
    public const string TaskName = "reverse";

    [JsonIgnore] public string Name => TaskName;

    [JsonIgnore] public int VocabularySize => Seq2SeqVocabulary.Size(Base);

    [JsonIgnore] public string SizeName => "length";

    /// <summary>The training distribution only (named by its longest source).</summary>
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes => [MaxLength];

    public void Validate() => DigitSequences.Validate(MinLength, MaxLength, Base);

    public Seq2SeqExample[] SampleExamples(int count, int seed, int? size = null) =>
        DigitSequences.Sample(count, seed, size, MinLength, MaxLength, Base, source => source.Reverse());
}

/// <summary>
/// Sorting digit tokens: the source is MinLength..MaxLength random digits (repeats allowed), the target the same
/// digits in ascending order, then the end token. A pure function of the seed.
/// </summary>
/// <param name="MinLength">Shortest source (at least 1).</param>
/// <param name="MaxLength">Longest source; the evaluation size of the training distribution.</param>
/// <param name="Base">Distinct digits (2..36).</param>
public sealed record SortTask(int MinLength = 3, int MaxLength = 10, int Base = 10) : ISeq2SeqTask
{
    public const string TaskName = "sort";

    [JsonIgnore] public string Name => TaskName;

    [JsonIgnore] public int VocabularySize => Seq2SeqVocabulary.Size(Base);

    [JsonIgnore] public string SizeName => "length";

    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes => [MaxLength];

    public void Validate() => DigitSequences.Validate(MinLength, MaxLength, Base);

    public Seq2SeqExample[] SampleExamples(int count, int seed, int? size = null) =>
        DigitSequences.Sample(count, seed, size, MinLength, MaxLength, Base, source => source.Order());
}

/// <summary>
/// Addition of two numbers written as digit strings, most significant digit first: the source is "a+b" (each number
/// MinDigits..MaxDigits digits, no leading zeros), the target the digits of a + b, then the end token. A pure
/// function of the seed. Numbers of up to 18 digits (base 10) fit the exact integer arithmetic used.
/// </summary>
/// <param name="MinDigits">Fewest digits of an operand (at least 1).</param>
/// <param name="MaxDigits">Most digits of an operand; the evaluation size of the training distribution.</param>
/// <param name="Base">The number base (2..36).</param>
public sealed record AdditionTask(int MinDigits = 1, int MaxDigits = 5, int Base = 10) : ISeq2SeqTask
{
    public const string TaskName = "addition";

    [JsonIgnore] public string Name => TaskName;

    [JsonIgnore] public int VocabularySize => Seq2SeqVocabulary.Size(Base);

    [JsonIgnore] public string SizeName => "digits";

    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes => [MaxDigits];

    public void Validate()
    {
        if (MinDigits < 1)
            throw new ArgumentOutOfRangeException(nameof(MinDigits), MinDigits, $"MinDigits must be at least 1, got {MinDigits}.");
        if (MaxDigits < MinDigits)
            throw new ArgumentOutOfRangeException(nameof(MaxDigits), MaxDigits,
                $"MaxDigits must be at least MinDigits ({MinDigits}), got {MaxDigits}.");
        if (Base is < 2 or > 36)
            throw new ArgumentOutOfRangeException(nameof(Base), Base, $"Base must be in [2, 36], got {Base}.");
        // The sum of two MaxDigits-digit numbers must fit a 64-bit integer: Base^(MaxDigits + 1) <= 2^62.
        if ((MaxDigits + 1) * Math.Log2(Base) > 62)
            throw new ArgumentOutOfRangeException(nameof(MaxDigits), MaxDigits,
                $"MaxDigits must keep the sum within 62 bits (at most {(int)(62 / Math.Log2(Base)) - 1} digits in base {Base}), got {MaxDigits}.");
    }

    public Seq2SeqExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (size is int s && (s < 1 || (s + 1) * Math.Log2(Base) > 62))
            throw new ArgumentOutOfRangeException(nameof(size), s,
                $"size must be a number of digits in [1, {(int)(62 / Math.Log2(Base)) - 1}], got {s}.");
        var random = new Random(seed);
        var examples = new Seq2SeqExample[count];
        for (int e = 0; e < count; e++)
        {
            long a = Operand(random, size), b = Operand(random, size);
            long[] source = [.. Digits(a), Seq2SeqVocabulary.Plus, .. Digits(b)];
            examples[e] = new Seq2SeqExample(source, [.. Digits(a + b), Seq2SeqVocabulary.End]);
        }
        return examples;
    }

    /// <summary>A number of exactly d digits (d uniform in the range, or <paramref name="size"/>): the leading digit
    /// non-zero unless d = 1.</summary>
    private long Operand(Random random, int? size)
    {
        int digits = size ?? random.Next(MinDigits, MaxDigits + 1);
        long value = digits == 1 ? random.Next(Base) : 1 + random.Next(Base - 1);
        for (int i = 1; i < digits; i++) value = value * Base + random.Next(Base);
        return value;
    }

    /// <summary>The digit tokens of <paramref name="value"/> (>= 0), most significant first.</summary>
    public long[] Digits(long value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        var digits = new List<long>();
        do
        {
            digits.Add(Seq2SeqVocabulary.FirstDigit + value % Base);
            value /= Base;
        } while (value > 0);
        digits.Reverse();
        return [.. digits];
    }
}
