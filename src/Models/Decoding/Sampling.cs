using static TorchSharp.torch;

namespace HybridSeq.Models.Decoding;

/// <summary>Options of <see cref="Sampling"/>. The logits are transformed in this order: end token forbidden before
/// MinLength, repetition penalty, temperature, top-k, top-p; the next token is drawn from the softmax of the result.</summary>
/// <param name="MaxLength">Tokens to generate per row (fewer where a row ends with EndToken); >= 1.</param>
/// <param name="Temperature">T > 0: logits / T (T &lt; 1 sharpens, T > 1 flattens; greedy is the limit T → 0).</param>
/// <param name="TopK">k > 0: keep the k largest logits (ties with the k-th are kept too); 0: off.</param>
/// <param name="TopP">p in (0, 1]: keep the smallest set of most likely tokens whose probability reaches p (nucleus,
/// Holtzman et al. 2019; the most likely token is always kept); 1: off.</param>
/// <param name="RepetitionPenalty">r > 0 (CTRL, Keskar et al. 2019): the logit l of a token already in the prompt or
/// the generated tokens becomes l / r where l > 0 and l · r otherwise; 1: off.</param>
/// <param name="Seed">Seed of the draws. Each row draws from its own generator, seeded from Seed, the row's prompt
/// tokens and how many earlier rows have the same prompt: the same seed gives the same samples, whatever the batch
/// order and whether a row is decoded alone or in a batch.</param>
/// <param name="EndToken">A row that draws this token ends (it is kept, last); null: rows run to MaxLength.</param>
/// <param name="MinLength">The end token is forbidden until a row has MinLength tokens; in [0, MaxLength].</param>
public sealed record SamplingOptions(
    int MaxLength,
    double Temperature = 1.0,
    int TopK = 0,
    double TopP = 1.0,
    double RepetitionPenalty = 1.0,
    long Seed = 0,
    long? EndToken = null,
    int MinLength = 0)
{
    internal void Validate(int vocabularySize)
    {
        if (MaxLength < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength,
                $"{nameof(MaxLength)}: expected at least 1 generated token, got {MaxLength}.");
        if (!double.IsFinite(Temperature) || Temperature <= 0)
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature,
                $"{nameof(Temperature)}: expected a finite temperature > 0 (greedy decoding is the limit 0), got {Temperature}.");
        if (TopK < 0)
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK,
                $"{nameof(TopK)}: expected 0 (off) or a number of tokens >= 1, got {TopK}.");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP,
                $"{nameof(TopP)}: expected a probability mass in (0, 1], got {TopP}.");
        if (!double.IsFinite(RepetitionPenalty) || RepetitionPenalty <= 0)
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty,
                $"{nameof(RepetitionPenalty)}: expected a finite penalty > 0 (1 = off), got {RepetitionPenalty}.");
        if (EndToken is long end && (end < 0 || end >= vocabularySize))
            throw new ArgumentOutOfRangeException(nameof(EndToken), end,
                $"{nameof(EndToken)}: expected a token id in [0, {vocabularySize}) (the vocabulary), got {end}.");
        if (MinLength < 0 || MinLength > MaxLength)
            throw new ArgumentOutOfRangeException(nameof(MinLength), MinLength,
                $"{nameof(MinLength)}: expected a length in [0, {MaxLength}] (MaxLength), got {MinLength}.");
        if (MinLength > 0 && EndToken is not null && vocabularySize < 2)
            throw new ArgumentOutOfRangeException(nameof(MinLength), MinLength,
                $"{nameof(MinLength)}: the end token is the only token of the vocabulary, so nothing can be drawn before it.");
    }
}

/// <summary>
/// Sampling (ancestral, with temperature, top-k, top-p and repetition penalty) from any <see cref="IStepModel"/>,
/// reproducible per row (see <see cref="SamplingOptions.Seed"/>).
/// </summary>
public static class Sampling
{
    /// <summary>
    /// Feeds prompt (Bt, P) int64 (P >= 1, on the model's device) through Step, then draws up to MaxLength tokens per
    /// row. Returns one <see cref="Hypothesis"/> per row (Score = LogProbability, the model's own log-probability
    /// of the drawn tokens at temperature 1, unfiltered). Runs without autograd.
    /// </summary>
    /// <exception cref="ArgumentException">a bad prompt ("prompt") or option (ParamName the option's name).</exception>
    public static Hypothesis[] Generate(IStepModel model, Tensor prompt, SamplingOptions options)
    {
        DecodingArguments.Prompt(model, prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(model.VocabularySize);
        int vocabulary = model.VocabularySize;
        int rows = (int)prompt.shape[0];
        var device = prompt.device;
        var generators = RowGenerators(prompt, options.Seed);
        var tokens = Enumerable.Range(0, rows).Select(_ => new List<long>()).ToArray();
        var sums = new double[rows];
        var ended = new bool[rows];

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (logits, state) = DecodingArguments.FeedPrompt(model, prompt);
        try
        {
            Tensor? seen = null;
            if (options.RepetitionPenalty != 1.0)
                seen = zeros([rows, vocabulary], ScalarType.Bool, device).scatter_(1, prompt, ones_like(prompt, ScalarType.Bool));
            for (int t = 0; t < options.MaxLength; t++)
            {
                Tensor drawn;
                using (var stepScope = NewDisposeScope())
                {
                    var scores = logits.to(ScalarType.Float64);
                    var logProbabilities = scores.log_softmax(-1);
                    if (options.EndToken is long end && t < options.MinLength)
                        scores = scores.index_fill(1, tensor(new[] { end }).to(device), double.NegativeInfinity);
                    if (seen is not null) scores = LogitFilters.RepetitionPenalty(scores, seen, options.RepetitionPenalty);
                    if (options.Temperature != 1.0) scores = scores / options.Temperature;
                    if (options.TopK > 0) scores = LogitFilters.TopK(scores, options.TopK);
                    if (options.TopP < 1.0) scores = LogitFilters.TopP(scores, options.TopP);
                    var uniforms = tensor(generators.Select(g => g.NextDouble()).ToArray(), ScalarType.Float64).to(device);
                    drawn = Draw(scores.softmax(-1), uniforms).MoveToOuterDisposeScope();
                    long[] drawnCpu = drawn.cpu().data<long>().ToArray();
                    double[] logProbabilityCpu = logProbabilities.gather(1, drawn.unsqueeze(1)).cpu().data<double>().ToArray();
                    for (int r = 0; r < rows; r++)
                    {
                        if (ended[r]) continue;
                        tokens[r].Add(drawnCpu[r]);
                        sums[r] += logProbabilityCpu[r];
                        ended[r] = drawnCpu[r] == options.EndToken;
                    }
                }
                if (ended.All(e => e) || t + 1 == options.MaxLength) break;
                seen?.scatter_(1, drawn.unsqueeze(1), ones_like(drawn.unsqueeze(1), ScalarType.Bool));
                var (nextLogits, nextState) = model.Step(drawn, state);
                state.Dispose();
                state = nextState;
                logits = nextLogits;
            }
        }
        finally
        {
            state.Dispose();
        }
        return Enumerable.Range(0, rows)
            .Select(r => new Hypothesis([.. tokens[r]], sums[r], sums[r], ended[r]))
            .ToArray();
    }

    /// <summary>Inverse-CDF draw in vocabulary order: per row the first token whose cumulative probability exceeds
    /// u · total (a token of probability 0 is never drawn). probabilities (R, V), uniforms (R) in [0, 1).</summary>
    private static Tensor Draw(Tensor probabilities, Tensor uniforms)
    {
        var cumulative = probabilities.cumsum(1);
        var target = uniforms * cumulative[.., -1];
        return (cumulative <= target.unsqueeze(1)).sum(1).clamp_max(probabilities.shape[1] - 1);
    }

    /// <summary>One generator per row, seeded from the seed, the row's prompt and its rank among equal prompts.</summary>
    private static SplitMix64[] RowGenerators(Tensor prompt, long seed)
    {
        long rows = prompt.shape[0], length = prompt.shape[1];
        long[] data = prompt.cpu().data<long>().ToArray();
        var seenPrompts = new Dictionary<ulong, ulong>();
        var generators = new SplitMix64[rows];
        for (long r = 0; r < rows; r++)
        {
            var mixer = new SplitMix64((ulong)seed);
            ulong hash = mixer.Next();
            for (long t = 0; t < length; t++) hash = SplitMix64.Mix(hash ^ (ulong)data[r * length + t]);
            seenPrompts.TryGetValue(hash, out ulong occurrence);
            seenPrompts[hash] = occurrence + 1;
            generators[r] = new SplitMix64(SplitMix64.Mix(hash ^ SplitMix64.Mix(occurrence + 0x51ED)));
        }
        return generators;
    }
}

/// <summary>The logit transforms of sampling; each takes and returns (R, V) scores (float64 recommended).</summary>
public static class LogitFilters
{
    /// <summary>CTRL's repetition penalty: where <paramref name="seen"/> (R, V) bool is true, l > 0 becomes l / r and
    /// l &lt;= 0 becomes l · r.</summary>
    public static Tensor RepetitionPenalty(Tensor logits, Tensor seen, double penalty)
    {
        var penalised = where(logits > 0, logits / penalty, logits * penalty);
        return where(seen, penalised, logits);
    }

    /// <summary>Sets every logit below the k-th largest of its row to -inf (ties with the k-th are kept).</summary>
    public static Tensor TopK(Tensor logits, int k)
    {
        if (k >= logits.shape[1]) return logits;
        var kth = logits.topk(k, dim: 1).values.narrow(1, k - 1, 1);
        return logits.masked_fill(logits < kth, double.NegativeInfinity);
    }

    /// <summary>Nucleus filter: keeps per row the smallest set of most likely tokens whose softmax probability sums
    /// to at least p (always the most likely one); the others become -inf.</summary>
    public static Tensor TopP(Tensor logits, double p)
    {
        var (sorted, order) = logits.sort(1, descending: true);
        var probabilities = sorted.softmax(-1);
        // A token is dropped when the tokens before it already reach p.
        var before = probabilities.cumsum(1) - probabilities;
        var dropSorted = before >= p;
        var drop = zeros_like(dropSorted).scatter(1, order, dropSorted);
        return logits.masked_fill(drop, double.NegativeInfinity);
    }
}

/// <summary>SplitMix64 (Steele, Lea and Flood 2014): a small, fast generator, fully determined by its seed.</summary>
internal sealed class SplitMix64(ulong seed)
{
    private ulong state = seed;

    public ulong Next()
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    /// <summary>A uniform double in [0, 1) from the top 53 bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>SplitMix64's output function, a bijective 64-bit mixer.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
