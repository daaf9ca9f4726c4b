using HybridSeq.Models.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Training;

/// <summary>
/// Held-out evaluation of a model on a task: by the full forward and by step-mode greedy decoding (the step
/// contract), at the training length and at the task's longer evaluation lengths. The held-out sets are a pure
/// function of the options' seed (a stream apart from the training batches), so the trainer and a later `eval`
/// of its checkpoint score the same examples. Needs no optimizer.
/// </summary>
public sealed class TaskEvaluator(LanguageModel model, ISequenceTask task, TrainingOptions options, Device device)
{
    private readonly Dictionary<int, TaskExample[]> heldOut = [];

    /// <summary>Tokens per full-forward evaluation batch: bounds the memory of long sequences.</summary>
    private const int TokensPerBatch = 16384;

    /// <summary>The held-out examples at <paramref name="length"/>: EvalExamples at the training length, fewer at
    /// longer lengths (as many tokens, at least 128 examples).</summary>
    public TaskExample[] HeldOutExamples(int length)
    {
        if (!heldOut.TryGetValue(length, out var examples))
        {
            bool trainingLength = length == task.SequenceLength;
            int count = trainingLength
                ? options.EvalExamples
                : Math.Min(options.EvalExamples,
                    Math.Max(128, (int)((long)options.EvalExamples * task.SequenceLength / length)));
            // The training length keeps index 0 of the held-out stream; other lengths take their length as index.
            int seed = Trainer.DeriveSeed(options.Seed, stream: 1, index: trainingLength ? 0 : length);
            examples = task.SampleExamples(count, seed, length);
            heldOut[length] = examples;
        }
        return examples;
    }

    /// <summary>Held-out token accuracy in [0, 1] at <paramref name="length"/> (null: the training length): the
    /// arg-max at every answer position of a full forward pass, compared with the answer.</summary>
    public double FullForwardAccuracy(int? length = null)
    {
        int sequenceLength = length ?? task.SequenceLength;
        using var noGrad = no_grad();
        model.eval();
        long correct = 0, total = 0;
        int batch = Math.Max(1, Math.Min(Math.Max(options.BatchSize, 64), TokensPerBatch / sequenceLength));
        foreach (var chunk in HeldOutExamples(sequenceLength).Chunk(batch))
        {
            using var scope = NewDisposeScope();
            var (inputs, answers) = task.ToTensors(chunk, device);
            var predicted = task.AnswerLogits(model.forward(inputs)).argmax(-1);
            var (c, t) = TaskMetrics.CountCorrect(predicted, answers);
            correct += c;
            total += t;
        }
        return (double)correct / total;
    }

    /// <summary>Held-out token accuracy in [0, 1] of step-mode greedy decoding at <paramref name="length"/> (null:
    /// the training length): the recurrent path used for generation, which must agree with the full forward.</summary>
    public double StepModeAccuracy(int? length = null)
    {
        int sequenceLength = length ?? task.SequenceLength;
        model.eval();
        long correct = 0, total = 0;
        foreach (var chunk in HeldOutExamples(sequenceLength).Chunk(256))
        {
            using var scope = NewDisposeScope();
            var (inputs, answers) = task.ToTensors(chunk, device);
            var (c, t) = TaskMetrics.CountCorrect(task.DecodeAnswers(model, inputs), answers);
            correct += c;
            total += t;
        }
        return (double)correct / total;
    }

    /// <summary>Both accuracies at every evaluation length of the task, the training length first.</summary>
    public IReadOnlyList<LengthAccuracy> AllLengths() =>
        task.EvaluationLengths
            .Select(length => new LengthAccuracy(length, HeldOutExamples(length).Length, FullForwardAccuracy(length),
                StepModeAccuracy(length)))
            .ToList();
}
