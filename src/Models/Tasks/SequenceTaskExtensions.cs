using HybridSeq.Models.Decoding;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Tasks;

/// <summary>What every <see cref="ISequenceTask"/> computes the same way, from its answers being predicted at the
/// last K positions: batch tensors, answer logits, the loss, token accuracy and step-mode decoding.</summary>
public static class SequenceTaskExtensions
{
    /// <summary>Batch tensors on <paramref name="device"/>: inputs (Bt, L) int64 and answers (Bt, K) int64. Every
    /// example must have the length of the first and K = task.AnswerLength answers.</summary>
    public static (Tensor Inputs, Tensor Answers) ToTensors(this ISequenceTask task,
        IReadOnlyList<TaskExample> examples, Device device)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
            throw new ArgumentException("examples: expected at least one example, got none.", nameof(examples));
        int batch = examples.Count, length = examples[0].Inputs.Length, answerLength = task.AnswerLength;
        var inputs = new long[batch * length];
        var answers = new long[batch * answerLength];
        for (int e = 0; e < batch; e++)
        {
            if (examples[e].Inputs.Length != length || examples[e].Answer.Length != answerLength)
                throw new ArgumentException(
                    $"examples[{e}] must have {length} input and {answerLength} answer tokens, got {examples[e].Inputs.Length} and {examples[e].Answer.Length}.",
                    nameof(examples));
            examples[e].Inputs.CopyTo(inputs, e * length);
            examples[e].Answer.CopyTo(answers, e * answerLength);
        }
        return (tensor(inputs, [batch, length], ScalarType.Int64).to(device),
                tensor(answers, [batch, answerLength], ScalarType.Int64).to(device));
    }

    /// <summary>The logits that predict the answers: (Bt, L, V) -> (Bt, K, V), the last K positions.</summary>
    public static Tensor AnswerLogits(this ISequenceTask task, Tensor logits)
    {
        long length = logits.shape[1];
        if (logits.dim() != 3 || length < task.AnswerLength)
            throw new ArgumentException(
                $"logits: expected (Bt, L, V) with L >= K = {task.AnswerLength}, got ({string.Join(", ", logits.shape)}).",
                nameof(logits));
        return logits.narrow(1, length - task.AnswerLength, task.AnswerLength);
    }

    /// <summary>Mean cross-entropy of the answers: logits (Bt, L, V) of the full forward, answers (Bt, K).</summary>
    public static Tensor AnswerLoss(this ISequenceTask task, Tensor logits, Tensor answers)
    {
        var answerLogits = task.AnswerLogits(logits);
        return nn.functional.cross_entropy(answerLogits.reshape(-1, answerLogits.shape[^1]), answers.reshape(-1));
    }

    /// <summary>Step-mode greedy decoding of the answers: feeds inputs (Bt, L) token by token through the step
    /// contract and returns the arg-max at the last K positions, (Bt, K) int64.</summary>
    public static Tensor DecodeAnswers(this ISequenceTask task, IStepModel model, Tensor inputs) =>
        GreedyDecoding.PredictLast(model, inputs, task.AnswerLength);
}

/// <summary>The metrics of the tasks.</summary>
public static class TaskMetrics
{
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
