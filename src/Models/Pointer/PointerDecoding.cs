using HybridSeq.Models.Decoding;
using HybridSeq.Models.Tasks.Pointer;
using static TorchSharp.torch;

namespace HybridSeq.Models.Pointer;

/// <summary>
/// Decoding a <see cref="PointerNetwork"/> on a pointer task: greedy through the step contract, optionally under the
/// task's constraint (<see cref="IPointerConstraint"/>), and the constraint as a mask over output positions (what a
/// beam search's per-hypothesis callback returns).
/// </summary>
public static class PointerDecoding
{
    /// <summary>
    /// The allowed output positions of each row, (R, V) bool: position 0 (the end) and j = element j - 1, from row r's
    /// constraint and its prefix of output positions (the go token excluded; an ended row allows only the end). A
    /// row whose constraint allows nothing may end, so no row is ever left without a choice.
    /// </summary>
    public static Tensor AllowedMask(IReadOnlyList<IPointerConstraint> constraints,
        IReadOnlyList<IReadOnlyList<long>> prefixes, int vocabularySize, Device device)
    {
        ArgumentNullException.ThrowIfNull(constraints);
        ArgumentNullException.ThrowIfNull(prefixes);
        if (constraints.Count != prefixes.Count)
            throw new ArgumentException(
                $"prefixes: expected one per constraint ({constraints.Count}), got {prefixes.Count}.", nameof(prefixes));
        var mask = new bool[prefixes.Count * vocabularySize];
        for (int r = 0; r < prefixes.Count; r++)
        {
            var prefix = prefixes[r];
            int offset = r * vocabularySize;
            if (prefix.Contains(PointerNetwork.EndPosition))
            {
                mask[offset] = true;
                continue;
            }
            var elements = prefix.Select(p => checked((int)p - 1)).ToArray();
            bool any = false;
            for (int j = 1; j < vocabularySize; j++)
                any |= mask[offset + j] = constraints[r].AllowsElement(elements, j - 1);
            mask[offset] = !any || constraints[r].AllowsEnd(elements);
        }
        return tensor(mask, [prefixes.Count, vocabularySize]).to(device);
    }

    /// <summary>
    /// Greedy decoding of <paramref name="examples"/>: encodes them as one batch, feeds go, then the arg-max
    /// position (among the allowed ones when <paramref name="constrained"/>) until every row has ended or
    /// MaxTargetLength + 1 steps. Returns element indices per example (the end removed).
    /// </summary>
    public static int[][] Greedy(PointerNetwork network, IPointerTask task, IReadOnlyList<PointerExample> examples,
        bool constrained)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(examples);
        network.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = network.ParameterDevice;
        var (inputs, lengths, _) = PointerTasks.ToTensors(examples, task.InputFeatures, device, network.ParameterDtype);
        using var model = network.EncodeForDecoding(inputs, lengths);
        var constraints = examples.Select(task.Constraint).ToArray();
        int batch = examples.Count, maxSteps = examples.Max(e => task.MaxTargetLength(e.Size)) + 1;
        var prefixes = Enumerable.Range(0, batch).Select(_ => new List<long>()).ToArray();
        IDecodingState state = model.InitialState(batch);
        var tokens = zeros(batch, ScalarType.Int64, device);
        for (int step = 0; step < maxSteps && prefixes.Any(p => !p.Contains(PointerNetwork.EndPosition)); step++)
        {
            using var stepScope = NewDisposeScope();
            var (logits, next) = model.Step(tokens, state);
            state.Dispose();
            state = next;
            if (constrained)
                logits = logits.masked_fill(AllowedMask(constraints, prefixes, model.VocabularySize, device).logical_not(),
                    double.NegativeInfinity);
            var chosen = logits.argmax(-1).cpu().data<long>().ToArray();
            for (int r = 0; r < batch; r++)
                if (!prefixes[r].Contains(PointerNetwork.EndPosition)) prefixes[r].Add(chosen[r]);
            tokens = tensor(chosen).to(device).MoveToOuterDisposeScope();
        }
        state.Dispose();
        return prefixes.Select(p => p.TakeWhile(t => t != PointerNetwork.EndPosition).Select(t => (int)t - 1).ToArray())
            .ToArray();
    }

    /// <summary>
    /// Beam search (<see cref="BeamSearch"/>) of <paramref name="examples"/> with <paramref name="beamSize"/> beams
    /// per set, the end position as end token, and, when <paramref name="constrained"/>, the task's constraint as the
    /// per-hypothesis callback. Returns the best hypothesis of each example as element indices (the end removed).
    /// </summary>
    public static int[][] Beam(PointerNetwork network, IPointerTask task, IReadOnlyList<PointerExample> examples,
        int beamSize, bool constrained, double lengthPenalty = 1.0)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(examples);
        network.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = network.ParameterDevice;
        var (inputs, lengths, _) = PointerTasks.ToTensors(examples, task.InputFeatures, device, network.ParameterDtype);
        using var model = network.EncodeForDecoding(inputs, lengths);
        var constraints = examples.Select(task.Constraint).ToArray();
        AllowedTokens? allowed = null;
        if (constrained)
            allowed = (prefixes, batchRows) =>
            {
                long rows = prefixes.shape[0], t = prefixes.shape[1];
                long[] flat = t == 0 ? [] : prefixes.cpu().data<long>().ToArray();
                long[] owners = batchRows.cpu().data<long>().ToArray();
                var rowPrefixes = new IReadOnlyList<long>[rows];
                for (long r = 0; r < rows; r++) rowPrefixes[r] = new ArraySegment<long>(flat, (int)(r * t), (int)t);
                return AllowedMask(owners.Select(o => constraints[o]).ToArray(), rowPrefixes, model.VocabularySize, device);
            };
        int maxLength = examples.Max(e => task.MaxTargetLength(e.Size)) + 1;
        var go = zeros([examples.Count, 1], ScalarType.Int64, device);
        var result = BeamSearch.Run(model, go, new BeamSearchOptions(beamSize, maxLength, LengthPenalty: lengthPenalty,
            EndToken: PointerNetwork.EndPosition, Allowed: allowed));
        return Enumerable.Range(0, examples.Count).Select(b => result[b].Count == 0
                ? []
                : result[b][0].Tokens.TakeWhile(t => t != PointerNetwork.EndPosition).Select(t => (int)t - 1).ToArray())
            .ToArray();
    }
}
