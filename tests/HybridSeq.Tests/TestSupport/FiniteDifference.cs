using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.TestSupport;

/// <summary>Central finite differences, the independent check of analytic gradients (use float64).</summary>
public static class FiniteDifference
{
    /// <summary>d loss / d input, element by element: (loss(x + eps) - loss(x - eps)) / (2 eps). The input is
    /// perturbed in place and restored; <paramref name="loss"/> must read it afresh on each call and return a scalar.
    /// Cost: 2 * numel(input) evaluations, so keep the inputs small.</summary>
    public static Tensor Gradient(Func<double> loss, Tensor input, double epsilon = 1e-6)
    {
        if (input.dtype != ScalarType.Float64)
            throw new ArgumentException($"input: expected dtype Float64 for finite differences, got {input.dtype}.",
                nameof(input));
        using var noGrad = torch.no_grad();
        var gradient = torch.zeros_like(input);
        Tensor flat = input.view(-1);
        Tensor flatGradient = gradient.view(-1);
        for (long i = 0; i < flat.numel(); i++)
        {
            double original = flat[i].item<double>();
            flat[i].fill_(original + epsilon);
            double plus = loss();
            flat[i].fill_(original - epsilon);
            double minus = loss();
            flat[i].fill_(original);
            flatGradient[i].fill_((plus - minus) / (2 * epsilon));
        }
        return gradient;
    }
}
