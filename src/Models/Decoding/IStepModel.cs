using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>
/// The state of a batch of sequences that a <see cref="IStepModel"/> decodes one token at a time (Mamba's convolution
/// windows and scan states, an RNN's h / c, ...).
/// <para><b>Mutation rule: a state is never changed after it is created.</b> <see cref="IStepModel.Step"/> and
/// <see cref="Select"/> return a new state and leave the one they were given as it was, so a caller may step the same
/// state twice, keep it for a later branch (beam search) or compare it. Every state is owned by whoever received it
/// and holds tensors: dispose it (or let the enclosing TorchSharp dispose scope do so) once it is no longer needed;
/// disposing one state never disposes another.</para>
/// </summary>
public interface IDecodingState : IDisposable
{
    /// <summary>Number of sequences (rows) in the batch.</summary>
    long BatchSize { get; }

    /// <summary>The device every tensor of the state lives on.</summary>
    Device Device { get; }

    /// <summary>
    /// A new state whose row i is row rows[i] of this one: what beam search needs to keep, reorder and repeat
    /// hypotheses. <paramref name="rows"/> is a (R) int64 tensor of indices in [0, BatchSize), any order, repeats
    /// allowed, on any device; the new state has BatchSize R. This state is unchanged.
    /// </summary>
    IDecodingState Select(Tensor rows);
}

/// <summary>
/// A language model that decodes step by step (the step contract): an initial state for a batch, and one step that
/// reads one token per row and returns the logits of the next token with the advanced state. Feeding a sequence
/// through <see cref="Step"/> token by token gives, at every position, the logits of the model's full-sequence forward
/// at that position (a tested guarantee for every model family).
/// </summary>
public interface IStepModel
{
    /// <summary>Token ids are in [0, VocabularySize); logits have VocabularySize entries.</summary>
    int VocabularySize { get; }

    /// <summary>The state before the first token for <paramref name="batch"/> sequences (batch >= 1), on the
    /// model's device and in its dtype: a state anywhere else could not be stepped, so the model decides.</summary>
    IDecodingState InitialState(long batch);

    /// <summary>
    /// One step: tokens (Bt) int64 in [0, VocabularySize) -> logits (Bt, VocabularySize) and the state after these
    /// tokens. <paramref name="state"/> must come from this model (<see cref="InitialState"/>, an earlier Step or a
    /// Select of one), hold Bt rows and live on the tokens' device; it is not changed (see
    /// <see cref="IDecodingState"/>). Runs without autograd.
    /// </summary>
    /// <exception cref="ArgumentException">tokens of the wrong dtype, rank or range; a null state, a state of another
    /// model, of another batch size or on another device.</exception>
    (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state);
}
