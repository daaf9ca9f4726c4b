using HybridSeq.Managed;
using HybridSeq.Models;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.StateSpace;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Decoding;

/// <summary>The models the search tests decode: a small random float64 model of every family with a step mode,
/// and <see cref="BigramStepModel"/>, whose probabilities are written by hand.</summary>
internal static class DecodingTestModels
{
    // The language-model families (token tasks); the encoder-decoder families have their own step-contract tests.
    public static IEnumerable<string> Families() =>
        ModelFamilies.All.Where(f => f.TaskKinds.Contains(HybridSeq.Models.Tasks.TaskKinds.Tokens)).Select(f => f.Name);

    /// <summary>A small float64 model of <paramref name="family"/>; its logits are scaled up (the head's weights
    /// are the tied embedding, so the embedding is scaled) so that the distributions are far from uniform.</summary>
    public static LanguageModel Small(string family, int vocabulary, int seed = 5)
    {
        torch.manual_seed(seed);
        IModelConfig config = family switch
        {
            ModelFamilies.Mamba => new MambaConfig(vocabulary, ModelDimension: 8, Layers: 2, StateDimension: 3),
            ModelFamilies.Lstm => new RecurrentConfig(RnnCell.Lstm, vocabulary, ModelDimension: 6, Layers: 2, Heads: 2),
            ModelFamilies.Gru => new RecurrentConfig(RnnCell.Gru, vocabulary, ModelDimension: 6, Layers: 2),
            ModelFamilies.S4D => new StateSpaceConfig(StateSpaceKind.S4D, vocabulary, ModelDimension: 6, Layers: 2, StateDimension: 6),
            ModelFamilies.S4 => new StateSpaceConfig(StateSpaceKind.S4, vocabulary, ModelDimension: 5, Layers: 2, StateDimension: 4,
                Discretization: SsmDiscretization.Bilinear),
            ModelFamilies.Lssl => new StateSpaceConfig(StateSpaceKind.Lssl, vocabulary, ModelDimension: 5, Layers: 2, StateDimension: 5,
                Discretization: SsmDiscretization.Bilinear),
            _ => new RecurrentConfig(RnnCell.Slstm, vocabulary, ModelDimension: 6, Layers: 2, Heads: 3),
        };
        var model = ModelFamilies.Create(config);
        model.to(ScalarType.Float64);
        model.eval();
        return model;
    }

    /// <summary>The full-forward log-probability of <paramref name="generated"/> after <paramref name="prompt"/>:
    /// forward over prompt ++ generated (all but the last token) and the sum of the log-softmax entries of the
    /// generated tokens, the rescoring that beam search's scores must equal.</summary>
    public static double Rescore(LanguageModel model, long[] prompt, long[] generated)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long[] input = [.. prompt, .. generated[..^1]];
        var logProbabilities = model.forward(tensor(input, [1, input.Length])).log_softmax(-1)[0];
        double sum = 0;
        for (int i = 0; i < generated.Length; i++)
            sum += logProbabilities[prompt.Length - 1 + i, generated[i]].item<double>();
        return sum;
    }

    /// <summary>
    /// Every complete hypothesis of at most <paramref name="maxLength"/> tokens over <paramref name="vocabulary"/>:
    /// sequences without the end token of length maxLength, and where an end token is given, sequences of
    /// non-end tokens of length >= minLength followed by it. <paramref name="allowed"/> filters continuations.
    /// </summary>
    public static List<long[]> Complete(int vocabulary, int maxLength, long? end, int minLength = 0,
        Func<long[], long, bool>? allowed = null)
    {
        var complete = new List<long[]>();
        void Extend(long[] prefix)
        {
            for (long token = 0; token < vocabulary; token++)
            {
                if (allowed is not null && !allowed(prefix, token)) continue;
                long[] next = [.. prefix, token];
                if (token == end)
                {
                    if (prefix.Length >= minLength) complete.Add(next);
                }
                else if (next.Length == maxLength) complete.Add(next);
                else Extend(next);
            }
        }
        Extend([]);
        return complete;
    }

    /// <summary>Asserts that <paramref name="actual"/> lists the same hypotheses in the same order as
    /// <paramref name="expected"/> (tokens exactly, scores and log-probabilities to 1e-9).</summary>
    public static void SameHypotheses(IReadOnlyList<Hypothesis> actual, IReadOnlyList<Hypothesis> expected, string what)
    {
        Assert.That(actual.Select(h => string.Join(",", h.Tokens)), Is.EqualTo(expected.Select(h => string.Join(",", h.Tokens))),
            $"{what}: the hypotheses' tokens, best first");
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.That(actual[i].Score, Is.EqualTo(expected[i].Score).Within(1e-9), $"{what}: score of hypothesis {i}");
            Assert.That(actual[i].LogProbability, Is.EqualTo(expected[i].LogProbability).Within(1e-9),
                $"{what}: log-probability of hypothesis {i}");
            Assert.That(actual[i].EndedWithEndToken, Is.EqualTo(expected[i].EndedWithEndToken), $"{what}: ended, hypothesis {i}");
        }
    }
}

/// <summary>
/// A hand-made step model: the next token's probabilities depend on the last token only (a bigram table), so every
/// sequence's probability is a product read off the table. Prompts are one token long and ignored: the first Step
/// returns the start distribution (row V of the table, which has V + 1 rows of V probabilities). Counts its Steps.
/// </summary>
internal sealed class BigramStepModel(double[,] table) : IStepModel
{
    private readonly Tensor logTable = tensor(Flatten(table), [table.GetLength(0), table.GetLength(1)]).log().DetachFromDisposeScope();

    public int VocabularySize => table.GetLength(1);

    public int Steps { get; private set; }

    /// <summary>log p(token | previous); previous = -1 for the start.</summary>
    public double LogProbability(long previous, long token) => Math.Log(table[previous < 0 ? VocabularySize : previous, token]);

    /// <summary>The log-probability of a whole sequence from the start.</summary>
    public double LogProbability(long[] tokens)
    {
        double sum = 0;
        long previous = -1;
        foreach (long token in tokens) { sum += LogProbability(previous, token); previous = token; }
        return sum;
    }

    public IDecodingState InitialState(long batch) => new Counter(batch, 0, CPU);

    public (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state)
    {
        DecodingChecks.Tokens(tokens, 1, VocabularySize, nameof(tokens), "(Bt)");
        var counter = DecodingChecks.State<Counter>(state, tokens.shape[0], tokens.device, nameof(BigramStepModel));
        Steps++;
        var rows = counter.Count == 0 ? full([tokens.shape[0]], (long)VocabularySize, ScalarType.Int64) : tokens;
        return (logTable.index_select(0, rows), new Counter(tokens.shape[0], counter.Count + 1, tokens.device));
    }

    private static double[] Flatten(double[,] table)
    {
        var flat = new double[table.Length];
        Buffer.BlockCopy(table, 0, flat, 0, table.Length * sizeof(double));
        return flat;
    }

    private sealed class Counter(long batch, int count, Device device) : IDecodingState
    {
        public int Count => count;
        public long BatchSize => batch;
        public Device Device => device;
        public IDecodingState Select(Tensor rows) => new Counter(DecodingChecks.Rows(rows, batch, device).shape[0], count, device);
        public void Dispose() { }
    }
}
