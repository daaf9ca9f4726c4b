using HybridSeq.Models;
using HybridSeq.Models.Decoding;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Decoding;

/// <summary>Beam search (<see cref="BeamSearch"/>) on every family with a step mode and on a hand-made bigram model:
/// a beam as wide as the tree equals exhaustive enumeration, reported scores equal a full-forward rescoring, greedy
/// equals one beam, batch rows are independent, and the length, end-token, n-gram and constraint options hold.</summary>
[TestFixture]
public sealed class BeamSearchTests
{
    public static IEnumerable<string> Families() => DecodingTestModels.Families();

    /// <summary>The exact n-best list of a model: every complete hypothesis rescored by the full forward, sorted.</summary>
    private static List<Hypothesis> Enumerated(LanguageModel model, long[] prompt, int maxLength, long? end,
        double lengthPenalty, int minLength = 0, Func<long[], long, bool>? allowed = null)
    {
        return DecodingTestModels.Complete(model.VocabularySize, maxLength, end, minLength, allowed)
            .Select(tokens =>
            {
                double sum = DecodingTestModels.Rescore(model, prompt, tokens);
                return new Hypothesis(tokens, sum / Math.Pow(tokens.Length, lengthPenalty), sum, tokens[^1] == end);
            })
            .OrderByDescending(h => h.Score)
            .ToList();
    }

    [TestCaseSource(nameof(Families))]
    public void AWideBeamEqualsExhaustiveEnumerationWithoutAnEndToken(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 3);
        long[][] prompts = [[0, 2], [1, 1]];
        // 3^3 = 27 sequences: a beam of 27 keeps every prefix, and NBest = 27 lists them all.
        var result = BeamSearch.Run(model, tensor(prompts.SelectMany(p => p).ToArray(), [2, 2]),
            new BeamSearchOptions(BeamSize: 27, MaxLength: 3, LengthPenalty: 0, NBest: 27));
        for (int row = 0; row < 2; row++)
        {
            var expected = Enumerated(model, prompts[row], 3, null, 0);
            Assert.That(expected, Has.Count.EqualTo(27));
            DecodingTestModels.SameHypotheses(result[row], expected, $"{family}, row {row}");
            Assert.That(result[row].All(h => !h.EndedWithEndToken), Is.True);
        }
    }

    [TestCaseSource(nameof(Families))]
    public void AWideBeamEqualsExhaustiveEnumerationWithAnEndTokenAndLengthPenalty(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 3);
        long[] prompt = [1, 0, 2];
        const long end = 2;
        foreach (var (alpha, minLength) in new[] { (1.0, 0), (0.0, 1), (2.5, 0) })
        {
            var expected = Enumerated(model, prompt, 4, end, alpha, minLength);
            var result = BeamSearch.Run(model, tensor(prompt, [1, 3]), new BeamSearchOptions(
                BeamSize: 32, MaxLength: 4, MinLength: minLength, LengthPenalty: alpha, EndToken: end, NBest: expected.Count));
            DecodingTestModels.SameHypotheses(result[0], expected, $"{family}, alpha {alpha}, min length {minLength}");
            Assert.That(result[0].Select(h => h.EndedWithEndToken).Distinct().Count(), Is.EqualTo(2),
                "both ended and max-length hypotheses are listed");
        }
    }

    /// <summary>Narrow beams (not exhaustive): every reported score is the full-forward rescoring of its tokens,
    /// normalised by length^α; hypotheses are sorted and distinct.</summary>
    [TestCaseSource(nameof(Families))]
    public void ReportedScoresEqualAFullForwardRescoring(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 6);
        long[][] prompts = [[3, 1, 4], [1, 5, 2], [0, 0, 0]];
        var options = new BeamSearchOptions(BeamSize: 4, MaxLength: 7, LengthPenalty: 0.7, EndToken: 5, NBest: 4);
        var result = BeamSearch.Run(model, tensor(prompts.SelectMany(p => p).ToArray(), [3, 3]), options);
        for (int row = 0; row < 3; row++)
        {
            Assert.That(result[row], Has.Count.EqualTo(4));
            Assert.That(result[row].Select(h => h.Score), Is.Ordered.Descending);
            Assert.That(result[row].Select(h => string.Join(",", h.Tokens)), Is.Unique);
            foreach (var h in result[row])
            {
                double rescored = DecodingTestModels.Rescore(model, prompts[row], h.Tokens);
                Assert.That(h.LogProbability, Is.EqualTo(rescored).Within(1e-9), $"{family}: log-probability");
                Assert.That(h.Score, Is.EqualTo(rescored / Math.Pow(h.Tokens.Length, 0.7)).Within(1e-9), $"{family}: score");
                Assert.That(h.Tokens.Length, Is.InRange(1, 7));
                Assert.That(h.EndedWithEndToken, Is.EqualTo(h.Tokens[^1] == 5));
                Assert.That(h.Tokens[..^1], Has.No.Member(5L), "the end token only ends a hypothesis");
                if (!h.EndedWithEndToken) Assert.That(h.Tokens, Has.Length.EqualTo(7));
            }
        }
    }

    [TestCaseSource(nameof(Families))]
    public void GreedyDecodingEqualsABeamOfOne(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 7);
        var prompt = tensor(new long[] { 1, 2, 3, 4, 5, 6, 0, 1 }, [2, 4]);
        long[] greedy = GreedyDecoding.Generate(model, prompt, 8).data<long>().ToArray();
        var beam = BeamSearch.Run(model, prompt, new BeamSearchOptions(BeamSize: 1, MaxLength: 8, LengthPenalty: 0));
        Assert.That(beam[0][0].Tokens, Is.EqualTo(greedy[..8]));
        Assert.That(beam[1][0].Tokens, Is.EqualTo(greedy[8..]));
    }

    [TestCaseSource(nameof(Families))]
    public void BatchRowsAreIndependent(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 6);
        long[][] prompts = [[3, 1], [5, 5], [0, 2], [4, 1]];
        // An end token makes rows end at different steps (the batch shrinks as rows finish).
        var options = new BeamSearchOptions(BeamSize: 3, MaxLength: 9, EndToken: 4, NoRepeatNgramSize: 2, NBest: 3);
        var batched = BeamSearch.Run(model, tensor(prompts.SelectMany(p => p).ToArray(), [4, 2]), options);
        for (int row = 0; row < 4; row++)
        {
            var alone = BeamSearch.Run(model, tensor(prompts[row], [1, 2]), options);
            DecodingTestModels.SameHypotheses(batched[row], alone[0], $"{family}, row {row}");
        }
    }

    // Start: 0 (0.38), 1 (0.33), 2 (0.29). After 0 every token is about as likely; after 1, token 1 is likely.
    private static BigramStepModel GreedyTrap() => new(new[,]
    {
        { 0.35, 0.34, 0.31 },
        { 0.05, 0.70, 0.25 },
        { 0.32, 0.33, 0.35 },
        { 0.38, 0.33, 0.29 },
    });

    [Test]
    public void TwoBeamsFindTheSequenceGreedyMisses()
    {
        using var scope = NewDisposeScope();
        var model = GreedyTrap();
        var prompt = tensor(new long[] { 0 }, [1, 1]);
        Assert.That(GreedyDecoding.Generate(model, prompt, 2).data<long>().ToArray(), Is.EqualTo(new long[] { 0, 0 }));
        var one = BeamSearch.Run(model, prompt, new BeamSearchOptions(1, 2, LengthPenalty: 0));
        Assert.That(one[0][0].Tokens, Is.EqualTo(new long[] { 0, 0 }));
        Assert.That(one[0][0].LogProbability, Is.EqualTo(Math.Log(0.38 * 0.35)).Within(1e-12));

        var two = BeamSearch.Run(model, prompt, new BeamSearchOptions(2, 2, LengthPenalty: 0, NBest: 2));
        Assert.That(two[0][0].Tokens, Is.EqualTo(new long[] { 1, 1 }));
        Assert.That(two[0][0].LogProbability, Is.EqualTo(Math.Log(0.33 * 0.7)).Within(1e-12));
        Assert.That(two[0][1].Tokens, Is.EqualTo(new long[] { 0, 0 }));
        Assert.That(two[0][1].Score, Is.EqualTo(Math.Log(0.38 * 0.35)).Within(1e-12));
    }

    [Test]
    public void TheLengthPenaltyDecidesBetweenAShortAndALongHypothesis()
    {
        using var scope = NewDisposeScope();
        var model = GreedyTrap();
        var prompt = tensor(new long[] { 0 }, [1, 1]);
        // With end token 2 and α = 0, ending at once (log 0.29 = -1.24) beats everything longer, the best of which is
        // 1,1,1 at max length: log(0.33·0.7·0.7) = -1.82.
        var raw = BeamSearch.Run(model, prompt, new BeamSearchOptions(3, 3, LengthPenalty: 0, EndToken: 2));
        Assert.That(raw[0][0].Tokens, Is.EqualTo(new long[] { 2 }));
        Assert.That(raw[0][0].Score, Is.EqualTo(Math.Log(0.29)).Within(1e-12));
        Assert.That(raw[0][0].EndedWithEndToken, Is.True);
        // α = 1 (mean per token): 1,1,1 has -1.82 / 3 = -0.61, better than -1.24 and than 1,1,end (-2.85 / 3).
        var mean = BeamSearch.Run(model, prompt, new BeamSearchOptions(3, 3, LengthPenalty: 1, EndToken: 2, NBest: 3));
        var best = mean[0][0];
        Assert.That(best.Tokens, Is.EqualTo(new long[] { 1, 1, 1 }));
        Assert.That(best.EndedWithEndToken, Is.False);
        Assert.That(best.Score, Is.EqualTo(Math.Log(0.33 * 0.7 * 0.7) / 3).Within(1e-12));
        // Minimum length 3: nothing may end before its fourth token, so with MaxLength 3 nothing ends with the end token.
        var longer = BeamSearch.Run(model, prompt, new BeamSearchOptions(3, 3, MinLength: 3, LengthPenalty: 0, EndToken: 2, NBest: 3));
        Assert.That(longer[0].All(h => h.Tokens.Length == 3 && !h.Tokens.Contains(2L)), Is.True);
        Assert.That(longer[0][0].Tokens, Is.EqualTo(new long[] { 1, 1, 1 }));
    }

    [Test]
    public void TheSearchStopsOnceNoOpenHypothesisCanBeatTheFinishedOnes()
    {
        using var scope = NewDisposeScope();
        // The end token has probability 0.9 after the start: after one step nothing open (sum <= log 0.1) can beat
        // the finished log 0.9 with α = 0, so the search must stop long before MaxLength.
        var model = new BigramStepModel(new[,]
        {
            { 0.5, 0.4, 0.1 },
            { 0.4, 0.5, 0.1 },
            { 0.3, 0.3, 0.4 },
            { 0.06, 0.04, 0.9 },
        });
        var result = BeamSearch.Run(model, tensor(new long[] { 0 }, [1, 1]),
            new BeamSearchOptions(2, 50, LengthPenalty: 0, EndToken: 2));
        Assert.That(result[0][0].Tokens, Is.EqualTo(new long[] { 2 }));
        Assert.That(model.Steps, Is.EqualTo(1), "the prompt's step only: no generated token is ever stepped");

        // With α = 1 a long hypothesis could still win (its mean may rise), so the search goes on, but still ends:
        // the bound is sum / 50 for any open one.
        var patient = new BigramStepModel(new[,] { { 0.5, 0.4, 0.1 }, { 0.4, 0.5, 0.1 }, { 0.3, 0.3, 0.4 }, { 0.06, 0.04, 0.9 } });
        BeamSearch.Run(patient, tensor(new long[] { 0 }, [1, 1]), new BeamSearchOptions(2, 50, LengthPenalty: 1, EndToken: 2));
        Assert.That(patient.Steps, Is.GreaterThan(1).And.LessThan(50));
    }

    // Each token most likely repeats itself; the other entries differ so that no two sequences tie.
    private static BigramStepModel Repetitive() => new(new[,]
    {
        { 0.80, 0.10, 0.06, 0.04 },
        { 0.07, 0.80, 0.09, 0.04 },
        { 0.05, 0.08, 0.80, 0.07 },
        { 0.06, 0.05, 0.09, 0.80 },
        { 0.40, 0.30, 0.20, 0.10 },
    });

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void NoRepeatNgramHoldsAndMatchesTheFilteredEnumeration(int n)
    {
        using var scope = NewDisposeScope();
        var model = Repetitive();
        var prompt = tensor(new long[] { 0 }, [1, 1]);
        var plain = BeamSearch.Run(model, prompt, new BeamSearchOptions(3, 4, LengthPenalty: 0, NBest: 3));
        Assert.That(plain[0].Any(h => HasRepeatedNgram(h.Tokens, n)), Is.True, "without the option the model repeats");

        // A beam of 64 keeps every prefix of 3 tokens: the search is exhaustive over the sequences without repeats.
        var result = BeamSearch.Run(model, prompt,
            new BeamSearchOptions(64, 4, LengthPenalty: 0, NoRepeatNgramSize: n, NBest: 10));
        var expected = DecodingTestModels.Complete(4, 4, null, 0, (prefix, token) => !HasRepeatedNgram([.. prefix, token], n))
            .Select(tokens => (Tokens: tokens, Sum: model.LogProbability(tokens)))
            .OrderByDescending(h => h.Sum).Take(10).ToList();
        // A bigram model gives sequences with the same transitions the same probability, so ties are compared as
        // values: the same best log-probabilities, each hypothesis allowed, distinct and scored right.
        Assert.That(result[0].Select(h => h.LogProbability), Is.EqualTo(expected.Select(h => h.Sum)).Within(1e-12));
        Assert.That(result[0].Select(h => string.Join(",", h.Tokens)), Is.Unique);
        foreach (var h in result[0])
        {
            Assert.That(HasRepeatedNgram(h.Tokens, n), Is.False, string.Join(",", h.Tokens));
            Assert.That(h.LogProbability, Is.EqualTo(model.LogProbability(h.Tokens)).Within(1e-12));
        }
    }

    private static bool HasRepeatedNgram(long[] tokens, int n)
    {
        var seen = new HashSet<string>();
        for (int i = 0; i + n <= tokens.Length; i++)
            if (!seen.Add(string.Join(",", tokens[i..(i + n)]))) return true;
        return false;
    }

    /// <summary>"Never point twice" as a callback: a wide beam equals the enumeration of the allowed sequences,
    /// and the callback sees the prefixes (R, t) and input rows it is documented to see.</summary>
    [Test]
    public void AConstraintCallbackIsHonouredAndSeesThePrefixes()
    {
        using var scope = NewDisposeScope();
        var model = Repetitive();
        var calls = new List<(long Rows, long Steps, long[] BatchRows)>();
        AllowedTokens neverTwice = (prefixes, batchRows) =>
        {
            calls.Add((prefixes.shape[0], prefixes.shape[1], batchRows.data<long>().ToArray()));
            var allowed = ones([prefixes.shape[0], 4], ScalarType.Bool);
            if (prefixes.shape[1] > 0) allowed.scatter_(1, prefixes, zeros_like(prefixes, ScalarType.Bool));
            allowed[.., 3] = false; // token 3 is never allowed
            return allowed;
        };
        var result = BeamSearch.Run(model, tensor(new long[] { 0, 0 }, [2, 1]),
            new BeamSearchOptions(BeamSize: 6, MaxLength: 3, LengthPenalty: 0, NBest: 6, Allowed: neverTwice));
        var expected = DecodingTestModels.Complete(4, 3, null, 0, (prefix, token) => token != 3 && !prefix.Contains(token))
            .Select(tokens => (Tokens: tokens, Sum: model.LogProbability(tokens)))
            .OrderByDescending(h => h.Sum).ToList();
        Assert.That(expected, Has.Count.EqualTo(6), "the 3! permutations of 0, 1, 2");
        for (int row = 0; row < 2; row++)
        {
            Assert.That(result[row].Select(h => string.Join(",", h.Tokens)),
                Is.EqualTo(expected.Select(h => string.Join(",", h.Tokens))));
            Assert.That(result[row].Select(h => h.LogProbability), Is.EqualTo(expected.Select(h => h.Sum)).Within(1e-12));
        }
        Assert.That(calls.Select(c => c.Steps), Is.EqualTo(new long[] { 0, 1, 2 }), "one call per step, prefixes of t tokens");
        Assert.That(calls.All(c => c.Rows == 12 && c.BatchRows.SequenceEqual(
            Enumerable.Repeat(0L, 6).Concat(Enumerable.Repeat(1L, 6)))), Is.True, "2 rows x 6 beams, input rows in order");
    }

    [Test]
    public void AConstraintThatAllowsNothingEndsTheSearchWithFewerHypotheses()
    {
        using var scope = NewDisposeScope();
        var model = Repetitive();
        // Only token 0 is allowed, once: after it nothing is, so no hypothesis reaches MaxLength 2.
        AllowedTokens once = (prefixes, _) =>
        {
            var allowed = zeros([prefixes.shape[0], 4], ScalarType.Bool);
            if (prefixes.shape[1] == 0) allowed[.., 0] = true;
            return allowed;
        };
        var result = BeamSearch.Run(model, tensor(new long[] { 0 }, [1, 1]),
            new BeamSearchOptions(2, 2, NBest: 2, Allowed: once));
        Assert.That(result[0], Is.Empty);
    }

    [Test]
    public void ACallbackReturningTheWrongShapeIsRejectedByName()
    {
        using var scope = NewDisposeScope();
        var model = Repetitive();
        AllowedTokens wrong = (prefixes, _) => ones([prefixes.shape[0], 3], ScalarType.Bool);
        var error = Assert.Throws<ArgumentException>(() => BeamSearch.Run(model, tensor(new long[] { 0 }, [1, 1]),
            new BeamSearchOptions(2, 2, Allowed: wrong)));
        Assert.That(error!.ParamName, Is.EqualTo("Allowed"));
        Assert.That(error.Message, Does.Contain("(2, 4) bool").And.Contain("(2, 3)"));
    }

    public static IEnumerable<TestCaseData> BadOptions()
    {
        yield return new TestCaseData(new BeamSearchOptions(0, 3), "BeamSize", "got 0");
        yield return new TestCaseData(new BeamSearchOptions(2, 0), "MaxLength", "got 0");
        yield return new TestCaseData(new BeamSearchOptions(2, 3, MinLength: 4), "MinLength", "[0, 3]");
        yield return new TestCaseData(new BeamSearchOptions(2, 3, MinLength: -1), "MinLength", "got -1");
        yield return new TestCaseData(new BeamSearchOptions(2, 3, LengthPenalty: double.NaN), "LengthPenalty", "NaN");
        yield return new TestCaseData(new BeamSearchOptions(2, 3, EndToken: 4), "EndToken", "[0, 4)");
        yield return new TestCaseData(new BeamSearchOptions(2, 3, NoRepeatNgramSize: -2), "NoRepeatNgramSize", "got -2");
        yield return new TestCaseData(new BeamSearchOptions(2, 3, NBest: 3), "NBest", "[1, 2]");
        yield return new TestCaseData(new BeamSearchOptions(2, 3, NBest: 0), "NBest", "got 0");
    }

    [TestCaseSource(nameof(BadOptions))]
    public void BadOptionsAreRejectedByName(BeamSearchOptions options, string name, string fragment)
    {
        using var scope = NewDisposeScope();
        var error = Assert.Catch<ArgumentException>(() => BeamSearch.Run(Repetitive(), tensor(new long[] { 0 }, [1, 1]), options));
        Assert.That(error!.ParamName, Is.EqualTo(name));
        Assert.That(error.Message, Does.Contain(name).And.Contain(fragment));
    }

    [Test]
    public void BadPromptsAreRejectedByName()
    {
        using var scope = NewDisposeScope();
        var options = new BeamSearchOptions(2, 3);
        var empty = Assert.Throws<ArgumentException>(() => BeamSearch.Run(Repetitive(), zeros([1, 0], ScalarType.Int64), options));
        Assert.That(empty!.ParamName, Is.EqualTo("prompt"));
        var outside = Assert.Throws<ArgumentException>(() => BeamSearch.Run(Repetitive(), tensor(new long[] { 4 }, [1, 1]), options));
        Assert.That(outside!.ParamName, Is.EqualTo("prompt"));
        Assert.That(outside.Message, Does.Contain("[0, 4)"));
        Assert.Throws<ArgumentNullException>(() => BeamSearch.Run(Repetitive(), tensor(new long[] { 0 }, [1, 1]), null!));
    }
}
