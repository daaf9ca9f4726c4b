using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>
/// Diverse beam search (Vijayakumar et al. 2016, "Diverse Beam Search"): the beam of B hypotheses is split into G
/// groups of B / G; at each step the groups choose in order, group g's candidates scored by their log-probability sum
/// minus λ times their diversity penalty against the tokens groups 0..g-1 chose at this step (Hamming or cumulative
/// diversity, <see cref="DiversityKind"/>). Each group finishes, ranks and stops like a plain beam search of B / G
/// beams (so one group is plain beam search, and λ = 0 gives each group the plain beam search of B / G beams).
/// All groups of all input rows are stepped by one Step call.
/// </summary>
public static class DiverseBeamSearch
{
    /// <summary>
    /// As <see cref="BeamSearch.Run"/>; NBest applies per group (NBest &lt;= B / G). Returns per input row up to
    /// G · NBest hypotheses, best first, each tagged with its <see cref="Hypothesis.Group"/>; duplicates across
    /// groups are kept (λ = 0 makes every group find the same ones).
    /// </summary>
    /// <exception cref="ArgumentException">as <see cref="BeamSearch.Run"/>; "Groups" when G does not divide
    /// BeamSize, "Strength" for λ &lt; 0, "Temperature" for Γ &lt;= 0.</exception>
    public static BeamSearchResult Run(IStepModel model, Tensor prompt, BeamSearchOptions options, DiversityOptions diversity)
    {
        DecodingArguments.Prompt(model, prompt);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(diversity);
        diversity.Validate(options.BeamSize);
        options.Validate(model.VocabularySize, options.BeamSize / diversity.Groups);
        return BeamSearchEngine.Run(model, prompt, options, diversity);
    }
}
