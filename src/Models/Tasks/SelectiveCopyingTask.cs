using System.Text.Json.Serialization;

namespace HybridSeq.Models.Tasks;

/// <summary>
/// The selective copying task (Mamba paper, section 4.1.1). The model reads <see cref="SequenceLength"/> tokens:
/// <code>
///   [ region: RegionLength tokens, blank except DataTokenCount data tokens at random positions ]
///   [ DataTokenCount marker tokens ]
/// </code>
/// and at the i-th marker it must output the i-th data token of the region. Loss and accuracy count only those
/// marker positions (the last K). Token ids: 0 blank, 1..DataVocabulary data, DataVocabulary + 1 marker.
/// </summary>
/// <param name="RegionLength">Length of the noisy region holding the data tokens.</param>
/// <param name="DataTokenCount">K, the number of data tokens to copy (and of markers).</param>
/// <param name="DataVocabulary">Number of distinct data tokens.</param>
public sealed record SelectiveCopyingTask(int RegionLength = 56, int DataTokenCount = 8, int DataVocabulary = 8)
    : ISequenceTask
{
    public const string TaskName = "selective-copying";
    public const long BlankToken = 0;

    [JsonIgnore]
    public string Name => TaskName;

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

    /// <summary>The training length only: the task is about selection, not length extrapolation.</summary>
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
        for (int e = 0; e < count; e++)
        {
            var inputs = new long[sequenceLength];  // all BlankToken
            // Partial Fisher-Yates: the first K entries become K distinct random region positions.
            for (int i = 0; i < DataTokenCount; i++)
            {
                int j = random.Next(i, regionLength);
                (positions[i], positions[j]) = (positions[j], positions[i]);
            }
            var chosen = positions.AsSpan(0, DataTokenCount).ToArray();
            Array.Sort(chosen);
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
