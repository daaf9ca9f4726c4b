using HybridSeq.Managed;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Recurrent;
using static TorchSharp.torch;

namespace HybridSeq.Models.Pointer;

/// <summary>
/// The decoder of a <see cref="PointerNetwork"/> after it encoded a batch of B sets of (up to) N elements, under the
/// step contract: token ids and logits are output positions (0 the end / go, j the input element j - 1), so
/// VocabularySize = N + 1. Each state row carries its set's memory (keys, decoder inputs, valid positions) with the
/// decoder's (h, c), so <see cref="IDecodingState.Select"/> can keep, reorder and repeat hypotheses freely, and
/// greedy and beam search decode it like any language model. Positions beyond a row's length have logit -inf.
/// Owns the encoder's tensors (dispose it when done).
/// </summary>
public sealed class PointerStepModel : IStepModel, IDisposable
{
    private readonly PointerNetwork network;
    private readonly PointerDecodingState initial;

    internal PointerStepModel(PointerNetwork network, EncodedSets encoded)
    {
        this.network = network;
        initial = new PointerDecodingState(this, new PointerMemory(encoded.Keys, encoded.Inputs, encoded.Valid),
            encoded.DecoderState);
        Sets = encoded.Keys.shape[0];
        VocabularySize = checked((int)encoded.Keys.shape[1]);
    }

    /// <summary>B: the number of sets encoded.</summary>
    public long Sets { get; }

    /// <summary>N + 1: the end position and one per input element.</summary>
    public int VocabularySize { get; }

    /// <summary>Valid output positions per set: (B, N + 1) bool (the end and the row's elements).</summary>
    public Tensor ValidPositions => initial.Valid;

    /// <summary>
    /// The decoder's first state for <paramref name="batch"/> rows: batch must be a multiple k of the number of
    /// encoded sets B, and row r then decodes set r / k (each set's k hypotheses are consecutive, the layout of beam
    /// search). The first token to feed is <see cref="PointerNetwork.EndPosition"/> (go).
    /// </summary>
    public IDecodingState InitialState(long batch)
    {
        if (batch < 1 || batch % Sets != 0)
            throw new ArgumentOutOfRangeException(nameof(batch), batch,
                $"batch: expected a positive multiple of the {Sets} encoded sets (row r decodes set r / k), got {batch}.");
        long k = batch / Sets;
        using var rows = arange(batch, ScalarType.Int64).div(k, rounding_mode: RoundingMode.floor);
        return initial.Select(rows);
    }

    public (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state)
    {
        DecodingChecks.Tokens(tokens, 1, VocabularySize, nameof(tokens), "(Bt)");
        var current = DecodingChecks.State<PointerDecodingState>(state, tokens.shape[0], tokens.device,
            nameof(PointerStepModel), nameof(state));
        if (!ReferenceEquals(current.Owner, this))
            throw new ArgumentException(
                "state: expected a state of this step model (from its InitialState or Step), got one of another encoded batch.",
                nameof(state));
        using var noGrad = no_grad();
        var (logits, next) = network.DecodeStep(tokens, current);
        return (logits, new PointerDecodingState(this, current.Memory, next));
    }

    public void Dispose() => initial.Dispose();
}

/// <summary>A set's read-only memory rows, shared by the states of one hypothesis line: the tensors are disposed
/// when the last state holding them is.</summary>
internal sealed class PointerMemory
{
    private int holders;

    public PointerMemory(Tensor keys, Tensor inputs, Tensor valid)
    {
        Keys = keys.DetachFromDisposeScope();
        Inputs = inputs.DetachFromDisposeScope();
        Valid = valid.DetachFromDisposeScope();
    }

    public Tensor Keys { get; }
    public Tensor Inputs { get; }
    public Tensor Valid { get; }

    public PointerMemory Acquire()
    {
        Interlocked.Increment(ref holders);
        return this;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref holders) != 0) return;
        Keys.Dispose();
        Inputs.Dispose();
        Valid.Dispose();
    }
}

/// <summary>
/// A decoding state of a <see cref="PointerStepModel"/>: per row its set's keys (R, N + 1, A), decoder inputs
/// (R, N + 1, H) and valid positions (R, N + 1), and the decoder LSTM's (h, c). Never changed after it is created.
/// A Step's state shares the read-only memory rows of the state it came from (reference-counted: they live until
/// the last state holding them is disposed) and owns its (h, c); a Select makes new memory rows.
/// </summary>
public sealed class PointerDecodingState : IDecodingState
{
    private readonly PointerMemory memory;
    private bool disposed;

    internal PointerDecodingState(PointerStepModel owner, PointerMemory memory, RecurrentState decoder)
    {
        Owner = owner;
        this.memory = memory.Acquire();
        foreach (var t in decoder.PerLayer) t.DetachFromDisposeScope();
        Decoder = decoder;
    }

    internal PointerStepModel Owner { get; }
    internal PointerMemory Memory => memory;
    internal Tensor Keys => memory.Keys;
    internal Tensor Inputs => memory.Inputs;

    /// <summary>(R, N + 1) bool: the positions row r may point at (the end and its set's elements).</summary>
    public Tensor Valid => memory.Valid;

    internal RecurrentState Decoder { get; }

    public long BatchSize => Decoder.Batch;

    public Device Device => Decoder.PerLayer[0].device;

    public IDecodingState Select(Tensor rows)
    {
        var indices = DecodingChecks.Rows(rows, BatchSize, Device);
        using var scope = NewDisposeScope();
        var decoder = new RecurrentState(RnnCell.Lstm, 1, 1, [Decoder.PerLayer[0].index_select(1, indices)]);
        var selected = new PointerMemory(Keys.index_select(0, indices), Inputs.index_select(0, indices),
            Valid.index_select(0, indices));
        return new PointerDecodingState(Owner, selected, decoder);
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var t in Decoder.PerLayer) t.Dispose();
        memory.Release();
    }
}
