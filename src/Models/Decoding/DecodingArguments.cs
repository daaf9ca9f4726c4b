using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>Checks shared by the decoders.</summary>
internal static class DecodingArguments
{
    /// <summary>prompt: (Bt, P) int64 ids in the vocabulary, P >= 1.</summary>
    public static void Prompt(IStepModel model, Tensor prompt)
    {
        ArgumentNullException.ThrowIfNull(model);
        DecodingChecks.Tokens(prompt, 2, model.VocabularySize, nameof(prompt), "(Bt, P)");
        if (prompt.shape[0] < 1 || prompt.shape[1] < 1)
            throw new ArgumentException(
                $"prompt: expected at least one row of at least one token, got shape ({prompt.shape[0]}, {prompt.shape[1]}).",
                nameof(prompt));
    }

    /// <summary>Feeds prompt (Bt, P) through the model; returns the last step's logits (Bt, V) and the state.</summary>
    public static (Tensor Logits, IDecodingState State) FeedPrompt(IStepModel model, Tensor prompt)
    {
        IDecodingState state = model.InitialState(prompt.shape[0]);
        Tensor logits = null!;
        for (long t = 0; t < prompt.shape[1]; t++)
        {
            var (next, nextState) = model.Step(prompt[.., t], state);
            state.Dispose();
            state = nextState;
            logits = next;
        }
        return (logits, state);
    }
}
