using System.Text;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Tasks;

/// <summary>One ListOps expression: its tokens and its value (the class).</summary>
/// <param name="Inputs">(L) token ids of the expression, L in the task's length window; never the padding id.</param>
/// <param name="Label">The expression's value, 0..9.</param>
public sealed record ListOpsExample(long[] Inputs, int Label);

/// <summary>
/// ListOps as the Long Range Arena defines it (Tay et al. 2021, after Nangia and Bowman 2018): a nested expression
/// of the operators MAX, MIN, MED (median, rounded down) and SM (sum modulo 10) over the digits 0-9, written in
/// prefix form with the operators as opening tokens and "]" closing them, e.g.
/// <code>[MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]   -> 5</code>
/// The class is the expression's value, one of 10. The generator is LRA's: a random tree where a node at depth
/// below <see cref="MaxDepth"/> is an operator with probability 1/4 (else a digit), an operator takes 2 to
/// <see cref="MaxArguments"/> arguments (uniform) and one of the four operators (uniform), the root at depth 1;
/// trees whose token count falls outside [<see cref="MinLength"/>, <see cref="MaxLength"/>] are drawn again. LRA's
/// own data are these settings with lengths in (500, 2000): <c>new ListOpsTask(501, 1999)</c>; the default is a
/// CPU-sized 64..256. The length counts the operator, digit and "]" tokens (LRA's count; its TSV files also carry
/// redundant parentheses, which <see cref="Tokenize"/> skips). Token ids: 0 padding, 1..10 the digits 0..9,
/// 11..14 the operators [MIN, [MAX, [MED, [SM, 15 the closing "]". A task of the "backbone + head" wiring
/// (<see cref="IBackboneTask"/>, kind classification): a batch pads its expressions at the end to the longest and
/// carries their lengths; the model pools the backbone's outputs over each expression's own tokens
/// (<see cref="SequenceReadout.MeanPool"/>) into 10 class logits; loss cross-entropy, metric accuracy.
/// </summary>
/// <param name="MinLength">Fewest tokens of an expression of the training distribution (at least 4: the shortest
/// operator expression, "[MAX 1 2 ]").</param>
/// <param name="MaxLength">Most tokens of an expression of the training distribution (LRA: up to 2000).</param>
/// <param name="MaxDepth">Depth of the deepest digit (the root is depth 1): operators nest at most
/// MaxDepth - 1 deep. LRA: 10.</param>
/// <param name="MaxArguments">Most arguments of one operator (at least 2). LRA's generator: 10.</param>
public sealed record ListOpsTask(int MinLength = 64, int MaxLength = 256, int MaxDepth = 10, int MaxArguments = 10)
    : IBackboneTask
{
    public const string TaskName = "listops";

    public const long Padding = 0;
    public const long FirstDigitToken = 1;
    public const long MinToken = 11;
    public const long MaxToken = 12;
    public const long MedianToken = 13;
    public const long SumModToken = 14;
    public const long CloseToken = 15;

    /// <summary>The deepest tree the generator may build (the recursion's bound).</summary>
    public const int DepthLimit = 64;

    /// <summary>Draws of a tree per example before the generator gives up on a length window it (almost) never
    /// hits: a clear error instead of a hang.</summary>
    public const int MaxDrawsPerExample = 1_000_000;

    /// <summary>The probability that a node above the depth limit is an operator (LRA's VALUE_P).</summary>
    public const double OperatorProbability = 0.25;

    private static readonly string[] TokenTexts =
        ["<pad>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[MIN", "[MAX", "[MED", "[SM", "]"];

    [JsonIgnore]
    public string Name => TaskName;

    public static IReadOnlyList<MetricDefinition> ListOpsMetrics { get; } =
    [
        new("accuracy", "classification accuracy", "accuracy {0}", MetricGoal.HigherIsBetter, IsFraction: true),
    ];

    [JsonIgnore]
    public string Kind => TaskKinds.Classification;

    [JsonIgnore]
    public IReadOnlyList<MetricDefinition> Metrics => ListOpsMetrics;

    /// <summary>Token ids in use, the padding id included.</summary>
    [JsonIgnore]
    public int VocabularySize => TokenTexts.Length;

    [JsonIgnore]
    public int InputVocabulary => VocabularySize;

    [JsonIgnore]
    public int InputChannels => 1;

    /// <summary>The 10 classes (values 0..9).</summary>
    [JsonIgnore]
    public int Outputs => 10;

    [JsonIgnore]
    public SequenceReadout Readout => SequenceReadout.MeanPool;

    /// <summary>The longest training expression (what a convolutional backbone's receptive field must cover).</summary>
    [JsonIgnore]
    public int SequenceLength => MaxLength;

    [JsonIgnore]
    public string SizeName => "length";

    /// <summary>The training window only (a size s draws lengths in [MinLength, s]; see <see cref="SampleExamples"/>).</summary>
    [JsonIgnore]
    public IReadOnlyList<int> EvaluationSizes => [MaxLength];

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        if (MaxDepth is < 2 or > DepthLimit)
            throw new ArgumentOutOfRangeException(nameof(MaxDepth), MaxDepth,
                $"MaxDepth must be in [2, {DepthLimit}] (depth 1 is the root; an operator needs depth 2 for its arguments), got {MaxDepth}.");
        if (MaxArguments < 2)
            throw new ArgumentOutOfRangeException(nameof(MaxArguments), MaxArguments,
                $"MaxArguments must be at least 2 (an operator takes 2 or more arguments), got {MaxArguments}.");
        if (MinLength < 4)
            throw new ArgumentOutOfRangeException(nameof(MinLength), MinLength,
                $"MinLength must be at least 4 (the shortest expression, an operator of two digits, has 4 tokens), got {MinLength}.");
        if (MaxLength < MinLength)
            throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength,
                $"MaxLength must be at least MinLength = {MinLength}, got {MaxLength}.");
        long longest = LongestExpression(MaxDepth, MaxArguments);
        if (MinLength > longest)
            throw new ArgumentOutOfRangeException(nameof(MinLength), MinLength,
                $"MinLength must be at most {longest}, the longest expression of depth {MaxDepth} with at most {MaxArguments} arguments, got {MinLength}.");
    }

    /// <summary>Tokens of the longest expression: every node an operator of MaxArguments arguments down to the
    /// depth limit (clamped at int.MaxValue).</summary>
    internal static long LongestExpression(int maxDepth, int maxArguments)
    {
        long length = 1;  // a digit at depth maxDepth
        for (int depth = maxDepth - 1; depth >= 1; depth--)
            length = Math.Min(int.MaxValue, 2 + maxArguments * length);
        return length;
    }

    /// <summary>Draws <paramref name="count"/> examples deterministically from <paramref name="seed"/>: lengths in
    /// [MinLength, MaxLength] (<paramref name="size"/> null) or in [MinLength, size]. An
    /// <see cref="InvalidOperationException"/> if <see cref="MaxDrawsPerExample"/> trees in a row miss the window.</summary>
    public ListOpsExample[] SampleExamples(int count, int seed, int? size = null)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int maxLength = MaxLength;
        if (size is int requested)
        {
            if (requested < MinLength)
                throw new ArgumentOutOfRangeException(nameof(size), requested,
                    $"size (the longest expression) must be at least MinLength = {MinLength}, got {requested}.");
            maxLength = requested;
        }
        var random = new Random(seed);
        var generator = new Generator(random, MaxDepth, MaxArguments, maxLength);
        var examples = new ListOpsExample[count];
        for (int e = 0; e < count; e++)
        {
            int draws = 0;
            while (true)
            {
                if (++draws > MaxDrawsPerExample)
                    throw new InvalidOperationException(
                        $"ListOps: {MaxDrawsPerExample} random trees (depth {MaxDepth}, up to {MaxArguments} arguments) in a row missed the lengths [{MinLength}, {maxLength}]; choose a wider window or a larger MaxArguments / MaxDepth.");
                int value = generator.Draw();
                if (value >= 0 && generator.Tokens.Count >= MinLength)
                {
                    examples[e] = new ListOpsExample(generator.Tokens.ToArray(), value);
                    break;
                }
            }
        }
        return examples;
    }

    /// <summary>The examples of <see cref="SampleExamples"/> as a batch: tokens padded at the end with
    /// <see cref="Padding"/> to the longest, their lengths, one class target each.</summary>
    public TaskBatch Sample(int count, int seed, int? size = null) => ToBatch(SampleExamples(count, seed, size));

    /// <summary><paramref name="examples"/> (at least one) as a padded batch.</summary>
    public static SequenceBatch ToBatch(IReadOnlyList<ListOpsExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
            throw new ArgumentException("examples: expected at least one example, got none.", nameof(examples));
        int length = examples.Max(e => e.Inputs.Length);
        var tokens = new long[(long)examples.Count * length];  // Padding = 0
        var lengths = new long[examples.Count];
        var labels = new long[examples.Count];
        for (int e = 0; e < examples.Count; e++)
        {
            examples[e].Inputs.CopyTo(tokens, (long)e * length);
            lengths[e] = examples[e].Inputs.Length;
            labels[e] = examples[e].Label;
        }
        return SequenceBatch.PaddedTokenClasses(examples.Count, length, tokens, lengths, 1, labels);
    }

    /// <summary>Mean cross-entropy of the classes: outputs (Bt, 10) logits.</summary>
    public Tensor Loss(Tensor outputs, SequenceBatch batch) =>
        nn.functional.cross_entropy(outputs, batch.ClassTargetTensor(outputs.device).reshape(-1));

    /// <summary>Correct arg-max classes over the batch's examples.</summary>
    public void AddMetrics(MetricTotals totals, Tensor outputs, SequenceBatch batch)
    {
        using var scope = NewDisposeScope();
        var targets = batch.ClassTargetTensor(outputs.device).reshape(-1);
        totals.Add(0, outputs.argmax(-1).eq(targets).sum().item<long>(), batch.Count);
    }

    /// <summary>The token ids of an expression written as text: tokens separated by white space, the digits, the
    /// operators [MIN [MAX [MED [SM and "]"; parentheses (as in LRA's TSV files) are skipped. An
    /// <see cref="ArgumentException"/> names any other token.</summary>
    public static long[] Tokenize(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var tokens = new List<long>();
        var parts = expression.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i];
            if (part is "(" or ")") continue;
            int id = Array.IndexOf(TokenTexts, part, 1);
            if (id < 0)
                throw new ArgumentException(
                    $"expression: expected tokens 0-9, [MIN, [MAX, [MED, [SM, ] or parentheses, got '{part}' (token {i}).",
                    nameof(expression));
            tokens.Add(id);
        }
        return tokens.ToArray();
    }

    /// <summary>The expression of token ids as text, tokens separated by one space (the inverse of
    /// <see cref="Tokenize"/> on text without parentheses). An <see cref="ArgumentException"/> names an id outside
    /// 1..15 (padding included).</summary>
    public static string Detokenize(ReadOnlySpan<long> tokens)
    {
        var text = new StringBuilder(tokens.Length * 2);
        for (int i = 0; i < tokens.Length; i++)
        {
            long id = tokens[i];
            if (id < FirstDigitToken || id > CloseToken)
                throw new ArgumentException(
                    $"tokens: expected ids in [{FirstDigitToken}, {CloseToken}] (digits, operators, ']'), got {id} at position {i}.",
                    nameof(tokens));
            if (i > 0) text.Append(' ');
            text.Append(TokenTexts[id]);
        }
        return text.ToString();
    }

    /// <summary>The digit token of value <paramref name="digit"/> (0..9).</summary>
    public static long DigitToken(int digit) => FirstDigitToken + digit;

    /// <summary>LRA's random trees, written into one reused token list, with their values computed on the way
    /// up. A draw stops as soon as it passes the length limit (such a tree would be drawn again anyway), so a
    /// draw costs at most MaxLength + 1 tokens.</summary>
    private sealed class Generator(Random random, int maxDepth, int maxArguments, int maxLength)
    {
        private static readonly long[] Operators = [MinToken, MaxToken, MedianToken, SumModToken];

        // Argument values per depth: the recursion is at most maxDepth deep, each level needs one buffer.
        private readonly int[][] arguments = Enumerable.Range(0, maxDepth + 1).Select(_ => new int[maxArguments]).ToArray();

        public List<long> Tokens { get; } = new(maxLength + 1);

        /// <summary>A new tree in <see cref="Tokens"/>; its value, or -1 when it grew past the length limit.</summary>
        public int Draw()
        {
            Tokens.Clear();
            return Node(1);
        }

        private int Node(int depth)
        {
            if (Tokens.Count >= maxLength) return -1;  // one more token would pass the limit
            bool isOperator = depth < maxDepth && random.NextDouble() < OperatorProbability;
            if (!isOperator)
            {
                int digit = random.Next(10);
                Tokens.Add(DigitToken(digit));
                return digit;
            }
            int count = random.Next(2, maxArguments + 1);
            long op = Operators[random.Next(Operators.Length)];
            Tokens.Add(op);
            var values = arguments[depth];
            for (int i = 0; i < count; i++)
            {
                int value = Node(depth + 1);
                if (value < 0) return -1;
                values[i] = value;
            }
            if (Tokens.Count >= maxLength) return -1;  // no room for the closing "]"
            Tokens.Add(CloseToken);
            return Apply(op, values.AsSpan(0, count));
        }

        private static int Apply(long op, Span<int> values)
        {
            switch (op)
            {
                case MinToken:
                    return Min(values);
                case MaxToken:
                    return Max(values);
                case SumModToken:
                    int sum = 0;
                    foreach (int v in values) sum += v;
                    return sum % 10;
                default:
                    // The median rounded down (LRA: int(np.median(values))): the middle value, or the floor of the
                    // mean of the two middle values. Sorting in place is fine: the buffer is not read again.
                    values.Sort();
                    int n = values.Length;
                    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
            }
        }

        private static int Min(Span<int> values)
        {
            int m = values[0];
            foreach (int v in values) m = Math.Min(m, v);
            return m;
        }

        private static int Max(Span<int> values)
        {
            int m = values[0];
            foreach (int v in values) m = Math.Max(m, v);
            return m;
        }
    }
}
