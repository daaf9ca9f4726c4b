using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>
/// The argument checks of the step contract that the native kernels cannot make: a token id outside the vocabulary
/// (an out-of-range embedding index is undefined behaviour on CUDA), a state of the wrong model, batch size or
/// device, and a null state. Each failure is an <see cref="ArgumentException"/> naming the argument.
/// </summary>
public static class DecodingChecks
{
    /// <summary>Checks that <paramref name="tokens"/> is an int64 tensor of rank <paramref name="rank"/> whose ids
    /// are in [0, <paramref name="vocabularySize"/>). Reads the minimum and maximum back (one device sync).</summary>
    public static void Tokens(Tensor tokens, int rank, int vocabularySize, string argument, string shape)
    {
        if (tokens is null)
            throw new ArgumentNullException(argument, $"{argument}: expected int64 token ids of shape {shape}, got null.");
        if (tokens.dtype != ScalarType.Int64 || tokens.dim() != rank)
            throw new ArgumentException(
                $"{argument} must be int64 token ids of shape {shape}, got {tokens.dtype} of shape ({string.Join(", ", tokens.shape)}).",
                argument);
        if (tokens.numel() == 0) return;
        var (low, high) = Range(tokens);
        if (low < 0 || high >= vocabularySize)
            throw new ArgumentException(
                $"{argument}: expected token ids in [0, {vocabularySize}) (the vocabulary), got ids in [{low}, {high}].",
                argument);
    }

    /// <summary>Checks that <paramref name="state"/> is a <typeparamref name="TState"/> (a state of the calling
    /// model's kind) holding <paramref name="batch"/> rows on <paramref name="device"/>; returns it typed.</summary>
    public static TState State<TState>(IDecodingState? state, long batch, Device device, string modelName,
        string argument = "state") where TState : class, IDecodingState
    {
        if (state is null)
            throw new ArgumentNullException(argument,
                $"{argument}: expected the decoding state of a {modelName} (from InitialState or an earlier Step), got null.");
        if (state is not TState typed)
            throw new ArgumentException(
                $"{argument}: expected a {typeof(TState).Name} (the decoding state of a {modelName}), got a {state.GetType().Name}.",
                argument);
        if (state.BatchSize != batch)
            throw new ArgumentException(
                $"{argument}: expected a state of batch size {batch} (one row per token), got {state.BatchSize}.",
                argument);
        if (!SameDevice(state.Device, device))
            throw new ArgumentException(
                $"{argument}: expected a state on the tokens' device {device}, got one on {state.Device}.", argument);
        return typed;
    }

    /// <summary>The smallest and largest value of a non-empty int64 tensor, read back in one transfer.</summary>
    private static (long Low, long High) Range(Tensor values)
    {
        using var scope = NewDisposeScope();
        long[] range = stack([values.min(), values.max()]).cpu().data<long>().ToArray();
        return (range[0], range[1]);
    }

    /// <summary>Same device type and index; an unspecified index (-1) counts as device 0.</summary>
    public static bool SameDevice(Device a, Device b) =>
        a.type == b.type && Math.Max(a.index, 0) == Math.Max(b.index, 0);

    /// <summary>Checks the row indices of <see cref="IDecodingState.Select"/>: (R) int64, each in [0, batch);
    /// returns them on <paramref name="device"/>.</summary>
    public static Tensor Rows(Tensor rows, long batch, Device device, string argument = "rows")
    {
        if (rows is null)
            throw new ArgumentNullException(argument, $"{argument}: expected (R) int64 row indices, got null.");
        if (rows.dtype != ScalarType.Int64 || rows.dim() != 1)
            throw new ArgumentException(
                $"{argument}: expected (R) int64 row indices, got {rows.dtype} of shape ({string.Join(", ", rows.shape)}).",
                argument);
        if (rows.numel() == 0)
            throw new ArgumentException($"{argument}: expected at least one row index, got none.", argument);
        var (low, high) = Range(rows);
        if (low < 0 || high >= batch)
            throw new ArgumentException(
                $"{argument}: expected row indices in [0, {batch}) (the state's batch size), got indices in [{low}, {high}].",
                argument);
        return SameDevice(rows.device, device) ? rows : rows.to(device);
    }
}
