using BenchmarkDotNet.Attributes;
using HybridSeq.Models.StateSpace;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// The S4D layer on CPU, float32, H 256, N 64 (32 complex modes), ZOH: HybridSeq's <see cref="S4DLayer"/> (kernel by
/// the native Vandermonde op, FFT convolution through torch.fft) vs the same layer composed from TorchSharp ops (the
/// kernel from the materialised (H, N/2, L) Vandermonde matrix, the same FFT convolution), forward and
/// forward+backward, at the Bt 16 x L 4096 and a smaller Bt 4 x L 1024.
/// </summary>
[Config(typeof(Config))]
public class S4DLayerCpuBenchmarks
{
    public const int Channels = 256, StateSize = 64;

    // Calls take 0.1-3 s on 2 cores: few iterations; the rate is per call since the shapes differ between rows.
    private sealed class Config() : InProcessConfig(warmups: 2, iterations: 6, "Calls/s",
        "1 divided by the mean time of one call", 1);

    /// <summary>"Bt x L".</summary>
    [Params("16x4096", "4x1024")]
    public string Shape { get; set; } = "16x4096";

    private S4DLayer _layer = null!;
    private Tensor _input = null!, _gradOut = null!, _fixedKernel = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        var parts = Shape.Split('x').Select(long.Parse).ToArray();
        _layer = new S4DLayer("ssm", Channels, StateSize);
        _input = randn(parts[0], parts[1], Channels);
        _gradOut = randn(parts[0], parts[1], Channels);
        _fixedKernel = randn(Channels, parts[1]);
    }

    [GlobalCleanup]
    public void Cleanup() => _layer.Dispose();

    /// <summary>The composed S4D: the same discretisation and convolution, the kernel from the materialised terms.</summary>
    private Tensor Composed(Tensor input)
    {
        var p = _layer.named_parameters().ToDictionary(x => x.name, x => (Tensor)x.parameter);
        var a = complex(-p["log_A_real"].exp(), p["A_imag"]);
        var dtA = a * p["log_dt"].exp().unsqueeze(-1);
        var v = view_as_complex(p["C"])[0] * (dtA.exp() - 1) / a * view_as_complex(p["B"]);
        long length = input.shape[1];
        var kernel = ComposedSsmKernels.Vandermonde(v, dtA, length);             // (H, L)
        var u = input.transpose(1, 2);
        var y = fft.irfft(fft.rfft(u, 2 * length, -1) * fft.rfft(kernel, 2 * length, -1), 2 * length, -1)
            .narrow(-1, 0, length) + u * p["D"].unsqueeze(-1);
        return y.transpose(1, 2);
    }

    [Benchmark(Baseline = true, Description = "composed TorchSharp S4D fwd")]
    public void ComposedForward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Composed(_input);
    }

    [Benchmark(Description = "HybridSeq S4DLayer fwd")]
    public void LayerForward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _layer.forward(_input);
    }

    [Benchmark(Description = "composed TorchSharp S4D fwd+bwd")]
    public void ComposedForwardBackward()
    {
        using var scope = NewDisposeScope();
        var x = _input.detach().requires_grad_(true);
        Composed(x).backward(new[] { _gradOut });
        _layer.zero_grad();
    }

    /// <summary>The part both S4Ds share and neither can beat with a faster kernel: the FFT convolution of u with a
    /// fixed (H, L) kernel and the skip, no gradient. The limit of the layer's speed-up over the composed version is
    /// (composed fwd) / (this row).</summary>
    [Benchmark(Description = "limit: FFT convolution alone fwd")]
    public void FftConvolutionForward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long length = _input.shape[1];
        var u = _input.transpose(1, 2);
        var y = fft.irfft(fft.rfft(u, 2 * length, -1) * fft.rfft(_fixedKernel, 2 * length, -1), 2 * length, -1)
            .narrow(-1, 0, length) + u;
        y.transpose(1, 2);
    }

    /// <summary>The same FFT convolution with the gradients of u and of the kernel (the layer's fwd+bwd must do
    /// both): the limit of the fwd+bwd speed-up.</summary>
    [Benchmark(Description = "limit: FFT convolution alone fwd+bwd")]
    public void FftConvolutionForwardBackward()
    {
        using var scope = NewDisposeScope();
        long length = _input.shape[1];
        var x = _input.detach().requires_grad_(true);
        var k = _fixedKernel.detach().requires_grad_(true);
        var u = x.transpose(1, 2);
        var y = fft.irfft(fft.rfft(u, 2 * length, -1) * fft.rfft(k, 2 * length, -1), 2 * length, -1)
            .narrow(-1, 0, length) + u;
        y.transpose(1, 2).backward(new[] { _gradOut });
    }

    [Benchmark(Description = "HybridSeq S4DLayer fwd+bwd")]
    public void LayerForwardBackward()
    {
        using var scope = NewDisposeScope();
        var x = _input.detach().requires_grad_(true);
        _layer.forward(x).backward(new[] { _gradOut });
        _layer.zero_grad();
    }
}
