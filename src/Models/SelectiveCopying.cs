using static TorchSharp.torch;

namespace HybridSeq.Models;

/// <summary>One selective-copying example: the tokens the model reads and the tokens it must produce.</summary>
/// <param name="Inputs">(SequenceLength) tokens: the noisy region, then DataTokenCount markers.</param>
/// <param name="Answer">(DataTokenCount) data tokens of the region, in order.</param>
public sealed record SelectiveCopyingExample(long[] Inputs, long[] Answer);

/// <summary>
/// The selective copying task (Mamba paper, section 4.1.1). The model reads <see cref="SequenceLength"/> tokens:
/// <code>
///   [ region: RegionLength tokens, blank except DataTokenCount data tokens at random positions ]
///   [ DataTokenCount marker tokens ]
/// </code>
/// and at the i-th marker it must output the i-th data token of the region. Loss and accuracy count only those
/// marker positions. Token ids: 0 blank, 1..DataVocabulary data, DataVocabulary + 1 marker.
/// </summary>
/// <param name="RegionLength">Length of the noisy region holding the data tokens.</param>
/// <param name="DataTokenCount">K, the number of data tokens to copy (and of markers).</param>
/// <param name="DataVocabulary">Number of distinct data tokens.</param>
public sealed record SelectiveCopyingTask(int RegionLength = 56, int DataTokenCount = 8, int DataVocabulary = 8)
{
    public const long BlankToken = 0;

    public long MarkerToken => DataVocabulary + 1;

    /// <summary>Token ids in use: blank, the data tokens and the marker.</summary>
    public int VocabularySize => DataVocabulary + 2;

    /// <summary>Tokens the model reads per example: region plus markers.</summary>
    public int SequenceLength => RegionLength + DataTokenCount;

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
    /// seed always gives the same examples.</summary>
    public SelectiveCopyingExample[] SampleExamples(int count, int seed)
    {
        Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var random = new Random(seed);
        var examples = new SelectiveCopyingExample[count];
        var positions = Enumerable.Range(0, RegionLength).ToArray();
        for (int e = 0; e < count; e++)
        {
            var inputs = new long[SequenceLength];  // all BlankToken
            // Partial Fisher-Yates: the first K entries become K distinct random region positions.
            for (int i = 0; i < DataTokenCount; i++)
            {
                int j = random.Next(i, RegionLength);
                (positions[i], positions[j]) = (positions[j], positions[i]);
            }
            var chosen = positions.AsSpan(0, DataTokenCount).ToArray();
            Array.Sort(chosen);
            var answer = new long[DataTokenCount];
            for (int i = 0; i < DataTokenCount; i++)
            {
                answer[i] = random.Next(1, DataVocabulary + 1);
                inputs[chosen[i]] = answer[i];
                inputs[RegionLength + i] = MarkerToken;
            }
            examples[e] = new SelectiveCopyingExample(inputs, answer);
        }
        return examples;
    }

    /// <summary>Batch tensors on <paramref name="device"/>: inputs (Bt, SequenceLength) int64 and answers
    /// (Bt, K) int64.</summary>
    public (Tensor Inputs, Tensor Answers) ToTensors(IReadOnlyList<SelectiveCopyingExample> examples, Device device)
    {
        int batch = examples.Count;
        var inputs = new long[batch * SequenceLength];
        var answers = new long[batch * DataTokenCount];
        for (int e = 0; e < batch; e++)
        {
            if (examples[e].Inputs.Length != SequenceLength || examples[e].Answer.Length != DataTokenCount)
                throw new ArgumentException(
                    $"examples[{e}] must have {SequenceLength} input and {DataTokenCount} answer tokens, got {examples[e].Inputs.Length} and {examples[e].Answer.Length}.",
                    nameof(examples));
            examples[e].Inputs.CopyTo(inputs, e * SequenceLength);
            examples[e].Answer.CopyTo(answers, e * DataTokenCount);
        }
        return (tensor(inputs, [batch, SequenceLength], ScalarType.Int64).to(device),
                tensor(answers, [batch, DataTokenCount], ScalarType.Int64).to(device));
    }

    /// <summary>The logits at the marker positions, which predict the answer: (Bt, SequenceLength, V) -> (Bt, K, V).</summary>
    public Tensor AnswerLogits(Tensor logits) => logits.narrow(1, RegionLength, DataTokenCount);

    /// <summary>
    /// Step-mode greedy decoding: feeds inputs (Bt, SequenceLength) token by token through
    /// <see cref="MambaLanguageModel.Step"/> and returns the arg-max at each marker position, (Bt, K) int64.
    /// </summary>
    public Tensor DecodeAnswers(MambaLanguageModel model, Tensor inputs)
    {
        var parameter = model.parameters().First();
        var caches = model.AllocateCaches(inputs.shape[0], parameter.device, parameter.dtype);
        try
        {
            using var scope = NewDisposeScope();
            var answers = new List<Tensor>(DataTokenCount);
            for (int t = 0; t < SequenceLength; t++)
            {
                var logits = model.Step(inputs[.., t], caches);
                if (t >= RegionLength) answers.Add(logits.argmax(-1));
            }
            return stack(answers, 1).MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var cache in caches) cache.Dispose();
        }
    }

    /// <summary>
    /// Token accuracy counts: how many predicted tokens equal the expected ones, position by position.
    /// predicted and expected are (Bt, K) integer tensors of the same shape.
    /// </summary>
    public static (long Correct, long Total) CountCorrect(Tensor predicted, Tensor expected)
    {
        if (!predicted.shape.SequenceEqual(expected.shape))
            throw new ArgumentException(
                $"predicted must have the shape of expected ({string.Join(", ", expected.shape)}), got ({string.Join(", ", predicted.shape)}).",
                nameof(predicted));
        using var equal = predicted.eq(expected);
        using var correct = equal.sum();
        return (correct.item<long>(), expected.numel());
    }
}
