using System.Text.Json.Serialization;

namespace HybridSeq.Models.Tasks;

/// <summary>
/// The copying tasks of the Mamba paper (section 3.1, Figure 2): the model reads <see cref="SequenceLength"/> tokens
/// <code>
///   [ region: RegionLength tokens, blank except DataTokenCount data tokens ]
///   [ DataTokenCount marker tokens ]
/// </code>
/// and at the i-th marker it must output the i-th data token of the region. Loss and accuracy count only those
/// marker positions (the last K). Token ids: 0 blank, 1..DataVocabulary data, DataVocabulary + 1 marker. The two
/// tasks differ only in where the data tokens sit (<see cref="ChooseDataPositions"/>): at random positions
/// (<see cref="SelectiveCopyingTask"/>: the model must select by content) or at the first K positions
/// (<see cref="VanillaCopyingTask"/>: a constant lag of RegionLength, which a time-invariant convolution solves), so
/// the same sizes compare the two directly.
/// </summary>
/// <param name="RegionLength">Length of the region holding the data tokens.</param>
/// <param name="DataTokenCount">K, the number of data tokens to copy (and of markers).</param>
/// <param name="DataVocabulary">Number of distinct data tokens.</param>
public abstract record CopyingTask(int RegionLength, int DataTokenCount, int DataVocabulary) : ISequenceTask
{
    public const long BlankToken = 0;

    [JsonIgnore]
    public abstract string Name { get; }

    [JsonIgnore]
    public long MarkerToken => DataVocabulary + 1;

    /// <summary>Token ids in use: blank, the data tokens and the marker.</summary>
    [JsonIgnore]
    public int VocabularySize => DataVocabulary + 2;

    /// <summary>Tokens the model reads per example: region plus markers.</summary>
    [JsonIgnore]
    public int SequenceLength => RegionLength + DataTokenCount;

    [JsonIgnore]
    public int AnswerLength => DataTokenCount;

    /// <summary>The training length only: the tasks are about selection and memory, not length extrapolation.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> EvaluationLengths => [SequenceLength];

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        if (DataTokenCount <= 0)
            throw new ArgumentOutOfRangeException(nameof(DataTokenCount), DataTokenCount,
                $"DataTokenCount must be positive, got {DataTokenCount}.");
        if (RegionLength < DataTokenCount)
            throw new ArgumentOutOfRangeException(nameof(RegionLength), RegionLength,
                $"RegionLength must be at least DataTokenCount ({DataTokenCount}) to hold every data token, got {RegionLength}.");
        if (DataVocabulary <= 0)
            throw new ArgumentOutOfRangeException(nameof(DataVocabulary), DataVocabulary,
                $"DataVocabulary must be positive, got {DataVocabulary}.");
    }

    /// <summary>Fills <paramref name="chosen"/> (K entries) with the region positions of the data tokens in
    /// ascending order, drawing from <paramref name="random"/> if the layout is random; <paramref name="scratch"/>
    /// holds the region positions 0..regionLength-1 in some order, kept between examples.</summary>
    protected abstract void ChooseDataPositions(Random random, int regionLength, int[] scratch, Span<int> chosen);

    /// <summary>Draws <paramref name="count"/> examples deterministically from <paramref name="seed"/>: the same
    /// seed always gives the same examples. Another <paramref name="length"/> changes the region to length - K.</summary>
    public TaskExample[] SampleExamples(int count, int seed, int? length = null)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int regionLength = RegionLength;
        if (length is int requested)
        {
            if (requested < 2 * DataTokenCount)
                throw new ArgumentOutOfRangeException(nameof(length), requested,
                    $"length must be at least 2 x DataTokenCount = {2 * DataTokenCount} (a region of K tokens, then K markers), got {requested}.");
            regionLength = requested - DataTokenCount;
        }
        int sequenceLength = regionLength + DataTokenCount;
        var random = new Random(seed);
        var examples = new TaskExample[count];
        var positions = Enumerable.Range(0, regionLength).ToArray();
        var chosen = new int[DataTokenCount];
        for (int e = 0; e < count; e++)
        {
            var inputs = new long[sequenceLength];  // all BlankToken
            ChooseDataPositions(random, regionLength, positions, chosen);
            var answer = new long[DataTokenCount];
            for (int i = 0; i < DataTokenCount; i++)
            {
                answer[i] = random.Next(1, DataVocabulary + 1);
                inputs[chosen[i]] = answer[i];
                inputs[regionLength + i] = MarkerToken;
            }
            examples[e] = new TaskExample(inputs, answer);
        }
        return examples;
    }
}

/// <summary>
/// The selective copying task (Mamba paper, section 4.1.1; Figure 2, right): the data tokens sit at K distinct random
/// positions of a noisy region, so the lag between a data token and its marker varies from example to example and
/// the model must select by content. See <see cref="CopyingTask"/> for the layout and token ids.
/// </summary>
public sealed record SelectiveCopyingTask(int RegionLength = 56, int DataTokenCount = 8, int DataVocabulary = 8)
    : CopyingTask(RegionLength, DataTokenCount, DataVocabulary)
{
    public const string TaskName = "selective-copying";

    [JsonIgnore]
    public override string Name => TaskName;

    protected override void ChooseDataPositions(Random random, int regionLength, int[] scratch, Span<int> chosen)
    {
        // Partial Fisher-Yates: the first K entries become K distinct random region positions.
        for (int i = 0; i < chosen.Length; i++)
        {
            int j = random.Next(i, regionLength);
            (scratch[i], scratch[j]) = (scratch[j], scratch[i]);
        }
        scratch.AsSpan(0, chosen.Length).CopyTo(chosen);
        chosen.Sort();
    }
}

/// <summary>
/// The vanilla copying task (Mamba paper, section 3.1; Figure 2, left): the same sequences as
/// <see cref="SelectiveCopyingTask"/> of the same sizes, but the data tokens are the first K tokens of the region,
/// contiguous and always at the same positions: the i-th marker is always RegionLength tokens after the i-th data
/// token. A linear time-invariant model (a convolution kernel with a spike at that lag) solves it; the selective
/// variant is what separates LTI models from selective ones.
/// </summary>
public sealed record VanillaCopyingTask(int RegionLength = 56, int DataTokenCount = 8, int DataVocabulary = 8)
    : CopyingTask(RegionLength, DataTokenCount, DataVocabulary)
{
    public const string TaskName = "vanilla-copying";

    [JsonIgnore]
    public override string Name => TaskName;

    protected override void ChooseDataPositions(Random random, int regionLength, int[] scratch, Span<int> chosen)
    {
        for (int i = 0; i < chosen.Length; i++) chosen[i] = i;
    }
}
