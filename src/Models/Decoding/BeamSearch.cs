using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>
/// Batched beam search over any <see cref="IStepModel"/>: every input row keeps <see cref="BeamSearchOptions.BeamSize"/>
/// open hypotheses, all rows' beams are stepped by one Step call, and their states are reordered through
/// <see cref="IDecodingState.Select"/>. Hypotheses are ranked by score = sum(log p) / length^α (fairseq's length
/// normalisation, α = <see cref="BeamSearchOptions.LengthPenalty"/>; length counts generated tokens, the end token
/// included). A hypothesis that produces the end token leaves the beam (finished); the search of a row stops when no
/// open hypothesis can still beat the worst of its NBest finished ones (an exact test, not a heuristic), when nothing
/// is left open, or at MaxLength. See docs/decoding.md.
/// </summary>
public static class BeamSearch
{
    /// <summary>
    /// Feeds prompt (Bt, P) int64 (P >= 1, on the model's device) through Step (its last step's logits give the first
    /// choice), then searches. Returns per input row up to NBest hypotheses, best first. Runs without autograd.
    /// </summary>
    /// <exception cref="ArgumentException">a bad prompt (ParamName "prompt") or option (ParamName the option's name,
    /// e.g. "BeamSize"); a constraint callback that returns something other than (R, V) bool ("Allowed").</exception>
    public static BeamSearchResult Run(IStepModel model, Tensor prompt, BeamSearchOptions options)
    {
        DecodingArguments.Prompt(model, prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(model.VocabularySize, options.BeamSize);
        return BeamSearchEngine.Run(model, prompt, options, new DiversityOptions(1, 0));
    }
}
