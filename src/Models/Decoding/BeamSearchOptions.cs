using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>
/// A per-hypothesis constraint of beam search: which tokens each open hypothesis may produce next (pointer networks:
/// never point twice; grammars: only valid continuations).
/// <paramref name="prefixes"/> is (R, t) int64, the tokens each of the R rows being stepped has produced so far
/// (prompt excluded; t is the step, 0 at the first choice); <paramref name="batchRows"/> is (R) int64, the input row
/// (of the prompt) each belongs to. Both live on the prompt's device and belong to the search (do not keep them).
/// Returns (R, V) bool on any device, true = allowed; a row with nothing allowed ends that hypothesis.
/// Rows that are padding of a beam (a beam with fewer open hypotheses than slots) repeat a real prefix.
/// </summary>
public delegate Tensor AllowedTokens(Tensor prefixes, Tensor batchRows);

/// <summary>
/// Options of <see cref="BeamSearch"/> and <see cref="DiverseBeamSearch"/>.
/// Lengths count generated tokens (the prompt excluded) and include the end token where a hypothesis ends with one.
/// </summary>
/// <param name="BeamSize">Open hypotheses kept per input row (all groups together in diverse beam search); >= 1.</param>
/// <param name="MaxLength">Most tokens a hypothesis may have; hypotheses still open at this length end there
/// (<see cref="Hypothesis.EndedWithEndToken"/> false). >= 1.</param>
/// <param name="MinLength">The end token is forbidden until a hypothesis has MinLength tokens; in [0, MaxLength].</param>
/// <param name="LengthPenalty">α of the score sum(log p) / length^α (fairseq's normalisation): 0 ranks by the raw
/// sum, 1 by the mean log-probability per token, larger values favour longer hypotheses. Finite.</param>
/// <param name="EndToken">The end-of-sequence token id in [0, V); null: hypotheses only end at MaxLength.</param>
/// <param name="NoRepeatNgramSize">n > 0: no n-gram occurs twice among a hypothesis' generated tokens (n = 1: no
/// token twice); 0: off.</param>
/// <param name="NBest">Hypotheses returned per input row (per group in diverse beam search), in [1, beams].</param>
/// <param name="Allowed">Optional constraint callback (<see cref="AllowedTokens"/>).</param>
public sealed record BeamSearchOptions(
    int BeamSize,
    int MaxLength,
    int MinLength = 0,
    double LengthPenalty = 1.0,
    long? EndToken = null,
    int NoRepeatNgramSize = 0,
    int NBest = 1,
    AllowedTokens? Allowed = null)
{
    /// <summary>The length normalisation: length^α (length >= 1).</summary>
    public double LengthNormaliser(int length) => Math.Pow(length, LengthPenalty);

    /// <summary>Throws an <see cref="ArgumentException"/> whose ParamName is the first option out of range;
    /// <paramref name="beamsPerGroup"/> bounds NBest (BeamSize for plain beam search).</summary>
    internal void Validate(int vocabularySize, int beamsPerGroup)
    {
        if (BeamSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BeamSize), BeamSize,
                $"{nameof(BeamSize)}: expected at least 1 beam, got {BeamSize}.");
        if (MaxLength < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength,
                $"{nameof(MaxLength)}: expected at least 1 generated token, got {MaxLength}.");
        if (MinLength < 0 || MinLength > MaxLength)
            throw new ArgumentOutOfRangeException(nameof(MinLength), MinLength,
                $"{nameof(MinLength)}: expected a length in [0, {MaxLength}] (MaxLength), got {MinLength}.");
        if (!double.IsFinite(LengthPenalty))
            throw new ArgumentOutOfRangeException(nameof(LengthPenalty), LengthPenalty,
                $"{nameof(LengthPenalty)}: expected a finite exponent, got {LengthPenalty}.");
        if (EndToken is long end && (end < 0 || end >= vocabularySize))
            throw new ArgumentOutOfRangeException(nameof(EndToken), end,
                $"{nameof(EndToken)}: expected a token id in [0, {vocabularySize}) (the vocabulary), got {end}.");
        if (NoRepeatNgramSize < 0)
            throw new ArgumentOutOfRangeException(nameof(NoRepeatNgramSize), NoRepeatNgramSize,
                $"{nameof(NoRepeatNgramSize)}: expected 0 (off) or an n-gram size >= 1, got {NoRepeatNgramSize}.");
        if (NBest < 1 || NBest > beamsPerGroup)
            throw new ArgumentOutOfRangeException(nameof(NBest), NBest,
                $"{nameof(NBest)}: expected a number of hypotheses in [1, {beamsPerGroup}] (the beams per group), got {NBest}.");
    }
}

/// <summary>How diverse beam search penalises a group for choosing what earlier groups chose.</summary>
public enum DiversityKind
{
    /// <summary>Vijayakumar et al.'s Hamming diversity: the penalty of token w at step t is the number of beams of
    /// earlier groups that chose w at step t.</summary>
    Hamming,

    /// <summary>Cumulative diversity (the paper's "backing-off"): each earlier-group beam that chose w at step t adds
    /// exp(-d / Γ), d the Hamming distance between its prefix and the penalised beam's prefix (positions 0..t-1), so
    /// sequences that have already diverged are penalised less. Γ → ∞ gives Hamming diversity.</summary>
    Cumulative,
}

/// <summary>Options of <see cref="DiverseBeamSearch"/> (Vijayakumar et al. 2016).</summary>
/// <param name="Groups">G: the beam (BeamSize B) is split into G groups of B / G beams; G divides B.</param>
/// <param name="Strength">λ >= 0: a candidate's selection score is its log-probability sum minus λ times its
/// diversity penalty (the penalty only steers the choice; reported scores are the model's log-probabilities).</param>
/// <param name="Kind">Hamming or cumulative diversity.</param>
/// <param name="Temperature">Γ > 0 of cumulative diversity (unused by Hamming diversity).</param>
public sealed record DiversityOptions(int Groups, double Strength, DiversityKind Kind = DiversityKind.Hamming,
    double Temperature = 1.0)
{
    internal void Validate(int beamSize)
    {
        if (Groups < 1 || beamSize % Groups != 0)
            throw new ArgumentOutOfRangeException(nameof(Groups), Groups,
                $"{nameof(Groups)}: expected a number of groups >= 1 that divides BeamSize = {beamSize}, got {Groups}.");
        if (!double.IsFinite(Strength) || Strength < 0)
            throw new ArgumentOutOfRangeException(nameof(Strength), Strength,
                $"{nameof(Strength)}: expected a finite diversity strength >= 0, got {Strength}.");
        if (!Enum.IsDefined(Kind))
            throw new ArgumentOutOfRangeException(nameof(Kind), Kind,
                $"{nameof(Kind)}: expected Hamming or Cumulative, got {(int)Kind}.");
        if (!double.IsFinite(Temperature) || Temperature <= 0)
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature,
                $"{nameof(Temperature)}: expected a finite cumulative-diversity temperature > 0, got {Temperature}.");
    }
}
