using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>Greedy (arg-max) decoding of any <see cref="IStepModel"/> through the step contract.</summary>
public static class GreedyDecoding
{
    /// <summary>
    /// Feeds prompt (Bt, P) int64 token by token (P >= 1), then appends the arg-max token <paramref name="steps"/>
    /// times. Returns only the generated tokens, (Bt, steps) int64.
    /// </summary>
    public static Tensor Generate(IStepModel model, Tensor prompt, int steps)
    {
        ArgumentNullException.ThrowIfNull(model);
        DecodingChecks.Tokens(prompt, 2, model.VocabularySize, nameof(prompt), "(Bt, P)");
        if (prompt.shape[1] < 1)
            throw new ArgumentException(
                $"prompt must hold at least one token per row, got shape ({prompt.shape[0]}, 0).", nameof(prompt));
        ArgumentOutOfRangeException.ThrowIfNegative(steps);

        using var scope = NewDisposeScope();
        IDecodingState state = model.InitialState(prompt.shape[0]);
        Tensor logits = null!;
        for (long t = 0; t < prompt.shape[1]; t++) logits = Advance(model, prompt[.., t], ref state);
        var generated = new List<Tensor>(steps);
        for (int s = 0; s < steps; s++)
        {
            var next = logits.argmax(-1);
            generated.Add(next);
            if (s + 1 < steps) logits = Advance(model, next, ref state);
        }
        state.Dispose();
        var result = steps == 0 ? empty([prompt.shape[0], 0], ScalarType.Int64, prompt.device) : stack(generated, 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Feeds inputs (Bt, L) int64 token by token and returns the arg-max prediction made at each of the last
    /// <paramref name="count"/> positions, (Bt, count) int64: how the tasks score step-mode decoding (their answers
    /// are predicted at the last positions; the inputs there are given, markers or a trigger token).
    /// </summary>
    public static Tensor PredictLast(IStepModel model, Tensor inputs, int count)
    {
        ArgumentNullException.ThrowIfNull(model);
        DecodingChecks.Tokens(inputs, 2, model.VocabularySize, nameof(inputs), "(Bt, L)");
        long length = inputs.shape[1];
        if (count < 1 || count > length)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"count: expected a number of positions in [1, {length}] (the sequence length), got {count}.");

        using var scope = NewDisposeScope();
        IDecodingState state = model.InitialState(inputs.shape[0]);
        var predictions = new List<Tensor>(count);
        for (long t = 0; t < length; t++)
        {
            // Keep the step's temporaries from piling up over long sequences: only the predictions survive.
            using var stepScope = NewDisposeScope();
            var logits = Advance(model, inputs[.., t], ref state);
            if (t >= length - count) predictions.Add(logits.argmax(-1).MoveToOuterDisposeScope());
        }
        state.Dispose();
        return stack(predictions, 1).MoveToOuterDisposeScope();
    }

    /// <summary>One step; disposes the state it replaces (this decoder owns every state it made).</summary>
    private static Tensor Advance(IStepModel model, Tensor tokens, ref IDecodingState state)
    {
        var (logits, next) = model.Step(tokens, state);
        state.Dispose();
        state = next;
        return logits;
    }
}
