using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Layers;

/// <summary>
/// Root-mean-square layer norm over the last dimension: y = x / sqrt(mean(x^2) + eps) * weight.
/// Input (..., dim), output the same shape and dtype. The weight (dim) starts at ones.
/// </summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
    // Field names are the parameter names in checkpoints.
    private readonly Parameter weight;
    private readonly double epsilon;

    public RMSNorm(string name, long dimension, double epsilon = 1e-5) : base(name)
    {
        weight = nn.Parameter(ones(dimension));
        this.epsilon = epsilon;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        var inverseRms = input.square().mean([-1L], keepdim: true).add(epsilon).rsqrt();
        return input * inverseRms * weight;
    }
}
