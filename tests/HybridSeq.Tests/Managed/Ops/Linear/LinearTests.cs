using System.Runtime.InteropServices;
using HybridSeq.Managed;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>One shape of a dense projection: input (Leading..., K), weight (N, K), bias (N) or none.</summary>
public sealed record LinearCase(long[] Leading, long K, long N, bool HasBias)
{
    public long[] InputShape => [.. Leading, K];

    public long[] OutputShape => [.. Leading, N];

    /// <summary>A seed derived from the configuration alone (record hash codes vary between processes).</summary>
    public long Seed => Leading.Aggregate(17L, (s, d) => s * 31 + d + 1) * 1_000_003 + K * 10_007 + N * 7 +
                        (HasBias ? 1 : 0);

    public override string ToString() =>
        $"x{string.Join("x", InputShape)} w{N}x{K} {(HasBias ? "bias" : "nobias")}";
}

/// <summary>Linear.Forward (y = x W^T + b) against nn.functional.linear computed in float64: every input
/// rank, odd and empty sizes, non-contiguous operands, gradients (finite differences and linear's autograd),
/// partial requires_grad, inference without a graph, bitwise repeatability and thread-count independence, argument
/// errors, the libtorch fallback for other dtypes, and CUDA (Ignored without a GPU).</summary>
[TestFixture]
public sealed class LinearTests
{
    private static readonly long[] InFeatures = [1, 7, 300];
    private static readonly long[] OutFeatures = [1, 17, 1030];

    /// <summary>Leading dimensions: ranks 1 to 4, a single row, zero rows.</summary>
    private static readonly long[][] LeadingShapes = [[], [1], [5], [3, 5], [0, 4], [2, 3, 5]];

    /// <summary>Relative error bound, per dtype, of one dot product measured against sum |x_k w_k| + |b|.</summary>
    private static double RelativeTolerance(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => 1e-12,
        ScalarType.Float32 => 1e-5,
        ScalarType.Float16 => 5e-3,
        ScalarType.BFloat16 => 3e-2,
        _ => throw new ArgumentException($"dtype: expected a floating dtype, got {dtype}.", nameof(dtype)),
    };

    public static IEnumerable<LinearCase> ForwardCases()
    {
        foreach (long k in InFeatures)
        foreach (long n in OutFeatures)
        foreach (long[] leading in LeadingShapes)
        foreach (bool hasBias in new[] { true, false })
            yield return new LinearCase(leading, k, n, hasBias);
    }

    // -------------------------------------------------------------------------------------------------------------
    // Helpers
    // -------------------------------------------------------------------------------------------------------------

    private static Tensor Normal(torch.Generator generator, ScalarType dtype, params long[] shape) =>
        torch.randn(shape, dtype: ScalarType.Float64, generator: generator).to(dtype);

    private static (Tensor X, Tensor W, Tensor? B) MakeInputs(LinearCase c, ScalarType dtype, long seed)
    {
        var generator = new torch.Generator((ulong)seed);
        Tensor x = Normal(generator, dtype, c.InputShape);
        Tensor w = Normal(generator, dtype, c.N, c.K);
        Tensor? b = c.HasBias ? Normal(generator, dtype, c.N) : null;
        return (x, w, b);
    }

    private static Tensor? ToDouble(Tensor? t) => t?.detach().to(ScalarType.Float64);

    /// <summary>nn.functional.linear in float64 on the same values.</summary>
    private static Tensor Reference(Tensor x, Tensor w, Tensor? b) =>
        nn.functional.linear(ToDouble(x)!, ToDouble(w)!, ToDouble(b));

    /// <summary>sum_k |x_k| |w_nk| + |b_n|: the scale of the rounding error of each output element.</summary>
    private static Tensor Magnitude(Tensor x, Tensor w, Tensor? b) =>
        nn.functional.linear(ToDouble(x)!.abs(), ToDouble(w)!.abs(), ToDouble(b)?.abs());

    /// <summary>Asserts equal shapes and |actual - expected| &lt;= relative * magnitude elementwise; the failure
    /// message names the worst element.</summary>
    private static void CloseRelativeTo(Tensor actual, Tensor expected, Tensor magnitude, double relative,
        string what)
    {
        Assert.That(actual.shape, Is.EqualTo(expected.shape), $"{what}: shape");
        Assert.That(magnitude.shape, Is.EqualTo(expected.shape), $"{what}: shape of the magnitude (test bug)");
        if (actual.numel() == 0)
            return;
        using var scope = torch.NewDisposeScope();
        Tensor a = actual.detach().cpu().to(ScalarType.Float64);
        Tensor e = expected.detach().cpu().to(ScalarType.Float64);
        Tensor bound = magnitude.detach().cpu().to(ScalarType.Float64) * relative;
        Assert.That(a.isfinite().all().item<bool>(), Is.True, $"{what}: non-finite values");
        Tensor excess = (a - e).abs() - bound;
        double worstExcess = excess.max().item<double>();
        if (worstExcess <= 0)
            return;
        long worst = excess.flatten().argmax().item<long>();
        Assert.Fail($"{what}: differs beyond {relative:g3} x magnitude; worst at flat index {worst}: actual " +
                    $"{a.flatten()[worst].item<double>():g17}, expected {e.flatten()[worst].item<double>():g17}, " +
                    $"allowed {bound.flatten()[worst].item<double>():g6}.");
    }

    /// <summary>sum(y * g): a loss whose gradient with respect to y is g (random, so every output matters).</summary>
    private static Tensor Loss(Tensor y, Tensor g) => (y * g).sum();

    /// <summary>Gradients of sum(y * g) through nn.functional.linear in float64 on the values of x, w, b, and the
    /// magnitudes their rounding errors scale with.</summary>
    private static (Tensor Dx, Tensor Dw, Tensor? Db, Tensor MagDx, Tensor MagDw, Tensor? MagDb) ReferenceGradients(
        Tensor x, Tensor w, Tensor? b, Tensor g)
    {
        Tensor x64 = ToDouble(x)!.requires_grad_(true);
        Tensor w64 = ToDouble(w)!.requires_grad_(true);
        Tensor? b64 = ToDouble(b)?.requires_grad_(true);
        Tensor g64 = ToDouble(g)!;
        Loss(nn.functional.linear(x64, w64, b64), g64).backward();
        long k = w.shape[1], n = w.shape[0];
        Tensor xRows = x64.detach().abs().reshape(-1, k), gRows = g64.abs().reshape(-1, n);
        Tensor magDx = gRows.matmul(w64.detach().abs()).reshape(x.shape);
        Tensor magDw = gRows.t().matmul(xRows);
        Tensor? magDb = b is null ? null : gRows.sum(dim: 0);
        return (x64.grad!, w64.grad!, b64?.grad, magDx, magDw, magDb);
    }

    private static Tensor LeafLike(Tensor t, bool requiresGrad) => t.detach().clone().requires_grad_(requiresGrad);

    // -------------------------------------------------------------------------------------------------------------
    // 1. Forward
    // -------------------------------------------------------------------------------------------------------------

    [TestCaseSource(nameof(ForwardCases))]
    public void ForwardMatchesLinearFloat64(LinearCase linearCase) => CompareForward(linearCase, ScalarType.Float64);

    [TestCaseSource(nameof(ForwardCases))]
    public void ForwardMatchesLinearFloat32(LinearCase linearCase) => CompareForward(linearCase, ScalarType.Float32);

    private static void CompareForward(LinearCase linearCase, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        (Tensor x, Tensor w, Tensor? b) = MakeInputs(linearCase, dtype, linearCase.Seed);
        Tensor xBefore = x.clone(), wBefore = w.clone();
        Tensor? bBefore = b?.clone();
        Assert.That(Linear.RunsNatively(x), Is.True, "CPU float32 / float64 runs the native kernel");

        Tensor y = Linear.Forward(x, w, b);

        Assert.That(y.dtype, Is.EqualTo(dtype), "dtype of y");
        Assert.That(y.device_type, Is.EqualTo(DeviceType.CPU), "device of y");
        Assert.That(y.shape, Is.EqualTo(linearCase.OutputShape), "shape of y");
        CloseRelativeTo(y, Reference(x, w, b), Magnitude(x, w, b), RelativeTolerance(dtype), "y");
        TensorAssert.Identical(x, xBefore, "input left untouched");
        TensorAssert.Identical(w, wBefore, "weight left untouched");
        if (b is not null)
            TensorAssert.Identical(b, bBefore!, "bias left untouched");
    }

    /// <summary>Strided operands: a transposed input (ranks 2 and 3), an expanded (stride-0) input, a transposed
    /// weight, a column-strided weight and a strided bias; forward and the gradients reaching the base tensors.</summary>
    [TestCase(ScalarType.Float64)]
    [TestCase(ScalarType.Float32)]
    public void NonContiguousOperandsMatchLinear(ScalarType dtype)
    {
        const long m = 13, k = 7, n = 17, t = 5;
        var generator = new torch.Generator(91);
        var layouts = new (string Name, Tensor XBase, Func<Tensor, Tensor> XView, Tensor WBase,
            Func<Tensor, Tensor> WView, Tensor? BBase, Func<Tensor, Tensor>? BView)[]
        {
            ("transposed input (M, K)", Normal(generator, dtype, k, m), v => v.t(),
                Normal(generator, dtype, n, k), v => v, Normal(generator, dtype, n), v => v),
            ("transposed input (B, T, K)", Normal(generator, dtype, 3, k, t), v => v.transpose(1, 2),
                Normal(generator, dtype, n, k), v => v, null, null),
            ("expanded input", Normal(generator, dtype, 1, k), v => v.expand(m, k),
                Normal(generator, dtype, n, k), v => v, Normal(generator, dtype, n), v => v),
            ("transposed weight", Normal(generator, dtype, 2, m, k), v => v,
                Normal(generator, dtype, k, n), v => v.t(), Normal(generator, dtype, n), v => v),
            ("column-strided weight and strided bias", Normal(generator, dtype, m, k), v => v,
                Normal(generator, dtype, n, 2 * k), v => v.slice(1, 0, 2 * k, 2),
                Normal(generator, dtype, 2 * n), v => v.slice(0, 0, 2 * n, 2)),
            ("everything strided", Normal(generator, dtype, 3, k, t), v => v.transpose(1, 2),
                Normal(generator, dtype, k, n), v => v.t(), Normal(generator, dtype, 2 * n), v => v.slice(0, 0, 2 * n, 2)),
        };
        double relative = RelativeTolerance(dtype);
        foreach (var layout in layouts)
        {
            using var scope = torch.NewDisposeScope();
            Tensor xBase = LeafLike(layout.XBase, true), wBase = LeafLike(layout.WBase, true);
            Tensor? bBase = layout.BBase is null ? null : LeafLike(layout.BBase, true);
            Tensor x = layout.XView(xBase), w = layout.WView(wBase);
            Tensor? b = bBase is null ? null : layout.BView!(bBase);
            Assert.That(x.is_contiguous() && w.is_contiguous() && (b?.is_contiguous() ?? true), Is.False,
                $"{layout.Name}: the case must have a non-contiguous operand");

            Tensor y = Linear.Forward(x, w, b);
            CloseRelativeTo(y, Reference(x, w, b), Magnitude(x, w, b), relative, $"{layout.Name}: y");

            Tensor g = Normal(generator, dtype, y.shape);
            Loss(y, g).backward();
            // The reference: linear's float64 autograd through the same views of float64 copies of the bases.
            Tensor xBase64 = LeafLike(ToDouble(xBase)!, true), wBase64 = LeafLike(ToDouble(wBase)!, true);
            Tensor? bBase64 = bBase is null ? null : LeafLike(ToDouble(bBase)!, true);
            Loss(nn.functional.linear(layout.XView(xBase64), layout.WView(wBase64),
                bBase64 is null ? null : layout.BView!(bBase64)), ToDouble(g)!).backward();
            // Gradients of a base gather sums over its views (the expanded input sums M rows), so compare against the
            // float64 gradient with a bound scaled by the largest magnitude of the products involved.
            double scale = (ToDouble(g)!.abs().sum().item<double>() + 1) *
                           Math.Max(ToDouble(x)!.abs().max().item<double>(), ToDouble(w)!.abs().max().item<double>());
            TensorAssert.Close(xBase.grad!, xBase64.grad!, 0, relative * scale, $"{layout.Name}: dx");
            TensorAssert.Close(wBase.grad!, wBase64.grad!, 0, relative * scale, $"{layout.Name}: dw");
            if (bBase is not null)
                TensorAssert.Close(bBase.grad!, bBase64!.grad!, 0, relative * scale, $"{layout.Name}: db");
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // 2. Gradients
    // -------------------------------------------------------------------------------------------------------------

    /// <summary>The independent check: central differences of the op itself in float64, every input.</summary>
    [TestCase(new long[] { 2, 3 }, 4L, 5L, true)]
    [TestCase(new long[] { 2, 3 }, 4L, 5L, false)]
    [TestCase(new long[0], 3L, 2L, true)]
    [TestCase(new long[] { 2, 1, 2 }, 1L, 3L, true)]
    public void GradientsMatchFiniteDifferences(long[] leading, long k, long n, bool hasBias)
    {
        using var scope = torch.NewDisposeScope();
        var linearCase = new LinearCase(leading, k, n, hasBias);
        (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, ScalarType.Float64, seed: 11);
        Tensor x = LeafLike(x0, true), w = LeafLike(w0, true);
        Tensor? b = b0 is null ? null : LeafLike(b0, true);
        Tensor g = torch.randn(linearCase.OutputShape, dtype: ScalarType.Float64, generator: new torch.Generator(12));
        Loss(Linear.Forward(x, w, b), g).backward();

        double LossValue()
        {
            using var inner = torch.NewDisposeScope();
            return Loss(Linear.Forward(x, w, b), g).item<double>();
        }

        var inputs = new List<(string Name, Tensor Tensor)> { ("x", x), ("w", w) };
        if (b is not null)
            inputs.Add(("b", b));
        foreach ((string name, Tensor input) in inputs)
        {
            Assert.That(input.grad, Is.Not.Null, $"d{name} was not produced");
            Tensor numeric = FiniteDifference.Gradient(LossValue, input);
            TensorAssert.Close(input.grad!, numeric, 1e-6, 1e-7, $"d{name} vs finite differences");
        }
    }

    public static IEnumerable<TestCaseData> GradientCases()
    {
        var cases = new[]
        {
            new LinearCase([3, 5], 7, 17, true),
            new LinearCase([], 7, 17, true),
            new LinearCase([2, 3, 5], 300, 33, true),
            new LinearCase([1], 300, 1030, false),
            new LinearCase([37], 1, 1, true),
            new LinearCase([0, 4], 7, 17, true),
        };
        foreach (ScalarType dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        foreach (LinearCase c in cases)
            yield return new TestCaseData(c, dtype);
    }

    /// <summary>Every gradient against linear's autograd on the same values (computed in float64; for float32 also
    /// against linear's own float32 autograd).</summary>
    [TestCaseSource(nameof(GradientCases))]
    public void GradientsMatchLinearAutograd(LinearCase linearCase, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, dtype, 100 + linearCase.Seed);
        Tensor g = Normal(new torch.Generator((ulong)linearCase.Seed + 7), dtype, linearCase.OutputShape);
        Tensor x = LeafLike(x0, true), w = LeafLike(w0, true);
        Tensor? b = b0 is null ? null : LeafLike(b0, true);
        Tensor y = Linear.Forward(x, w, b);
        Assert.That(y.requires_grad, Is.True, "y requires grad");
        Loss(y, g).backward();

        var reference = ReferenceGradients(x0, w0, b0, g);
        double relative = RelativeTolerance(dtype);
        Assert.That(x.grad, Is.Not.Null, "dx was not produced");
        Assert.That(w.grad, Is.Not.Null, "dw was not produced");
        Assert.That(x.grad!.dtype, Is.EqualTo(dtype), "dtype of dx");
        CloseRelativeTo(x.grad!, reference.Dx, reference.MagDx, relative, "dx");
        CloseRelativeTo(w.grad!, reference.Dw, reference.MagDw, relative, "dw");
        if (b is not null)
        {
            Assert.That(b.grad, Is.Not.Null, "db was not produced");
            CloseRelativeTo(b.grad!, reference.Db!, reference.MagDb!, relative, "db");
        }

        if (dtype != ScalarType.Float32)
            return;
        // linear's float32 autograd has its own rounding: allow both errors.
        Tensor x32 = LeafLike(x0, true), w32 = LeafLike(w0, true);
        Tensor? b32 = b0 is null ? null : LeafLike(b0, true);
        Loss(nn.functional.linear(x32, w32, b32), g).backward();
        CloseRelativeTo(x.grad!, x32.grad!, reference.MagDx, 2 * relative, "dx vs float32 linear");
        CloseRelativeTo(w.grad!, w32.grad!, reference.MagDw, 2 * relative, "dw vs float32 linear");
        if (b is not null)
            CloseRelativeTo(b.grad!, b32!.grad!, reference.MagDb!, 2 * relative, "db vs float32 linear");
    }

    public static IEnumerable<TestCaseData> PartialGradientCases()
    {
        foreach (ScalarType dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        foreach (bool hasBias in new[] { true, false })
        for (int mask = 1; mask < 8; mask++)
        {
            bool needsX = (mask & 1) != 0, needsW = (mask & 2) != 0, needsB = (mask & 4) != 0;
            if (needsB && !hasBias)
                continue;
            yield return new TestCaseData(dtype, hasBias, needsX, needsW, needsB);
        }
    }

    /// <summary>Only some inputs require grad: those get the right gradient, the others none (grad stays null).</summary>
    [TestCaseSource(nameof(PartialGradientCases))]
    public void OnlyRequestedGradientsAreProduced(ScalarType dtype, bool hasBias, bool needsX, bool needsW,
        bool needsB)
    {
        using var scope = torch.NewDisposeScope();
        var linearCase = new LinearCase([3, 5], 7, 17, hasBias);
        (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, dtype, seed: 21);
        Tensor g = Normal(new torch.Generator(22), dtype, linearCase.OutputShape);
        Tensor x = LeafLike(x0, needsX), w = LeafLike(w0, needsW);
        Tensor? b = b0 is null ? null : LeafLike(b0, needsB);

        Tensor y = Linear.Forward(x, w, b);
        Assert.That(y.requires_grad, Is.True, "y requires grad when any input does");
        CloseRelativeTo(y, Reference(x0, w0, b0), Magnitude(x0, w0, b0), RelativeTolerance(dtype), "y");
        Loss(y, g).backward();

        var reference = ReferenceGradients(x0, w0, b0, g);
        double relative = RelativeTolerance(dtype);
        void Check(string name, Tensor input, bool requested, Tensor expected, Tensor magnitude)
        {
            if (!requested)
            {
                Assert.That(input.grad, Is.Null, $"d{name} must not be produced (requires_grad is false)");
                return;
            }
            Assert.That(input.grad, Is.Not.Null, $"d{name} was not produced");
            CloseRelativeTo(input.grad!, expected, magnitude, relative, $"d{name}");
        }
        Check("x", x, needsX, reference.Dx, reference.MagDx);
        Check("w", w, needsW, reference.Dw, reference.MagDw);
        if (b is not null)
            Check("b", b, needsB, reference.Db!, reference.MagDb!);
    }

    // -------------------------------------------------------------------------------------------------------------
    // 3. Inference
    // -------------------------------------------------------------------------------------------------------------

    /// <summary>Under no_grad (inputs requiring grad) and with no input requiring grad the result has no graph; it
    /// equals, bit for bit, the result of the graph-recording path (the same kernel on the same values).</summary>
    [TestCase(ScalarType.Float64)]
    [TestCase(ScalarType.Float32)]
    public void InferenceRecordsNoGraph(ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var linearCase = new LinearCase([3, 5], 300, 17, true);
        (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, dtype, seed: 31);

        Tensor x = LeafLike(x0, true), w = LeafLike(w0, true), b = LeafLike(b0!, true);
        Tensor withGraph = Linear.Forward(x, w, b);
        Assert.That(withGraph.requires_grad, Is.True, "the control: inputs requiring grad give a graph");

        Tensor underNoGrad;
        using (torch.no_grad())
            underNoGrad = Linear.Forward(x, w, b);
        Assert.That(underNoGrad.requires_grad, Is.False, "under no_grad");
        Assert.That(underNoGrad.is_leaf, Is.True, "under no_grad: no grad_fn");

        Tensor plain = Linear.Forward(x0, w0, b0);
        Assert.That(plain.requires_grad, Is.False, "no input requires grad");
        Assert.That(plain.is_leaf, Is.True, "no input requires grad: no grad_fn");

        TensorAssert.Identical(underNoGrad, withGraph.detach(), "no_grad result vs graph result");
        TensorAssert.Identical(plain, withGraph.detach(), "plain result vs graph result");
        CloseRelativeTo(plain, Reference(x0, w0, b0), Magnitude(x0, w0, b0), RelativeTolerance(dtype), "y");
    }

    // -------------------------------------------------------------------------------------------------------------
    // 4. Determinism
    // -------------------------------------------------------------------------------------------------------------

    /// <summary>Sizes from the native thread test: big enough that every product and the db column sums are split
    /// across threads, plus tails a kernel may keep on the calling thread.</summary>
    private static readonly LinearCase[] DeterminismCases =
    [
        new([97], 257, 1030, true), new([300], 17, 1030, true), new([300], 600, 33, true), new([7], 17, 1030, true),
        new([300], 16, 15, true), new([5], 600, 1, true),
    ];

    private static List<Tensor> ForwardAndGradients(Tensor x0, Tensor w0, Tensor b0, Tensor g)
    {
        Tensor x = LeafLike(x0, true), w = LeafLike(w0, true), b = LeafLike(b0, true);
        Tensor y = Linear.Forward(x, w, b);
        Loss(y, g).backward();
        return [y.detach(), x.grad!, w.grad!, b.grad!];
    }

    private static readonly string[] ResultNames = ["y", "dx", "dw", "db"];

    /// <summary>torch.equal and more: same shape, dtype and bit patterns (so -0.0 and 0.0 differ). TorchSharp's
    /// torch.equal is elementwise eq, so the raw bytes are compared here.</summary>
    private static bool BitwiseEqual(Tensor actual, Tensor expected)
    {
        if (actual.dtype != expected.dtype || !actual.shape.SequenceEqual(expected.shape))
            return false;
        using var scope = torch.NewDisposeScope();
        return actual.contiguous().bytes.SequenceEqual(expected.contiguous().bytes);
    }

    [TestCase(ScalarType.Float32)]
    [TestCase(ScalarType.Float64)]
    public void ForwardAndBackwardAreBitwiseRepeatable(ScalarType dtype)
    {
        foreach (LinearCase linearCase in DeterminismCases)
        {
            using var scope = torch.NewDisposeScope();
            (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, dtype, linearCase.Seed);
            Tensor g = Normal(new torch.Generator(41), dtype, linearCase.OutputShape);
            List<Tensor> first = ForwardAndGradients(x0, w0, b0!, g), second = ForwardAndGradients(x0, w0, b0!, g);
            for (int i = 0; i < first.Count; i++)
                Assert.That(BitwiseEqual(second[i], first[i]), Is.True,
                    $"{linearCase}: {ResultNames[i]} of the second run differs from the first");
        }
    }

    /// <summary>Thread-count independence, as native/tests/test_linear.cpp (LinearThreads) checks it with
    /// omp_set_num_threads: forward and every gradient with 2 and 3 OpenMP threads equal the 1-thread result bit for
    /// bit, and the 1-thread result is right. The thread count is set through the OpenMP runtime that libhybridseq is
    /// bound to (see <see cref="OpenMp"/>), and omp_get_max_threads confirms it took effect.</summary>
    [TestCase(ScalarType.Float32)]
    [TestCase(ScalarType.Float64)]
    public void ResultsAreBitwiseIndependentOfTheOpenMpThreadCount(ScalarType dtype)
    {
        if (!OpenMp.TryResolve(out string reason))
            Assert.Ignore(reason + " Thread independence is covered by native/tests/test_linear.cpp.");
        int saved = OpenMp.MaxThreads();
        try
        {
            foreach (LinearCase linearCase in DeterminismCases)
            {
                using var scope = torch.NewDisposeScope();
                (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, dtype, linearCase.Seed);
                Tensor g = Normal(new torch.Generator(51), dtype, linearCase.OutputShape);
                List<Tensor>? single = null;
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    OpenMp.SetNumThreads(threads);
                    Assert.That(OpenMp.MaxThreads(), Is.EqualTo(threads), "omp_set_num_threads took effect");
                    List<Tensor> results = ForwardAndGradients(x0, w0, b0!, g);
                    if (single is null)
                    {
                        single = results;
                        CloseRelativeTo(results[0], Reference(x0, w0, b0), Magnitude(x0, w0, b0),
                            RelativeTolerance(dtype), $"{linearCase}: y with 1 thread");
                        continue;
                    }
                    for (int i = 0; i < results.Count; i++)
                        Assert.That(BitwiseEqual(results[i], single[i]), Is.True,
                            $"{linearCase}: {ResultNames[i]} with {threads} threads differs from the 1-thread result");
                }
            }
        }
        finally
        {
            OpenMp.SetNumThreads(saved);
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // 5. Argument errors
    // -------------------------------------------------------------------------------------------------------------

    private static void Expect(TestDelegate call, string parameter, params string[] fragments)
    {
        var error = Assert.Catch<ArgumentException>(call)!;
        Assert.That(error.ParamName, Is.EqualTo(parameter), error.Message);
        foreach (string fragment in fragments)
            Assert.That(error.Message, Does.Contain(fragment), $"message of the {parameter} error");
    }

    [Test]
    public void BadArgumentsAreNamedWithExpectedAndGot()
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = torch.zeros(3, 4), w = torch.zeros(5, 4), b = torch.zeros(5);

        Expect(() => Linear.Forward(torch.tensor(1.0f), w, b), "input", "at least one dimension", "scalar");
        // The native shim's checks, named by the Linear.Forward parameter the tensor came from.
        Expect(() => Linear.Forward(x, torch.zeros(4), b), "weight", "rank 2 (N, K)", "(4,)");
        Expect(() => Linear.Forward(x, torch.zeros(5, 3), b), "weight", "K = 4", "got (5, 3)");
        Expect(() => Linear.Forward(x, torch.zeros(1, 5, 4), b), "weight", "(N, K)", "(1, 5, 4)");
        Expect(() => Linear.Forward(x, w, torch.zeros(4)), "bias", "shape (5,)", "got (4,)");
        Expect(() => Linear.Forward(x, w, torch.zeros(1, 5)), "bias", "shape (5,)", "got (1, 5)");
        Expect(() => Linear.Forward(x, w.to(ScalarType.Float64), b), "weight", "float32", "float64");
        Expect(() => Linear.Forward(x, w, b.to(ScalarType.Float64)), "bias", "float32", "float64");
        Expect(() => Linear.Forward(x.to(ScalarType.Float64), w, null), "weight", "float64", "float32");
        // The meta device exists without a GPU; no view can express it.
        Expect(() => Linear.Forward(x, torch.empty(5, 4, device: torch.META), b), "weight", "CPU or CUDA",
            "meta");
        Expect(() => Linear.Forward(x, w, torch.empty(5, device: torch.META)), "bias", "CPU or CUDA", "meta");
    }

    [Test]
    public void NullTensorsAreNamed()
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = torch.zeros(3, 4), w = torch.zeros(5, 4);
        Assert.That(Assert.Throws<ArgumentNullException>(() => Linear.Forward(null!, w))!.ParamName,
            Is.EqualTo("input"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Linear.Forward(x, null!))!.ParamName,
            Is.EqualTo("weight"));
    }

    // -------------------------------------------------------------------------------------------------------------
    // 6. Fallback to libtorch
    // -------------------------------------------------------------------------------------------------------------

    [Test]
    public void Int64RunsThroughLibtorchAndIsExact()
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator(61);
        Tensor x = torch.randint(-9, 10, [3, 5, 7], dtype: ScalarType.Int64, generator: generator);
        Tensor w = torch.randint(-9, 10, [17, 7], dtype: ScalarType.Int64, generator: generator);
        Tensor b = torch.randint(-9, 10, [17], dtype: ScalarType.Int64, generator: generator);
        Assert.That(Linear.RunsNatively(x), Is.False);

        Tensor y = Linear.Forward(x, w, b);
        Assert.That(y.dtype, Is.EqualTo(ScalarType.Int64));
        // Small integers: the float64 reference is exact.
        Tensor expected = Reference(x, w, b).to(ScalarType.Int64);
        TensorAssert.Identical(y, expected, "int64 y");
        TensorAssert.Identical(Linear.Forward(x, w), Reference(x, w, null).to(ScalarType.Int64),
            "int64 y without bias");
    }

    [TestCase(ScalarType.Float16)]
    [TestCase(ScalarType.BFloat16)]
    public void HalfPrecisionRunsThroughLibtorch(ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var linearCase = new LinearCase([3, 5], 300, 17, true);
        (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, dtype, seed: 62);
        Assert.That(Linear.RunsNatively(x0), Is.False);

        Tensor x = LeafLike(x0, true);
        Tensor y = Linear.Forward(x, w0, b0);
        Assert.That(y.dtype, Is.EqualTo(dtype));
        Assert.That(y.requires_grad, Is.True, "the fallback is differentiable");
        CloseRelativeTo(y, Reference(x0, w0, b0), Magnitude(x0, w0, b0), RelativeTolerance(dtype), $"{dtype} y");
        TensorAssert.Identical(y.detach(), nn.functional.linear(x0, w0, b0), $"{dtype} y vs linear");

        y.sum().backward();
        Assert.That(x.grad, Is.Not.Null, "dx through the fallback");
        Tensor expectedDx = ToDouble(w0)!.sum(dim: 0).expand(x.shape);
        CloseRelativeTo(x.grad!, expectedDx, ToDouble(w0)!.abs().sum(dim: 0).expand(x.shape), RelativeTolerance(dtype),
            $"{dtype} dx");
    }

    [Test]
    public void RunsNativelyOnlyForCpuFloat32AndFloat64()
    {
        using var scope = torch.NewDisposeScope();
        Assert.That(Linear.RunsNatively(torch.zeros(2, dtype: ScalarType.Float32)), Is.True);
        Assert.That(Linear.RunsNatively(torch.zeros(2, dtype: ScalarType.Float64)), Is.True);
        foreach (ScalarType dtype in new[]
                 {
                     ScalarType.Float16, ScalarType.BFloat16, ScalarType.Int64, ScalarType.Int32,
                     ScalarType.ComplexFloat32,
                 })
            Assert.That(Linear.RunsNatively(torch.zeros(2, dtype: dtype)), Is.False, $"{dtype}");
        Assert.That(Linear.RunsNatively(torch.empty(2, device: torch.META)), Is.False, "meta device");
    }

    [Test]
    [Category("Cuda")]
    public void CudaRunsThroughLibtorchAndMatchesLinear()
    {
        CudaRequirement.EnsureAvailable();
        using var scope = torch.NewDisposeScope();
        var linearCase = new LinearCase([3, 5], 300, 1030, true);
        (Tensor x0, Tensor w0, Tensor? b0) = MakeInputs(linearCase, ScalarType.Float32, seed: 71);
        Tensor g = Normal(new torch.Generator(72), ScalarType.Float32, linearCase.OutputShape);
        Tensor x = LeafLike(x0.cuda(), true), w = LeafLike(w0.cuda(), true), b = LeafLike(b0!.cuda(), true);
        Assert.That(Linear.RunsNatively(x), Is.False, "CUDA goes through libtorch");

        Tensor y = Linear.Forward(x, w, b);
        Assert.That(y.device_type, Is.EqualTo(DeviceType.CUDA));
        // cuBLAS may round through TF32 where libtorch allows it: a wider bound than the CPU's.
        const double relative = 2e-3;
        CloseRelativeTo(y, Reference(x0, w0, b0), Magnitude(x0, w0, b0), relative, "CUDA y");
        Loss(y, g.cuda()).backward();
        var reference = ReferenceGradients(x0, w0, b0, g);
        CloseRelativeTo(x.grad!, reference.Dx, reference.MagDx, relative, "CUDA dx");
        CloseRelativeTo(w.grad!, reference.Dw, reference.MagDw, relative, "CUDA dw");
        CloseRelativeTo(b.grad!, reference.Db!, reference.MagDb!, relative, "CUDA db");
        Expect(() => Linear.Forward(x.detach(), w0, null), "weight", "device", "cuda");
    }
}

/// <summary>The OpenMP runtime libhybridseq is bound to in this process, found as dlsym on libhybridseq's own handle
/// (which searches the library and then its dependencies). In a TorchSharp process that is libtorch's bundled
/// libgomp-&lt;hash&gt;.so.1: its SONAME is libgomp.so.1, so it satisfies libhybridseq's NEEDED libgomp.so.1 once
/// libtorch has loaded it.</summary>
internal static unsafe class OpenMp
{
    private static delegate* unmanaged<int, void> setNumThreads;
    private static delegate* unmanaged<int> getMaxThreads;

    /// <summary>Resolves omp_set_num_threads / omp_get_max_threads; false (with the reason) when libhybridseq does not
    /// reach an OpenMP runtime.</summary>
    internal static bool TryResolve(out string reason)
    {
        Native.Load();
        string path = Native.LoadedPath!;
        IntPtr handle = NativeLibrary.Load(path);
        if (!NativeLibrary.TryGetExport(handle, "omp_set_num_threads", out IntPtr set) ||
            !NativeLibrary.TryGetExport(handle, "omp_get_max_threads", out IntPtr get))
        {
            NativeLibrary.Free(handle);
            reason = $"{path} does not reach omp_set_num_threads / omp_get_max_threads (OpenMP libraries mapped: " +
                     $"{MappedRuntimes()}).";
            return false;
        }
        // Native keeps the library loaded; this extra reference was only for the look-up.
        NativeLibrary.Free(handle);
        setNumThreads = (delegate* unmanaged<int, void>)set;
        getMaxThreads = (delegate* unmanaged<int>)get;
        reason = "";
        return true;
    }

    /// <summary>Sets the thread count of the next parallel regions started from the calling thread.</summary>
    internal static void SetNumThreads(int threads) => setNumThreads(threads);

    internal static int MaxThreads() => getMaxThreads();

    /// <summary>The OpenMP runtimes mapped into this process, for messages.</summary>
    internal static string MappedRuntimes()
    {
        if (!File.Exists("/proc/self/maps"))
            return "unknown";
        static bool IsOpenMp(string name) =>
            name.StartsWith("libgomp", StringComparison.Ordinal) || name.StartsWith("libomp", StringComparison.Ordinal) ||
            name.StartsWith("libiomp", StringComparison.Ordinal);
        return string.Join(", ", File.ReadLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 6 && IsOpenMp(Path.GetFileName(fields[5])))
            .Select(fields => fields[5]).Distinct());
    }
}
