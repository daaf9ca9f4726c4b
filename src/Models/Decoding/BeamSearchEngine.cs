using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>
/// The one search loop behind <see cref="BeamSearch"/> (one group, no diversity) and <see cref="DiverseBeamSearch"/>.
/// <para>Layout: every active input row holds BeamSize slots, group g owning slots [g·B/G, (g+1)·B/G); all slots of
/// all active rows are stepped by one Step call, and after each step one Select puts the chosen parents' states in
/// the new slots' order and drops input rows whose search has ended. Slots a group cannot fill (fewer open
/// hypotheses than beams, or a group that has ended) are dead: they copy a live slot's state and prefix, and carry
/// a -inf sum so that no candidate ever comes from them.</para>
/// <para>Per step and group: candidates are (parent, token) pairs scored by the parent's log-probability sum plus
/// the token's log-probability (masks applied: minimum length, no-repeat-n-gram, the constraint callback), minus λ
/// times the diversity penalty for groups after the first. The best 2·B/G candidates go to the CPU in rank order;
/// walking them, an end-token candidate finishes (it leaves the beam with score sum / length^α) and any other one
/// opens a beam, until B/G beams are open. A group ends when it opens none, at MaxLength (its open hypotheses end
/// there), or when none of its open hypotheses can still beat the worst of its NBest finished ones. That test is
/// exact: log-probabilities are &lt;= 0, so a sum can only fall, and the best score a hypothesis of sum s can reach is
/// s / max(length^α) over the lengths it can still end at.</para>
/// </summary>
internal static class BeamSearchEngine
{
    /// <summary>An open hypothesis in a slot: its tokens (never mutated; extension copies) and log-probability sum.</summary>
    private readonly record struct Slot(long[] Tokens, double Sum)
    {
        public bool Dead => double.IsNegativeInfinity(Sum);
    }

    /// <summary>A candidate opened as a beam: the slot it extends (in the current step's layout), token and sum.</summary>
    private readonly record struct Opened(int Parent, long Token, double Sum);

    private sealed class GroupSearch
    {
        public readonly List<Hypothesis> Finished = [];
        public bool Done;

        /// <summary>Score of the NBest-th best finished hypothesis; -inf while fewer have finished.</summary>
        public double WorstKept(int nBest)
        {
            if (Finished.Count < nBest) return double.NegativeInfinity;
            return Finished.Select(h => h.Score).OrderByDescending(s => s).ElementAt(nBest - 1);
        }
    }

    public static BeamSearchResult Run(IStepModel model, Tensor prompt, BeamSearchOptions options, DiversityOptions diversity)
    {
        int vocabulary = model.VocabularySize;
        int beams = options.BeamSize, groups = diversity.Groups, perGroup = beams / groups;
        long batch = prompt.shape[0];
        var device = prompt.device;
        bool diverse = groups > 1 && diversity.Strength > 0;

        var search = new GroupSearch[batch, groups];
        for (long b = 0; b < batch; b++)
            for (int g = 0; g < groups; g++) search[b, g] = new GroupSearch();

        using (var outer = NewDisposeScope())
        using (no_grad())
        {
            var (promptLogits, promptState) = DecodingArguments.FeedPrompt(model, prompt);
            var expand = arange(batch, ScalarType.Int64, device).repeat_interleave(beams);
            IDecodingState state = promptState.Select(expand);
            promptState.Dispose();
            Tensor logits = promptLogits.index_select(0, expand);

            // Step 0: every group starts from the prompt with one live beam; its other slots are dead copies.
            var active = Enumerable.Range(0, (int)batch).ToList();
            var slots = new Slot[batch * beams];
            for (int s = 0; s < slots.Length; s++)
                slots[s] = new Slot([], s % perGroup == 0 ? 0.0 : double.NegativeInfinity);

            try
            {
                for (int t = 0; t < options.MaxLength; t++)
                {
                    int rowsNow = active.Count;
                    var chosen = new List<Opened>[rowsNow, groups];
                    using (var stepScope = NewDisposeScope())
                    {
                        var logProbabilities = Masked(logits.to(ScalarType.Float64).log_softmax(-1), slots, active,
                            beams, t, options, device);
                        var sums = tensor(slots.Select(s => s.Sum).ToArray(), ScalarType.Float64).to(device);
                        var candidates = (logProbabilities + sums.unsqueeze(1)).view(rowsNow, beams, vocabulary);
                        for (int g = 0; g < groups; g++)
                        {
                            var groupCandidates = candidates.narrow(1, g * perGroup, perGroup).reshape(rowsNow, perGroup * vocabulary);
                            var selection = diverse && g > 0
                                ? groupCandidates - diversity.Strength * Penalty(chosen, slots, g, perGroup, beams,
                                    rowsNow, vocabulary, diversity, device)
                                : groupCandidates;
                            int take = (int)Math.Min(2L * perGroup, (long)perGroup * vocabulary);
                            var (selected, indices) = selection.topk(take, dim: 1);
                            // One transfer per group: selection values, true sums and indices (exact in float64).
                            double[] both = stack([selected, groupCandidates.gather(1, indices), indices.to(ScalarType.Float64)])
                                .cpu().data<double>().ToArray();
                            int plane = rowsNow * take;
                            var selectedCpu = new ReadOnlySpan<double>(both, 0, plane).ToArray();
                            var sumsCpu = new ReadOnlySpan<double>(both, plane, plane).ToArray();
                            long[] indicesCpu = new ReadOnlySpan<double>(both, 2 * plane, plane).ToArray().Select(v => (long)v).ToArray();
                            for (int a = 0; a < rowsNow; a++)
                            {
                                var opened = chosen[a, g] = [];
                                var group = search[active[a], g];
                                if (group.Done) continue;
                                for (int r = 0; r < take && opened.Count < perGroup; r++)
                                {
                                    int at = a * take + r;
                                    if (double.IsNegativeInfinity(selectedCpu[at])) break;
                                    int parent = a * beams + g * perGroup + (int)(indicesCpu[at] / vocabulary);
                                    long token = indicesCpu[at] % vocabulary;
                                    if (token == options.EndToken)
                                        group.Finished.Add(Finish(slots[parent].Tokens, token, sumsCpu[at], true, g, options));
                                    else
                                        opened.Add(new Opened(parent, token, sumsCpu[at]));
                                }
                            }
                        }
                    }

                    // Which groups and rows end after this step; the next step's slots and their parents.
                    var nextActive = new List<int>();
                    var nextSlots = new List<Slot>();
                    var parents = new List<long>();
                    var tokens = new List<long>();
                    for (int a = 0; a < rowsNow; a++)
                    {
                        int row = active[a];
                        for (int g = 0; g < groups; g++)
                            EndIfSettled(search[row, g], g, chosen[a, g], slots, t, options);
                        if (Enumerable.Range(0, groups).All(g => search[row, g].Done)) continue;

                        nextActive.Add(row);
                        // A group still searching opened at least one beam: dead slots of ended groups copy it.
                        var filler = Enumerable.Range(0, groups).Where(g => !search[row, g].Done)
                            .Select(g => chosen[a, g][0]).First();
                        for (int g = 0; g < groups; g++)
                        {
                            List<Opened> opened = search[row, g].Done ? [] : chosen[a, g];
                            for (int k = 0; k < perGroup; k++)
                            {
                                var source = k < opened.Count ? opened[k] : opened.Count > 0 ? opened[0] : filler;
                                var prefix = Append(slots[source.Parent].Tokens, source.Token);
                                nextSlots.Add(new Slot(prefix, k < opened.Count ? source.Sum : double.NegativeInfinity));
                                parents.Add(source.Parent);
                                tokens.Add(source.Token);
                            }
                        }
                    }
                    if (nextActive.Count == 0) break;

                    active = nextActive;
                    slots = [.. nextSlots];
                    using var parentRows = tensor(parents.ToArray(), ScalarType.Int64).to(device);
                    using var reordered = state.Select(parentRows);
                    state.Dispose();
                    var (nextLogits, nextState) = model.Step(tensor(tokens.ToArray(), ScalarType.Int64).to(device), reordered);
                    state = nextState;
                    logits.Dispose();
                    logits = nextLogits;
                }
            }
            finally
            {
                state.Dispose();
            }
        }

        var rows = new IReadOnlyList<Hypothesis>[batch];
        for (long b = 0; b < batch; b++)
        {
            rows[b] = Enumerable.Range(0, groups)
                .SelectMany(g => search[b, g].Finished.OrderByDescending(h => h.Score).Take(options.NBest))
                .OrderByDescending(h => h.Score)
                .ToArray();
        }
        return new BeamSearchResult(rows);
    }

    /// <summary>After step t: a group ends when it opened nothing, at MaxLength (its open hypotheses finish
    /// without the end token) or when no open hypothesis can beat its NBest-th finished one.</summary>
    private static void EndIfSettled(GroupSearch group, int g, List<Opened> opened, Slot[] slots, int t, BeamSearchOptions options)
    {
        if (group.Done) return;
        int length = t + 1;
        if (opened.Count == 0)
        {
            group.Done = true;
        }
        else if (length == options.MaxLength)
        {
            foreach (var o in opened)
                group.Finished.Add(Finish(slots[o.Parent].Tokens, o.Token, o.Sum, false, g, options));
            group.Done = true;
        }
        else if (group.Finished.Count >= options.NBest)
        {
            double worst = group.WorstKept(options.NBest);
            double best = opened.Max(o => BestReachable(o.Sum, length, options));
            if (best <= worst) group.Done = true;
        }
    }

    /// <summary>The best score an open hypothesis with log-probability sum <paramref name="sum"/> (&lt;= 0) and
    /// <paramref name="length"/> tokens can still reach: its sum can only fall, so it is sum over the largest
    /// normaliser among the lengths it can still end at (MaxLength only, without an end token).</summary>
    private static double BestReachable(double sum, int length, BeamSearchOptions options)
    {
        int shortest = options.EndToken is null ? options.MaxLength : Math.Max(length + 1, options.MinLength + 1);
        shortest = Math.Min(shortest, options.MaxLength);
        double normaliser = Math.Max(options.LengthNormaliser(shortest), options.LengthNormaliser(options.MaxLength));
        return sum / normaliser;
    }

    private static Hypothesis Finish(long[] prefix, long token, double sum, bool ended, int group, BeamSearchOptions options)
    {
        var tokens = Append(prefix, token);
        return new Hypothesis(tokens, sum / options.LengthNormaliser(tokens.Length), sum, ended, group);
    }

    private static long[] Append(long[] prefix, long token)
    {
        var tokens = new long[prefix.Length + 1];
        prefix.CopyTo(tokens, 0);
        tokens[^1] = token;
        return tokens;
    }

    /// <summary>Log-probabilities (R, V) float64 with the forbidden continuations at -inf: the end token before
    /// MinLength, tokens that would repeat an n-gram, tokens the callback disallows.</summary>
    private static Tensor Masked(Tensor logProbabilities, Slot[] slots, List<int> active, int beams, int t,
        BeamSearchOptions options, Device device)
    {
        int vocabulary = (int)logProbabilities.shape[1];
        if (options.EndToken is long end && t < options.MinLength)
            logProbabilities.index_fill_(1, tensor(new[] { end }).to(device), double.NegativeInfinity);

        if (options.NoRepeatNgramSize > 0 && t >= options.NoRepeatNgramSize - 1)
        {
            var banned = new List<long>();
            for (int s = 0; s < slots.Length; s++)
                if (!slots[s].Dead)
                    foreach (long token in RepeatingTokens(slots[s].Tokens, options.NoRepeatNgramSize))
                        banned.Add((long)s * vocabulary + token);
            if (banned.Count > 0)
                logProbabilities.view(-1).index_fill_(0, tensor(banned.ToArray()).to(device), double.NegativeInfinity);
        }

        if (options.Allowed is AllowedTokens allowed)
        {
            var prefixData = new long[slots.Length * t];
            for (int s = 0; s < slots.Length; s++) slots[s].Tokens.CopyTo(prefixData, s * t);
            var prefixes = tensor(prefixData, [slots.Length, t], ScalarType.Int64).to(device);
            var batchRows = tensor(active.SelectMany(row => Enumerable.Repeat((long)row, beams)).ToArray(),
                ScalarType.Int64).to(device);
            var mask = allowed(prefixes, batchRows);
            if (mask is null || mask.dtype != ScalarType.Bool || mask.dim() != 2 || mask.shape[0] != slots.Length
                || mask.shape[1] != vocabulary)
                throw new ArgumentException(
                    $"{nameof(BeamSearchOptions.Allowed)}: expected the callback to return ({slots.Length}, {vocabulary}) bool, got "
                    + (mask is null ? "null" : $"{mask.dtype} of shape ({string.Join(", ", mask.shape)})") + ".",
                    nameof(BeamSearchOptions.Allowed));
            logProbabilities = logProbabilities.masked_fill(mask.to(device).logical_not(), double.NegativeInfinity);
        }
        return logProbabilities;
    }

    /// <summary>The tokens that would complete an n-gram already present in <paramref name="tokens"/>.</summary>
    internal static IEnumerable<long> RepeatingTokens(long[] tokens, int n)
    {
        int t = tokens.Length;
        if (t < n - 1) yield break;
        for (int start = 0; start + n <= t; start++)
        {
            bool same = true;
            for (int i = 0; i < n - 1 && same; i++) same = tokens[start + i] == tokens[t - (n - 1) + i];
            if (same) yield return tokens[start + n - 1];
        }
    }

    /// <summary>The diversity penalty of group g's candidates, (rows, B/G · V) float64: from the beams groups
    /// 0..g-1 opened at this step (Hamming: a count per token; cumulative: exp(-d/Γ) per earlier beam).</summary>
    private static Tensor Penalty(List<Opened>[,] chosen, Slot[] slots, int g, int perGroup, int beams, int rows,
        int vocabulary, DiversityOptions diversity, Device device)
    {
        var at = new List<long>();
        var values = new List<double>();
        for (int a = 0; a < rows; a++)
            for (int h = 0; h < g; h++)
                foreach (var earlier in chosen[a, h])
                    for (int k = 0; k < perGroup; k++)
                    {
                        var own = slots[a * beams + g * perGroup + k];
                        if (own.Dead) continue;
                        double weight = 1.0;
                        if (diversity.Kind == DiversityKind.Cumulative)
                        {
                            var theirs = slots[earlier.Parent].Tokens;
                            int distance = 0;
                            for (int i = 0; i < own.Tokens.Length; i++) if (own.Tokens[i] != theirs[i]) distance++;
                            weight = Math.Exp(-distance / diversity.Temperature);
                        }
                        at.Add(((long)a * perGroup + k) * vocabulary + earlier.Token);
                        values.Add(weight);
                    }
        var penalty = zeros([rows * perGroup * (long)vocabulary], ScalarType.Float64, device);
        if (at.Count > 0)
            penalty.index_add_(0, tensor(at.ToArray()).to(device), tensor(values.ToArray(), ScalarType.Float64).to(device), 1.0);
        return penalty.view(rows, perGroup * vocabulary);
    }
}
