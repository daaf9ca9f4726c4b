using HybridSeq.Models.Decoding;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Decoding;

/// <summary>Sampling (<see cref="Sampling"/>) and its logit filters: reproducible per seed whatever the batch order,
/// top-k = 1 is greedy, the drawn frequencies follow the filtered distribution, and the options hold.</summary>
[TestFixture]
public sealed class SamplingTests
{
    public static IEnumerable<string> Families() => DecodingTestModels.Families();

    private static string Show(Hypothesis h) => string.Join(",", h.Tokens);

    [TestCaseSource(nameof(Families))]
    public void TheSameSeedReproducesWhateverTheBatchOrder(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 6);
        long[][] prompts = [[3, 1], [5, 5], [0, 2], [3, 1]];
        var options = new SamplingOptions(MaxLength: 8, Temperature: 1.5, Seed: 11);
        var batch = Sampling.Generate(model, tensor(prompts.SelectMany(p => p).ToArray(), [4, 2]), options);
        var again = Sampling.Generate(model, tensor(prompts.SelectMany(p => p).ToArray(), [4, 2]), options);
        Assert.That(again.Select(Show), Is.EqualTo(batch.Select(Show)), "same seed, same samples");
        Assert.That(Show(batch[3]), Is.Not.EqualTo(Show(batch[0])), "a repeated prompt draws a second, different sample");

        // Reversed order: each row's samples move with it (the two equal prompts keep their order among themselves).
        int[] order = [2, 0, 1, 3];
        var permuted = Sampling.Generate(model, tensor(order.SelectMany(i => prompts[i]).ToArray(), [4, 2]), options);
        Assert.That(permuted.Select(Show), Is.EqualTo(order.Select(i => Show(batch[i]))));
        for (int row = 0; row < 3; row++)
        {
            var alone = Sampling.Generate(model, tensor(prompts[row], [1, 2]), options);
            Assert.That(Show(alone[0]), Is.EqualTo(Show(batch[row])), $"row {row} alone");
            Assert.That(alone[0].LogProbability, Is.EqualTo(DecodingTestModels.Rescore(model, prompts[row], alone[0].Tokens)).Within(1e-9));
        }

        var otherSeed = Sampling.Generate(model, tensor(prompts.SelectMany(p => p).ToArray(), [4, 2]), options with { Seed = 12 });
        Assert.That(otherSeed.Select(Show), Is.Not.EqualTo(batch.Select(Show)), "another seed, other samples");
    }

    [TestCaseSource(nameof(Families))]
    public void TopKOneIsGreedy(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 7);
        var prompt = tensor(new long[] { 1, 2, 3, 4, 5, 6, 0, 1 }, [2, 4]);
        long[] greedy = GreedyDecoding.Generate(model, prompt, 8).data<long>().ToArray();
        var sampled = Sampling.Generate(model, prompt, new SamplingOptions(8, Temperature: 3.0, TopK: 1, Seed: 5));
        Assert.That(sampled[0].Tokens, Is.EqualTo(greedy[..8]));
        Assert.That(sampled[1].Tokens, Is.EqualTo(greedy[8..]));
    }

    // One draw from the start distribution (0.5, 0.3, 0.15, 0.05).
    private static BigramStepModel Skewed() => new(new[,]
    {
        { 0.25, 0.25, 0.25, 0.25 },
        { 0.25, 0.25, 0.25, 0.25 },
        { 0.25, 0.25, 0.25, 0.25 },
        { 0.25, 0.25, 0.25, 0.25 },
        { 0.50, 0.30, 0.15, 0.05 },
    });

    public static IEnumerable<TestCaseData> Filters()
    {
        yield return new TestCaseData(new SamplingOptions(1), new[] { 0.5, 0.3, 0.15, 0.05 }).SetName("Plain");
        yield return new TestCaseData(new SamplingOptions(1, TopP: 0.7), new[] { 0.625, 0.375, 0, 0 }).SetName("TopP07");
        yield return new TestCaseData(new SamplingOptions(1, TopP: 0.85), new[] { 0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0 }).SetName("TopP085");
        yield return new TestCaseData(new SamplingOptions(1, TopK: 2), new[] { 0.625, 0.375, 0, 0 }).SetName("TopK2");
        double[] sqrt = [Math.Sqrt(0.5), Math.Sqrt(0.3), Math.Sqrt(0.15), Math.Sqrt(0.05)];
        yield return new TestCaseData(new SamplingOptions(1, Temperature: 2), sqrt.Select(v => v / sqrt.Sum()).ToArray()).SetName("Temperature2");
    }

    /// <summary>20000 one-token draws: filtered-out tokens never come, the others with their renormalised
    /// probabilities (within 5 standard errors; the draws are fixed by the seed, so this cannot flicker).</summary>
    [TestCaseSource(nameof(Filters))]
    public void DrawsFollowTheFilteredDistribution(SamplingOptions options, double[] expected)
    {
        using var scope = NewDisposeScope();
        const int draws = 20000;
        var samples = Sampling.Generate(Skewed(), zeros([draws, 1], ScalarType.Int64), options with { Seed = 3 });
        var counts = new int[4];
        foreach (var s in samples) counts[s.Tokens.Single()]++;
        for (int token = 0; token < 4; token++)
        {
            if (expected[token] == 0) { Assert.That(counts[token], Is.Zero, $"token {token} is filtered out"); continue; }
            double share = counts[token] / (double)draws;
            double error = Math.Sqrt(expected[token] * (1 - expected[token]) / draws);
            Assert.That(share, Is.EqualTo(expected[token]).Within(5 * error), $"token {token}");
        }
    }

    [Test]
    public void TheRepetitionPenaltyStopsRepeats()
    {
        using var scope = NewDisposeScope();
        // Every token most likely repeats itself.
        var model = new BigramStepModel(new[,]
        {
            { 0.70, 0.15, 0.10, 0.05 },
            { 0.15, 0.70, 0.10, 0.05 },
            { 0.10, 0.15, 0.70, 0.05 },
            { 0.10, 0.15, 0.05, 0.70 },
            { 0.40, 0.30, 0.20, 0.10 },
        });
        // The prompt's token (3) counts as seen too.
        var prompt = tensor(new long[] { 3 }, [1, 1]);
        var plain = Sampling.Generate(model, prompt, new SamplingOptions(4, TopK: 1));
        Assert.That(plain[0].Tokens, Is.EqualTo(new long[] { 0, 0, 0, 0 }));
        var penalised = Sampling.Generate(model, prompt, new SamplingOptions(4, TopK: 1, RepetitionPenalty: 10));
        // The logits are log-probabilities (negative): × 10 pushes every seen token below the unseen ones, so
        // 0, 1, 2 come in turn; then every token has been seen and the least penalised, log 0.7 · 10, wins: 2 again.
        Assert.That(penalised[0].Tokens, Is.EqualTo(new long[] { 0, 1, 2, 2 }));
    }

    [Test]
    public void TheEndTokenEndsARowAndWaitsForTheMinimumLength()
    {
        using var scope = NewDisposeScope();
        // The end token (3) is drawn with probability 0.9 after the start and after every token.
        var model = new BigramStepModel(new[,]
        {
            { 0.05, 0.03, 0.02, 0.90 },
            { 0.03, 0.05, 0.02, 0.90 },
            { 0.02, 0.03, 0.05, 0.90 },
            { 0.05, 0.03, 0.02, 0.90 },
            { 0.04, 0.04, 0.02, 0.90 },
        });
        var samples = Sampling.Generate(model, zeros([200, 1], ScalarType.Int64), new SamplingOptions(6, EndToken: 3, MinLength: 2, Seed: 9));
        Assert.That(samples.Count(s => s.EndedWithEndToken), Is.GreaterThan(150));
        foreach (var s in samples)
        {
            Assert.That(s.Tokens.Length, Is.InRange(3, 6), Show(s));
            Assert.That(s.Tokens[..^1], Has.No.Member(3L), Show(s));
            Assert.That(s.EndedWithEndToken, Is.EqualTo(s.Tokens[^1] == 3));
            Assert.That(s.LogProbability, Is.EqualTo(model.LogProbability(s.Tokens)).Within(1e-12));
        }
    }

    [Test]
    public void TopPKeepsTheSmallestNucleus()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new[] { 0.5, 0.3, 0.15, 0.05, 0.25, 0.25, 0.25, 0.25 }, [2, 4]).log();
        var kept = LogitFilters.TopP(logits, 0.75).isfinite().data<bool>().ToArray();
        Assert.That(kept[..4], Is.EqualTo(new[] { true, true, false, false }), "0.5 + 0.3 reaches 0.75");
        // A uniform row needs 3 of its 4 tokens (which tied one goes is the sort's choice).
        Assert.That(kept[4..].Count(k => k), Is.EqualTo(3));
        var topOnly = LogitFilters.TopP(logits, 0.01).isfinite().data<bool>().ToArray();
        Assert.That(topOnly[..4], Is.EqualTo(new[] { true, false, false, false }), "the most likely token always stays");
        var ties = LogitFilters.TopK(tensor(new[] { 1.0, 3.0, 3.0, 2.0 }, [1, 4]), 1).isfinite().data<bool>().ToArray();
        Assert.That(ties, Is.EqualTo(new[] { false, true, true, false }), "ties with the k-th are kept");
    }

    public static IEnumerable<TestCaseData> BadOptions()
    {
        yield return new TestCaseData(new SamplingOptions(0), "MaxLength", "got 0");
        yield return new TestCaseData(new SamplingOptions(3, Temperature: 0), "Temperature", "got 0");
        yield return new TestCaseData(new SamplingOptions(3, Temperature: double.PositiveInfinity), "Temperature", "got Infinity");
        yield return new TestCaseData(new SamplingOptions(3, TopK: -1), "TopK", "got -1");
        yield return new TestCaseData(new SamplingOptions(3, TopP: 0), "TopP", "(0, 1]");
        yield return new TestCaseData(new SamplingOptions(3, TopP: 1.5), "TopP", "got 1.5");
        yield return new TestCaseData(new SamplingOptions(3, RepetitionPenalty: 0), "RepetitionPenalty", "got 0");
        yield return new TestCaseData(new SamplingOptions(3, EndToken: 4), "EndToken", "[0, 4)");
        yield return new TestCaseData(new SamplingOptions(3, MinLength: 4), "MinLength", "[0, 3]");
    }

    [TestCaseSource(nameof(BadOptions))]
    public void BadOptionsAreRejectedByName(SamplingOptions options, string name, string fragment)
    {
        using var scope = NewDisposeScope();
        var error = Assert.Catch<ArgumentException>(() => Sampling.Generate(Skewed(), zeros([1, 1], ScalarType.Int64), options));
        Assert.That(error!.ParamName, Is.EqualTo(name));
        Assert.That(error.Message, Does.Contain(name).And.Contain(fragment));
    }
}
