using HybridSeq.Models;
using HybridSeq.Models.Convolutional;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Convolutional;

/// <summary>TCNCA with rows at different positions: <see cref="TcnCaBackbone.Prefill"/> of a right-padded batch of
/// sequences of different lengths, then <see cref="TcnCaBackbone.Step"/> in chunks of random sizes, gives every row
/// exactly the full forward of that row alone (chunked attention depends on each row's own position mod the chunk
/// size); selected rows keep their positions; bad lengths are refused by name. Float64, small odd sizes, chunk sizes
/// that do and do not divide the lengths, lengths 0, 1, chunk boundaries and L.</summary>
[TestFixture]
public sealed class TcnCaPrefillTests
{
    public static IEnumerable<TestCaseData> Cases()
    {
        // width, layers, heads, kernel, chunk, padded length L, the rows' lengths.
        yield return new TestCaseData(6, 2, 3, 3, 4, 11, new long[] { 11, 0, 1, 4, 8, 6 }).SetName("chunk 4 does not divide L 11");
        yield return new TestCaseData(8, 2, 2, 2, 3, 9, new long[] { 9, 3, 0, 1, 5 }).SetName("chunk 3 divides L 9");
        yield return new TestCaseData(5, 3, 1, 2, 5, 13, new long[] { 13, 5, 10, 0, 1, 7 }).SetName("chunk 5, 3 layers, L 13");
        yield return new TestCaseData(6, 3, 2, 2, 1, 7, new long[] { 7, 0, 1, 4 }).SetName("chunk 1");
        yield return new TestCaseData(4, 2, 2, 3, 8, 6, new long[] { 6, 0, 1, 3 }).SetName("chunk 8 longer than L 6");
    }

    private static TcnCaBackbone Build(int width, int layers, int heads, int kernel, int chunk)
    {
        torch.manual_seed(17);
        var backbone = (TcnCaBackbone)SequenceBackbones.Create(
            new BackboneConfig("tcnca", ModelDimension: width, Layers: layers, Heads: heads, KernelSize: kernel, ChunkSize: chunk));
        backbone.to(ScalarType.Float64);
        backbone.eval();
        return backbone;
    }

    /// <summary>Random sequences with large random values after each row's length, so that padding reaching a valid
    /// output could not go unnoticed.</summary>
    private static Tensor Padded(long[] lengths, int length, int width)
    {
        var x = randn([lengths.Length, length, width], ScalarType.Float64);
        for (int row = 0; row < lengths.Length; row++)
            if (lengths[row] < length) x[row, (int)lengths[row]..] = randn([length - lengths[row], width], ScalarType.Float64) * 25.0;
        return x;
    }

    /// <summary>The full forward of row <paramref name="row"/> alone: its valid prefix, then its continuation.</summary>
    private static Tensor Alone(TcnCaBackbone backbone, Tensor x, long length, Tensor continuation, int row)
    {
        using var noGrad = no_grad();
        return backbone.forward(cat([x[row..(row + 1), ..(int)length, ..], continuation[row..(row + 1)]], 1));
    }

    /// <summary>Steps <paramref name="continuation"/> (Bt, T, d) through in chunks of random sizes 1 .. chunk + 3.</summary>
    private static (Tensor Y, BackboneState State) StepInRandomChunks(TcnCaBackbone backbone, Tensor continuation,
        BackboneState state, int seed)
    {
        var random = new Random(seed);
        var outputs = new List<Tensor>();
        long total = continuation.shape[1];
        var current = state;
        for (long t = 0; t < total;)
        {
            long size = Math.Min(total - t, random.Next(1, backbone.ChunkSize + 4));
            var (y, next) = backbone.Step(continuation[.., (int)t..(int)(t + size), ..], current);
            if (!ReferenceEquals(current, state)) current.Dispose();
            current = next;
            outputs.Add(y);
            t += size;
        }
        return (cat(outputs, 1), current);
    }

    [TestCaseSource(nameof(Cases))]
    public void PrefillOutputsEqualTheFullForwardAndEveryRowContinuesAsIfAlone(int width, int layers, int heads, int kernel,
        int chunk, int length, long[] lengths)
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(width, layers, heads, kernel, chunk);
        var x = Padded(lengths, length, width);
        var continuation = randn([lengths.Length, 2 * chunk + 5, width], ScalarType.Float64);
        Tensor full;
        using (no_grad()) full = backbone.forward(x);
        Assert.That(full.std().item<double>(), Is.GreaterThan(1e-3), "the outputs must not be trivially constant");

        var (prefilled, state) = backbone.Prefill(x, tensor(lengths));
        Assert.That(prefilled.shape, Is.EqualTo(new long[] { lengths.Length, length, width }));
        Assert.That(state.BatchSize, Is.EqualTo(lengths.Length));
        var (continued, after) = StepInRandomChunks(backbone, continuation, state, seed: length + chunk);
        for (int row = 0; row < lengths.Length; row++)
        {
            int valid = (int)lengths[row];
            TensorAssert.Close(prefilled[row..(row + 1), ..valid], full[row..(row + 1), ..valid],
                $"row {row} (length {valid}): prefill outputs vs the padded batch's full forward");
            var expected = Alone(backbone, x, valid, continuation, row);
            TensorAssert.Close(prefilled[row..(row + 1), ..valid], expected[.., ..valid],
                $"row {row} (length {valid}): prefill outputs vs the row alone");
            TensorAssert.Close(continued[row..(row + 1)], expected[.., valid..],
                $"row {row} (length {valid}, chunk {chunk}): prefill then random-size steps vs the row alone");
            // The row's prefill state is the state of streaming its valid prefix alone: same layout, same values
            // (the unfilled key/value slots zero, the padding left out).
            var own = state.SelectRows(tensor(new long[] { row }));
            using var reference = valid == 0 ? backbone.InitialState(1) : backbone.Step(x[row..(row + 1), ..valid], backbone.InitialState(1)).Next;
            for (int i = 0; i < own.Tensors.Count - 1; i++)
                TensorAssert.Close(own.Tensors[i], reference.Tensors[i], $"row {row} (length {valid}): state tensor {i} vs streaming it alone");
            TensorAssert.Identical(own.Tensors[^1], reference.Tensors[^1], $"row {row} (length {valid}): position");
            own.Dispose();
        }
        TensorAssert.Identical(after.Tensors[^1], tensor(lengths) + continuation.shape[1], "each row's position after the steps");
        after.Dispose();

        // Padding that is not finite changes nothing either.
        var inside = arange(length).unsqueeze(0).lt(tensor(lengths).unsqueeze(1)).unsqueeze(2);
        var (nanPrefilled, nanState) = backbone.Prefill(where(inside, x, double.NaN), tensor(lengths));
        var (nanContinued, _) = backbone.Step(continuation, nanState);
        for (int row = 0; row < lengths.Length; row++)
            TensorAssert.Close(nanPrefilled[row..(row + 1), ..(int)lengths[row]], prefilled[row..(row + 1), ..(int)lengths[row]],
                $"row {row}: prefill outputs with NaN padding");
        TensorAssert.Close(nanContinued, continued, "the continuation after a prefill with NaN padding");
    }

    [TestCaseSource(nameof(Cases))]
    public void SelectedRowsAfterPrefillKeepTheirPositionsAndStepsLeaveThePrefillStateAlone(int width, int layers, int heads,
        int kernel, int chunk, int length, long[] lengths)
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(width, layers, heads, kernel, chunk);
        var x = Padded(lengths, length, width);
        var (_, state) = backbone.Prefill(x, tensor(lengths));
        var before = state.Tensors.Select(t => t.clone()).ToArray();
        // Reordered, repeated and dropped rows, as beam search selects them (row 1: length 0 or exactly one chunk).
        long[] picks = [lengths.Length - 1, 0, lengths.Length - 1, 1];
        var rows = tensor(picks);
        var selected = state.SelectRows(rows);
        TensorAssert.Identical(selected.Tensors[^1], tensor(lengths).index_select(0, rows), "the positions follow their rows");
        var continuation = randn([picks.Length, chunk + 6, width], ScalarType.Float64);
        var (continued, _) = StepInRandomChunks(backbone, continuation, selected, seed: 3 * chunk + length);
        var sources = x.index_select(0, rows);
        for (int i = 0; i < picks.Length; i++)
        {
            long valid = lengths[picks[i]];
            var expected = Alone(backbone, sources, valid, continuation, i);
            TensorAssert.Close(continued[i..(i + 1)], expected[.., (int)valid..],
                $"selected row {i} (row {picks[i]}, length {valid}) continues its own sequence");
        }
        var (_, again) = backbone.Step(randn([lengths.Length, 3, width], ScalarType.Float64), state);
        again.Dispose();
        for (int i = 0; i < before.Length; i++)
            Assert.That(state.Tensors[i].eq(before[i]).all().item<bool>(), Is.True, $"prefill state tensor {i} unchanged by the steps");
    }

    /// <summary>All rows at L: the prefill's state is the state of streaming the batch from the initial state (same
    /// layout, same values), so either can be continued.</summary>
    [TestCase(4, 11)]
    [TestCase(3, 9)]
    public void PrefillOfFullLengthRowsEqualsStreamingFromTheInitialState(int chunk, int length)
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(6, 2, 2, 3, chunk);
        var x = randn([3, length, 6], ScalarType.Float64);
        var (prefilled, state) = backbone.Prefill(x, full([3], length, ScalarType.Int64));
        var (streamed, reference) = backbone.Step(x, backbone.InitialState(3));
        TensorAssert.Close(prefilled, streamed, "prefill vs streaming outputs");
        Assert.That(state.Tensors.Count, Is.EqualTo(reference.Tensors.Count), "state tensors");
        for (int i = 0; i < state.Tensors.Count - 1; i++)
            TensorAssert.Close(state.Tensors[i], reference.Tensors[i], $"state tensor {i}");
        TensorAssert.Identical(state.Tensors[^1], reference.Tensors[^1], "positions");
    }

    [Test]
    public void BadPrefillInputsAreRefusedByName()
    {
        using var scope = NewDisposeScope();
        using var backbone = Build(6, 2, 2, 3, 4);
        var x = randn([3, 9, 6], ScalarType.Float64);
        string Refused(Func<object> prefill) => Assert.Throws<ArgumentException>(() => prefill())!.ParamName!;
        Assert.That(Refused(() => backbone.Prefill(x, tensor(new long[] { 9, 10, 1 }))), Is.EqualTo("lengths"), "a length past L");
        Assert.That(Refused(() => backbone.Prefill(x, tensor(new long[] { 9, -1, 1 }))), Is.EqualTo("lengths"), "a negative length");
        Assert.That(Refused(() => backbone.Prefill(x, tensor(new int[] { 9, 4, 1 }))), Is.EqualTo("lengths"), "int32 lengths");
        Assert.That(Refused(() => backbone.Prefill(x, tensor(new long[] { 9, 4 }))), Is.EqualTo("lengths"), "too few lengths");
        Assert.That(Refused(() => backbone.Prefill(x, tensor(new long[,] { { 9, 4, 1 } }))), Is.EqualTo("lengths"), "2-d lengths");
        Assert.That(Refused(() => backbone.Prefill(x, null!)), Is.EqualTo("lengths"), "null lengths");
        Assert.That(Refused(() => backbone.Prefill(randn([3, 9, 5], ScalarType.Float64), tensor(new long[] { 9, 4, 1 }))), Is.EqualTo("x"), "the wrong width");
        Assert.That(Refused(() => backbone.Prefill(randn([3, 0, 6], ScalarType.Float64), tensor(new long[] { 0, 0, 0 }))), Is.EqualTo("x"), "no steps");
        Assert.That(Assert.Throws<ArgumentNullException>(() => backbone.Prefill(null!, tensor(new long[] { 9, 4, 1 })))!.ParamName, Is.EqualTo("x"), "null x");
    }
}
