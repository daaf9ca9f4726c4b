namespace HybridSeq.Models.Decoding;

/// <summary>One finished hypothesis of a search (or one sample).</summary>
/// <param name="Tokens">The generated tokens (prompt excluded), the end token last where it ended with one.</param>
/// <param name="Score">Beam search: LogProbability / Tokens.Length^α (α = LengthPenalty); sampling: LogProbability.</param>
/// <param name="LogProbability">The sum of the model's log-probabilities of the tokens (temperature 1, unfiltered).</param>
/// <param name="EndedWithEndToken">Whether the last token is the end token (false: it reached MaxLength).</param>
/// <param name="Group">The diverse-beam-search group that found it (0 otherwise).</param>
public sealed record Hypothesis(long[] Tokens, double Score, double LogProbability, bool EndedWithEndToken, int Group = 0);

/// <summary>The result of a search: per input row, its hypotheses best first (highest Score first). Plain beam
/// search returns up to NBest per row; diverse beam search up to NBest per group (each tagged with its group).
/// Fewer come back only where the constraints left fewer complete hypotheses.</summary>
public sealed class BeamSearchResult(IReadOnlyList<IReadOnlyList<Hypothesis>> rows)
{
    /// <summary>Per input row, the hypotheses best first.</summary>
    public IReadOnlyList<IReadOnlyList<Hypothesis>> Rows { get; } = rows;

    /// <summary>The hypotheses of input row <paramref name="row"/>, best first.</summary>
    public IReadOnlyList<Hypothesis> this[int row] => Rows[row];
}
