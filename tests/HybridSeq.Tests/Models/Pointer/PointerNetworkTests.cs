using HybridSeq.Models.Decoding;
using HybridSeq.Models.Pointer;
using HybridSeq.Models.Tasks.Geometry;
using HybridSeq.Models.Tasks.Pointer;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Pointer;

[TestFixture]
public sealed class PointerNetworkTests
{
    private static PointerNetwork Network(PointerEncoder encoder, int processSteps = 0, int features = 2, int seed = 3)
    {
        manual_seed(seed);
        var network = new PointerNetwork(new PointerNetworkConfig(encoder, features, HiddenSize: 16,
            ProcessSteps: processSteps, AttentionSize: 12));
        network.to(ScalarType.Float64);
        network.eval();
        return network;
    }

    private static readonly object[] Encoders =
    [
        new object[] { PointerEncoder.Lstm, 0 },
        new object[] { PointerEncoder.ReadProcessWrite, 0 },
        new object[] { PointerEncoder.ReadProcessWrite, 3 },
    ];

    [TestCaseSource(nameof(Encoders))]
    public void StepModeEqualsTheTeacherForcedForward(PointerEncoder encoder, int processSteps)
    {
        using var scope = NewDisposeScope();
        var network = Network(encoder, processSteps);
        var task = new TspTask(3, 6);
        var examples = task.SampleExamples(5, seed: 11);
        Assert.That(examples.Select(e => e.Size).Distinct().Count(), Is.GreaterThan(1), "mixed sizes: padding is exercised");
        var (inputs, lengths, targets) = PointerTasks.ToTensors(examples, 2, CPU, ScalarType.Float64);
        var full = network.forward(inputs, lengths, targets);                   // (B, T, N + 1)
        using var model = network.EncodeForDecoding(inputs, lengths);
        Assert.That(model.VocabularySize, Is.EqualTo(inputs.shape[1] + 1));
        IDecodingState state = model.InitialState(examples.Length);
        var tokens = zeros(examples.Length, ScalarType.Int64);
        for (long t = 0; t < targets.shape[1]; t++)
        {
            var (logits, next) = model.Step(tokens, state);
            state.Dispose();
            state = next;
            var expected = full[.., t];
            Assert.That(logits.isinf().eq(expected.isinf()).all().item<bool>(), Is.True, $"the same masked positions at step {t}");
            var finite = expected.isfinite();
            Assert.That((logits.masked_select(finite) - expected.masked_select(finite)).abs().max().item<double>(),
                Is.LessThan(1e-10), $"step {t}");
            tokens = targets[.., t].clamp_min(0);
        }
        state.Dispose();
    }

    [TestCaseSource(nameof(Encoders))]
    public void ThePointerDistributionSumsToOneOverTheValidPositions(PointerEncoder encoder, int processSteps)
    {
        using var scope = NewDisposeScope();
        var network = Network(encoder, processSteps);
        var examples = new ConvexHullTask(3, 7).SampleExamples(6, seed: 5);
        var (inputs, lengths, targets) = PointerTasks.ToTensors(examples, 2, CPU, ScalarType.Float64);
        var probabilities = softmax(network.forward(inputs, lengths, targets), -1);
        var sums = probabilities.sum(-1);
        Assert.That((sums - 1).abs().max().item<double>(), Is.LessThan(1e-12));
        for (int b = 0; b < examples.Length; b++)
        {
            // Positions 1..n are the row's elements; beyond them (padding) the probability is exactly zero.
            var padding = probabilities[b, .., (examples[b].Size + 1)..];
            Assert.That(padding.numel() == 0 || padding.abs().max().item<double>() == 0, Is.True, $"row {b} padding");
            Assert.That(probabilities[b, .., ..(examples[b].Size + 1)].min().item<double>(), Is.GreaterThan(0));
        }
    }

    private static (Tensor Inputs, Tensor Lengths, Tensor Permuted, long[][] Permutations) PermutedSets(int seed)
    {
        var examples = new SortNumbersTask(3, 7).SampleExamples(4, seed);
        var (inputs, lengths, _) = PointerTasks.ToTensors(examples, 1, CPU, ScalarType.Float64);
        var random = new Random(seed);
        var permuted = inputs.clone();
        var permutations = new long[examples.Length][];
        for (int b = 0; b < examples.Length; b++)
        {
            int n = examples[b].Size;
            var permutation = Enumerable.Range(0, n).Select(i => (long)i).OrderBy(_ => random.Next()).ToArray();
            if (permutation.SequenceEqual(Enumerable.Range(0, n).Select(i => (long)i)))
                (permutation[0], permutation[1]) = (permutation[1], permutation[0]);
            permutations[b] = permutation;
            // Element i of the permuted row is element permutation[i] of the original.
            permuted[b, ..n] = inputs[b, ..n].index_select(0, tensor(permutation));
        }
        return (inputs, lengths, permuted, permutations);
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(5)]
    public void PermutingTheSetLeavesTheProcessBlockUnchanged(int processSteps)
    {
        using var scope = NewDisposeScope();
        var network = Network(PointerEncoder.ReadProcessWrite, processSteps, features: 1);
        var (inputs, lengths, permuted, _) = PermutedSets(seed: 21);
        var original = network.ProcessBlock(inputs, lengths);
        var afterPermutation = network.ProcessBlock(permuted, lengths);
        Assert.That(original.shape, Is.EqualTo(new long[] { 4, 32 }));
        Assert.That((original - afterPermutation).abs().max().item<double>(), Is.LessThan(1e-12));
        if (processSteps > 0)
            Assert.That(original.abs().max().item<double>(), Is.GreaterThan(1e-3), "the block computes something");
    }

    /// <summary>The first pointer distribution, with the permuted network's positions mapped back to the original
    /// elements; equal for read-process-write, different for the order-sensitive LSTM encoder (so the invariance
    /// test above is one that an order-sensitive encoder fails).</summary>
    [TestCase(PointerEncoder.ReadProcessWrite, 5, true)]
    [TestCase(PointerEncoder.Lstm, 0, false)]
    public void OnlyReadProcessWriteIsInvariantToTheInputOrder(PointerEncoder encoder, int processSteps, bool invariant)
    {
        using var scope = NewDisposeScope();
        var network = Network(encoder, processSteps, features: 1);
        var (inputs, lengths, permuted, permutations) = PermutedSets(seed: 22);
        var go = zeros([inputs.shape[0], 1], ScalarType.Int64);
        var original = network.forward(inputs, lengths, go)[.., 0];
        var afterPermutation = network.forward(permuted, lengths, go)[.., 0];
        double largest = 0;
        for (int b = 0; b < permutations.Length; b++)
        {
            for (int i = 0; i < permutations[b].Length; i++)
            {
                double a = original[b, permutations[b][i] + 1].item<double>(), p = afterPermutation[b, i + 1].item<double>();
                largest = Math.Max(largest, Math.Abs(a - p));
            }
            largest = Math.Max(largest, Math.Abs(original[b, 0].item<double>() - afterPermutation[b, 0].item<double>()));
        }
        if (invariant) Assert.That(largest, Is.LessThan(1e-12));
        else Assert.That(largest, Is.GreaterThan(1e-6));
    }

    [Test]
    public void SelectKeepsReordersAndRepeatsHypotheses()
    {
        using var scope = NewDisposeScope();
        var network = Network(PointerEncoder.Lstm);
        var examples = new TspTask(4, 6).SampleExamples(3, seed: 2);
        var (inputs, lengths, _) = PointerTasks.ToTensors(examples, 2, CPU, ScalarType.Float64);
        using var model = network.EncodeForDecoding(inputs, lengths);
        // Two hypotheses per set (rows r decode set r / 2), stepped with different tokens.
        var state = model.InitialState(6);
        var tokens = tensor(new long[] { 0, 1, 0, 2, 0, 3 });
        var (_, next) = model.Step(tokens, state);
        var rows = tensor(new long[] { 5, 0, 0, 3 });
        using var selected = next.Select(rows);
        var probe = tensor(new long[] { 1, 2, 2, 1 });
        var (fromSelected, _) = model.Step(probe, selected);
        var (fromAll, _) = model.Step(tensor(new long[] { 2, 0, 3, 1, 0, 1 }), next);
        // Row i of the selected state is row rows[i] of next: its logits for probe[i] equal stepping that row.
        var reference = model.Step(probe, next.Select(rows)).Logits;
        Assert.That(fromSelected.allclose(reference), Is.True);
        Assert.That(fromSelected[1].allclose(fromSelected[2]), Is.True, "a repeated row");
        Assert.That(fromAll[5].allclose(fromSelected[0]), Is.True, "row 0 of the selection is row 5, token 1 in both");
        Assert.That(fromSelected[0].allclose(fromSelected[3]), Is.False, "rows of different histories differ");
        Assert.That(state.BatchSize, Is.EqualTo(6), "the state a step came from is unchanged");
        state.Dispose();
        next.Dispose();
        // The stepped state shares memory with the one it came from: disposing the parent must not break it.
        var first = model.InitialState(3);
        var (_, second) = model.Step(zeros(3, ScalarType.Int64), first);
        first.Dispose();
        Assert.That(model.Step(tensor(new long[] { 1, 1, 1 }), second).Logits.isfinite().any().item<bool>(), Is.True);
        second.Dispose();
    }

    [Test]
    public void BadArgumentsAreNamed()
    {
        using var scope = NewDisposeScope();
        var network = Network(PointerEncoder.Lstm);
        var inputs = rand(2, 4, 2, ScalarType.Float64);
        var targets = zeros([2, 3], ScalarType.Int64);
        Assert.That(Assert.Throws<ArgumentException>(() => network.forward(rand(2, 4, 3, ScalarType.Float64), null, targets))!
            .ParamName, Is.EqualTo("inputs"));
        Assert.That(Assert.Throws<ArgumentException>(() => network.forward(rand(2, 4, 2), null, targets))!
            .Message, Does.Contain("Float64"));
        Assert.That(Assert.Throws<ArgumentException>(() => network.forward(inputs, tensor(new long[] { 0, 4 }), targets))!
            .ParamName, Is.EqualTo("lengths"));
        Assert.That(Assert.Throws<ArgumentException>(() => network.forward(inputs, tensor(new long[] { 2, 5 }), targets))!
            .Message, Does.Contain("[1, 4]"));
        Assert.That(Assert.Throws<ArgumentException>(() => network.forward(inputs, null, full([2, 3], 5L)))!
            .ParamName, Is.EqualTo("targets"));
        using var model = network.EncodeForDecoding(inputs, null);
        var state = model.InitialState(2);
        Assert.That(Assert.Throws<ArgumentException>(() => model.Step(tensor(new long[] { 0, 5 }), state))!
            .ParamName, Is.EqualTo("tokens"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => model.InitialState(3))!.ParamName, Is.EqualTo("batch"));
        using var other = network.EncodeForDecoding(inputs, null);
        Assert.That(Assert.Throws<ArgumentException>(() => other.Step(zeros(2, ScalarType.Int64), state))!
            .ParamName, Is.EqualTo("state"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() =>
            new PointerNetwork(new PointerNetworkConfig(PointerEncoder.Lstm, ProcessSteps: 2)))!.ParamName, Is.EqualTo("ProcessSteps"));
        state.Dispose();
    }

    private static readonly IPointerTask[] Tasks =
        [new ConvexHullTask(4, 9), new DelaunayTask(4, 7), new TspTask(4, 7), new SortNumbersTask(3, 8)];

    [TestCaseSource(nameof(Tasks))]
    public void ConstrainedGreedyDecodingHonoursTheConstraints(IPointerTask task)
    {
        using var scope = NewDisposeScope();
        var network = Network(PointerEncoder.Lstm, features: task.InputFeatures, seed: 8);
        var examples = task.SampleExamples(24, seed: 4);
        var constrained = PointerDecoding.Greedy(network, task, examples, constrained: true);
        for (int e = 0; e < examples.Length; e++)
        {
            var constraint = task.Constraint(examples[e]);
            var prediction = constrained[e];
            for (int i = 0; i < prediction.Length; i++)
                Assert.That(constraint.AllowsElement(prediction[..i], prediction[i]), Is.True,
                    $"example {e}: element {i} of [{string.Join(", ", prediction)}]");
            Assert.That(constraint.AllowsEnd(prediction) ||
                        !Enumerable.Range(0, examples[e].Size).Any(j => constraint.AllowsElement(prediction, j)), Is.True,
                $"example {e} ends where it may");
            if (task is not DelaunayTask)  // triangles share points
                Assert.That(prediction.Distinct().Count(), Is.EqualTo(prediction.Length - (task is TspTask ? 1 : 0)),
                    "never twice");
        }
        if (task is TspTask)
            Assert.That(examples.Select((e, i) => GeometryMetrics.ValidTourLength(e.Points!, constrained[i])), Has.None.Null);
        if (task is SortNumbersTask)
            Assert.That(constrained.Select((p, i) => p.Order().SequenceEqual(Enumerable.Range(0, examples[i].Size))), Has.All.True);
    }

    [Test]
    public void UnconstrainedDecodingOfAnUntrainedNetworkBreaksTheRules()
    {
        // The constraint test above is meaningful only if decoding without it breaks them.
        using var scope = NewDisposeScope();
        var task = new SortNumbersTask(5, 8);
        var network = Network(PointerEncoder.Lstm, features: 1, seed: 8);
        var examples = task.SampleExamples(24, seed: 4);
        var free = PointerDecoding.Greedy(network, task, examples, constrained: false);
        Assert.That(free.Count(p => p.Distinct().Count() != p.Length || p.Length != 5), Is.GreaterThan(0));
    }

    [TestCaseSource(nameof(Tasks))]
    public void ConstrainedBeamSearchHonoursTheConstraintsAndBeamOneIsGreedy(IPointerTask task)
    {
        using var scope = NewDisposeScope();
        var network = Network(PointerEncoder.Lstm, features: task.InputFeatures, seed: 8);
        var examples = task.SampleExamples(8, seed: 6);
        var greedy = PointerDecoding.Greedy(network, task, examples, constrained: true);
        var beamOne = PointerDecoding.Beam(network, task, examples, beamSize: 1, constrained: true);
        Assert.That(beamOne, Is.EqualTo(greedy), "beam 1 = constrained greedy");
        var beam = PointerDecoding.Beam(network, task, examples, beamSize: 4, constrained: true);
        for (int e = 0; e < examples.Length; e++)
        {
            var constraint = task.Constraint(examples[e]);
            for (int i = 0; i < beam[e].Length; i++)
                Assert.That(constraint.AllowsElement(beam[e][..i], beam[e][i]), Is.True,
                    $"example {e}: element {i} of [{string.Join(", ", beam[e])}]");
        }
    }
}
