using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// The S4 kernels on CPU, complex64, H 256, N 64, L 2049 (the shape): the Cauchy sum (S4, conjugate-symmetric)
/// and the Vandermonde sum (S4D, conjugate-symmetric: real output), HybridSeq's native kernels vs the same sums
/// composed from TorchSharp ops (S4KernelReference, the baseline: it materialises the (H, N, L) complex matrix),
/// forward and forward+backward, in one process. The bound of the native kernels is the complex divide (Cauchy: two
/// reciprocals per term) and, for Vandermonde, one complex multiply-add per term (the powers exp(x l) come from
/// exact anchors times exact steps, hybridseq.h), both O(H N L).
/// </summary>
[Config(typeof(Config))]
public class S4KernelCpuBenchmarks
{
    public const int Rows = 256, Terms = 64, Length = 2049;

    // One warm-up and five measured calls: a composed forward+backward takes about 25 s on the loaded 2-core
    // machine, and the in-process toolchain stops a benchmark that runs past 5 minutes.
    private sealed class Config() : InProcessConfig(warmups: 1, iterations: 5, "Terms/s",
        "H*N*L terms divided by the mean time of one call", (double)Rows * Terms * Length);

    private Tensor _v = null!, _w = null!, _x = null!, _z = null!, _gradCauchy = null!, _gradVandermonde = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        (_v, _w, _x, _z) = S4BenchmarkInputs.Make(Rows, Terms, Length, torch.CPU);
        _gradCauchy = torch.randn([Rows, Length], dtype: ScalarType.ComplexFloat32);
        _gradVandermonde = torch.randn([Rows, Length]);
    }

    [Benchmark(Baseline = true, Description = "composed Cauchy fwd")]
    public void ComposedCauchyForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        S4KernelReference.Cauchy(_v, _w, _z, conjugateSymmetric: true);
    }

    [Benchmark(Description = "native Cauchy fwd")]
    public void NativeCauchyForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        CauchyKernel.Forward(_v, _w, _z, conjugateSymmetric: true);
    }

    [Benchmark(Description = "composed Cauchy fwd+bwd")]
    public void ComposedCauchyForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        Tensor v = _v.detach().requires_grad_(), w = _w.detach().requires_grad_();
        S4KernelReference.Cauchy(v, w, _z, conjugateSymmetric: true).backward([_gradCauchy]);
    }

    [Benchmark(Description = "native Cauchy fwd+bwd")]
    public void NativeCauchyForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        Tensor v = _v.detach().requires_grad_(), w = _w.detach().requires_grad_();
        CauchyKernel.Forward(v, w, _z, conjugateSymmetric: true).backward([_gradCauchy]);
    }

    [Benchmark(Description = "composed Vandermonde fwd")]
    public void ComposedVandermondeForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        S4KernelReference.Vandermonde(_v, _x, Length, conjugateSymmetric: true);
    }

    [Benchmark(Description = "native Vandermonde fwd")]
    public void NativeVandermondeForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        VandermondeKernel.Forward(_v, _x, Length, conjugateSymmetric: true);
    }

    [Benchmark(Description = "composed Vandermonde fwd+bwd")]
    public void ComposedVandermondeForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        Tensor v = _v.detach().requires_grad_(), x = _x.detach().requires_grad_();
        S4KernelReference.Vandermonde(v, x, Length, conjugateSymmetric: true).backward([_gradVandermonde]);
    }

    [Benchmark(Description = "native Vandermonde fwd+bwd")]
    public void NativeVandermondeForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        Tensor v = _v.detach().requires_grad_(), x = _x.detach().requires_grad_();
        VandermondeKernel.Forward(v, x, Length, conjugateSymmetric: true).backward([_gradVandermonde]);
    }
}

/// <summary>S4-like complex64 inputs: numerators of order 1, poles and log-nodes with negative real parts (S4D-Lin:
/// -0.5 + i pi n, times a step of 0.01 for the log-nodes), evaluation points on the bilinearly mapped unit circle.
/// </summary>
internal static class S4BenchmarkInputs
{
    public static (Tensor V, Tensor W, Tensor X, Tensor Z) Make(int rows, int terms, int length, Device device)
    {
        torch.manual_seed(0);
        Tensor n = torch.arange(terms, dtype: ScalarType.Float32).expand(rows, terms);
        Tensor a = torch.complex(torch.full([rows, terms], -0.5f), (float)Math.PI * n);
        Tensor v = torch.complex(torch.randn(rows, terms), torch.randn(rows, terms));
        Tensor dt = torch.full([rows, 1], 0.01f);
        Tensor x = a * dt;
        // S4's points: z = 2 (1 - omega) / (1 + omega) for omega = exp(-2 pi i k / L), k < L.
        Tensor k = torch.arange(length, dtype: ScalarType.Float32);
        Tensor omega = torch.polar(torch.ones(length), -2 * (float)Math.PI * k / length);
        Tensor z = 2 * (1 - omega) / (1 + omega + 1e-3f);
        return (v.to(device), a.to(device), x.to(device), z.to(device));
    }
}
