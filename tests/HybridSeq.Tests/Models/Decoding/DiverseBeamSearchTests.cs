using HybridSeq.Models.Decoding;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Decoding;

/// <summary>Diverse beam search (<see cref="DiverseBeamSearch"/>): one group is plain beam search, λ = 0 gives each
/// group the plain beam search of B / G beams, Hamming and cumulative diversity steer as defined, and bad options
/// are rejected by name.</summary>
[TestFixture]
public sealed class DiverseBeamSearchTests
{
    public static IEnumerable<string> Families() => DecodingTestModels.Families();

    [TestCaseSource(nameof(Families))]
    public void OneGroupEqualsPlainBeamSearch(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 6);
        var prompt = tensor(new long[] { 3, 1, 2, 0, 5, 4 }, [2, 3]);
        var options = new BeamSearchOptions(BeamSize: 4, MaxLength: 6, LengthPenalty: 0.5, EndToken: 5, NBest: 3);
        var plain = BeamSearch.Run(model, prompt, options);
        foreach (var kind in new[] { DiversityKind.Hamming, DiversityKind.Cumulative })
        {
            var diverse = DiverseBeamSearch.Run(model, prompt, options, new DiversityOptions(1, 2.0, kind));
            for (int row = 0; row < 2; row++)
                DecodingTestModels.SameHypotheses(diverse[row], plain[row], $"{family}, {kind}, row {row}");
        }
    }

    [TestCaseSource(nameof(Families))]
    public void ZeroStrengthGivesEachGroupThePlainSearchOfItsBeams(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 6);
        var prompt = tensor(new long[] { 3, 1, 2, 0, 5, 4 }, [2, 3]);
        var options = new BeamSearchOptions(BeamSize: 6, MaxLength: 6, EndToken: 5, NBest: 2);
        var plain = BeamSearch.Run(model, prompt, options with { BeamSize = 2 });
        foreach (var kind in new[] { DiversityKind.Hamming, DiversityKind.Cumulative })
        {
            var diverse = DiverseBeamSearch.Run(model, prompt, options, new DiversityOptions(3, 0.0, kind));
            for (int row = 0; row < 2; row++)
            {
                Assert.That(diverse[row], Has.Count.EqualTo(6), "3 groups x NBest 2");
                for (int g = 0; g < 3; g++)
                    DecodingTestModels.SameHypotheses(diverse[row].Where(h => h.Group == g).ToList(), plain[row],
                        $"{family}, {kind}, row {row}, group {g}");
            }
        }
    }

    [TestCaseSource(nameof(Families))]
    public void DiverseScoresAreTheModelsLogProbabilitiesAndRowsAreIndependent(string family)
    {
        using var scope = NewDisposeScope();
        using var model = DecodingTestModels.Small(family, vocabulary: 6);
        long[][] prompts = [[3, 1, 2], [0, 5, 4], [2, 2, 2]];
        var options = new BeamSearchOptions(BeamSize: 4, MaxLength: 5, EndToken: 5, NBest: 2);
        var diversity = new DiversityOptions(2, 1.5, DiversityKind.Cumulative, Temperature: 2);
        var batched = DiverseBeamSearch.Run(model, tensor(prompts.SelectMany(p => p).ToArray(), [3, 3]), options, diversity);
        for (int row = 0; row < 3; row++)
        {
            var alone = DiverseBeamSearch.Run(model, tensor(prompts[row], [1, 3]), options, diversity);
            DecodingTestModels.SameHypotheses(batched[row], alone[0], $"{family}, row {row}");
            foreach (var h in batched[row])
                Assert.That(h.LogProbability, Is.EqualTo(DecodingTestModels.Rescore(model, prompts[row], h.Tokens)).Within(1e-9));
        }
    }

    // Start: 0 (0.5), 1 (0.3), 2 (0.2). After any token: 0 most likely, then 1, then 2.
    private static BigramStepModel Sticky() => new(new[,]
    {
        { 0.6, 0.3, 0.1 },
        { 0.6, 0.3, 0.1 },
        { 0.6, 0.3, 0.1 },
        { 0.5, 0.3, 0.2 },
    });

    [Test]
    public void HammingDiversityKeepsTheSecondGroupOffTheFirstGroupsTokens()
    {
        using var scope = NewDisposeScope();
        var model = Sticky();
        var prompt = tensor(new long[] { 0 }, [1, 1]);
        var options = new BeamSearchOptions(BeamSize: 2, MaxLength: 4, LengthPenalty: 0);
        // λ = 0: both groups (one beam each) are greedy: 0,0,0,0.
        var same = DiverseBeamSearch.Run(model, prompt, options, new DiversityOptions(2, 0));
        Assert.That(same[0].Select(h => string.Join(",", h.Tokens)), Is.EqualTo(new[] { "0,0,0,0", "0,0,0,0" }));
        // λ = 1: group 1 pays 1 for token 0 at every step: log 0.6 - 1 = -1.51 < log 0.3 = -1.20, so it takes 1 each time.
        var apart = DiverseBeamSearch.Run(model, prompt, options, new DiversityOptions(2, 1.0));
        var first = apart[0].Single(h => h.Group == 0);
        var second = apart[0].Single(h => h.Group == 1);
        Assert.That(first.Tokens, Is.EqualTo(new long[] { 0, 0, 0, 0 }));
        Assert.That(second.Tokens, Is.EqualTo(new long[] { 1, 1, 1, 1 }));
        Assert.That(second.LogProbability, Is.EqualTo(model.LogProbability([1, 1, 1, 1])).Within(1e-12),
            "the reported score is the model's, without the penalty");
        // λ = 0.5: log 0.6 - 0.5 = -1.01 > -1.20: the penalty is too weak to move group 1.
        var weak = DiverseBeamSearch.Run(model, prompt, options, new DiversityOptions(2, 0.5));
        Assert.That(weak[0].Single(h => h.Group == 1).Tokens, Is.EqualTo(new long[] { 0, 0, 0, 0 }));
    }

    [Test]
    public void CumulativeDiversityBacksOffOnceTheSequencesDiffer()
    {
        using var scope = NewDisposeScope();
        var model = Sticky();
        var prompt = tensor(new long[] { 0 }, [1, 1]);
        var options = new BeamSearchOptions(BeamSize: 2, MaxLength: 4, LengthPenalty: 0);
        // Step 0: the prefixes are equal (distance 0), so the penalty is 1 as in Hamming: group 1 takes 1. From then on
        // the prefixes differ in one position: with Γ = 0.5 the penalty is e^-2 = 0.14, and group 1 returns to 0.
        var result = DiverseBeamSearch.Run(model, prompt, options, new DiversityOptions(2, 1.0, DiversityKind.Cumulative, 0.5));
        Assert.That(result[0].Single(h => h.Group == 0).Tokens, Is.EqualTo(new long[] { 0, 0, 0, 0 }));
        Assert.That(result[0].Single(h => h.Group == 1).Tokens, Is.EqualTo(new long[] { 1, 0, 0, 0 }));
        // A large Γ is Hamming diversity again.
        var hamming = DiverseBeamSearch.Run(model, prompt, options, new DiversityOptions(2, 1.0, DiversityKind.Cumulative, 1e9));
        Assert.That(hamming[0].Single(h => h.Group == 1).Tokens, Is.EqualTo(new long[] { 1, 1, 1, 1 }));
    }

    public static IEnumerable<TestCaseData> BadOptions()
    {
        yield return new TestCaseData(new BeamSearchOptions(6, 3), new DiversityOptions(4, 1), "Groups", "divides BeamSize = 6");
        yield return new TestCaseData(new BeamSearchOptions(6, 3), new DiversityOptions(0, 1), "Groups", "got 0");
        yield return new TestCaseData(new BeamSearchOptions(6, 3), new DiversityOptions(2, -1), "Strength", "got -1");
        yield return new TestCaseData(new BeamSearchOptions(6, 3), new DiversityOptions(2, 1, DiversityKind.Cumulative, 0), "Temperature", "got 0");
        yield return new TestCaseData(new BeamSearchOptions(6, 3), new DiversityOptions(2, 1, (DiversityKind)7), "Kind", "got 7");
        yield return new TestCaseData(new BeamSearchOptions(6, 3, NBest: 4), new DiversityOptions(2, 1), "NBest", "[1, 3]");
    }

    [TestCaseSource(nameof(BadOptions))]
    public void BadOptionsAreRejectedByName(BeamSearchOptions options, DiversityOptions diversity, string name, string fragment)
    {
        using var scope = NewDisposeScope();
        var error = Assert.Catch<ArgumentException>(
            () => DiverseBeamSearch.Run(Sticky(), tensor(new long[] { 0 }, [1, 1]), options, diversity));
        Assert.That(error!.ParamName, Is.EqualTo(name));
        Assert.That(error.Message, Does.Contain(name).And.Contain(fragment));
    }
}
