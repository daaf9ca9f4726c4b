using System.Text.Json.Serialization;

namespace HybridSeq.Models.Tasks;

/// <summary>
/// The induction heads task (Mamba paper, section 4.1.2): an associative recall. A sequence of random tokens holds
/// one trigger token somewhere, followed by the answer token; the sequence ends with the trigger again, and the model
/// must predict the token that followed the trigger the first time. Loss and accuracy count only the last position.
/// Trained at <see cref="SequenceLength"/> and evaluated at longer lengths too (4x, 16x, ... up to
/// <see cref="MaxEvaluationLength"/>): a model that learned the mechanism, not the length, extrapolates.
/// Token ids: 0 .. VocabularySize - 2 random and answer tokens, VocabularySize - 1 the trigger.
/// </summary>
/// <param name="SequenceLength">Training length L (at least 3: trigger, answer, final trigger).</param>
/// <param name="VocabularySize">Token ids in use, the trigger included (the paper: 16).</param>
/// <param name="MaxEvaluationLength">Evaluation lengths are L, 4L, 16L, ... up to this length.</param>
public sealed record InductionHeadsTask(int SequenceLength = 64, int VocabularySize = 16, int MaxEvaluationLength = 1024)
    : ISequenceTask
{
    public const string TaskName = "induction-heads";

    [JsonIgnore]
    public string Name => TaskName;

    /// <summary>The trigger token: the last id of the vocabulary, never drawn as a random token.</summary>
    [JsonIgnore]
    public long TriggerToken => VocabularySize - 1;

    [JsonIgnore]
    public int AnswerLength => 1;

    /// <summary>L, 4L, 16L, ... while at most <see cref="MaxEvaluationLength"/>.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> EvaluationLengths
    {
        get
        {
            var lengths = new List<int>();
            for (long length = SequenceLength; length <= Math.Max(SequenceLength, MaxEvaluationLength); length *= 4)
                lengths.Add((int)length);
            return lengths;
        }
    }

    public void Validate()
    {
        if (SequenceLength < 3)
            throw new ArgumentOutOfRangeException(nameof(SequenceLength), SequenceLength,
                $"SequenceLength must be at least 3 (trigger, answer, final trigger), got {SequenceLength}.");
        if (VocabularySize < 3)
            throw new ArgumentOutOfRangeException(nameof(VocabularySize), VocabularySize,
                $"VocabularySize must be at least 3 (the trigger and two other tokens), got {VocabularySize}.");
        if (MaxEvaluationLength < SequenceLength)
            throw new ArgumentOutOfRangeException(nameof(MaxEvaluationLength), MaxEvaluationLength,
                $"MaxEvaluationLength must be at least SequenceLength ({SequenceLength}), got {MaxEvaluationLength}.");
    }

    public TaskExample[] SampleExamples(int count, int seed, int? length = null)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int sequenceLength = length ?? SequenceLength;
        if (sequenceLength < 3)
            throw new ArgumentOutOfRangeException(nameof(length), sequenceLength,
                $"length must be at least 3 (trigger, answer, final trigger), got {sequenceLength}.");
        int ordinary = VocabularySize - 1;   // ids 0 .. VocabularySize - 2
        var random = new Random(seed);
        var examples = new TaskExample[count];
        for (int e = 0; e < count; e++)
        {
            var inputs = new long[sequenceLength];
            for (int t = 0; t < sequenceLength; t++) inputs[t] = random.Next(ordinary);
            // The first trigger at p in [0, L - 3], so that its answer at p + 1 comes before the final trigger.
            int position = random.Next(sequenceLength - 2);
            long answer = random.Next(ordinary);
            inputs[position] = TriggerToken;
            inputs[position + 1] = answer;
            inputs[sequenceLength - 1] = TriggerToken;
            examples[e] = new TaskExample(inputs, [answer]);
        }
        return examples;
    }
}
