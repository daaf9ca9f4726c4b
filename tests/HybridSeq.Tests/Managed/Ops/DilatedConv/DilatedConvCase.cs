using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>One dilated-convolution configuration of the tests: sizes and which optional inputs it has.</summary>
public sealed record DilatedConvCase(long Batch, long InChannels, long OutChannels, long Width, long Dilation, long Length,
    bool HasBias = false, bool HasState = false, bool HasLengths = false)
{
    public long StateLength => (Width - 1) * Dilation;

    public override string ToString() =>
        $"Bt={Batch} C_in={InChannels} C_out={OutChannels} K={Width} d={Dilation} L={Length}" +
        (HasBias ? " bias" : "") + (HasState ? " state" : "") + (HasLengths ? " lengths" : "");

    public DilatedConvInputs MakeInputs(ScalarType dtype, int seed, Device? device = null)
    {
        using var generator = new Generator((ulong)seed);
        device ??= torch.CPU;
        Tensor Random(params long[] shape) => (torch.rand(shape, dtype: ScalarType.Float64, generator: generator) * 2 - 1)
            .to(dtype).to(device);
        var lengths = new long[Batch];
        for (long b = 0; b < Batch; b++)
            lengths[b] = (b % 4) switch { 0 => Length, 1 => Length / 2, 2 => 0, _ => Math.Max(Length - 1, 0) };
        return new DilatedConvInputs(Random(Batch, InChannels, Length), Random(OutChannels, InChannels, Width),
            HasBias ? Random(OutChannels) : null, HasState ? Random(Batch, InChannels, StateLength) : null,
            HasLengths ? torch.tensor(lengths, dtype: ScalarType.Int64) : null, Dilation);
    }
}

/// <summary>The tensors of one call; RunManaged / RunReference call the op and the composed reference.</summary>
public sealed record DilatedConvInputs(Tensor X, Tensor Weight, Tensor? Bias, Tensor? InitialState, Tensor? Lengths,
    long Dilation)
{
    public (Tensor Y, Tensor FinalState) RunManaged() =>
        DilatedCausalConv.Forward(X, Weight, Bias, Dilation, InitialState, Lengths);

    public (Tensor Y, Tensor FinalState) RunReference() =>
        DilatedCausalConvReference.Forward(X, Weight, Bias, Dilation, InitialState, Lengths);

    /// <summary>Fresh leaves (detached copies) that require grad, for one backward each.</summary>
    public DilatedConvInputs RequiringGrad() => this with
    {
        X = X.detach().clone().requires_grad_(true),
        Weight = Weight.detach().clone().requires_grad_(true),
        Bias = Bias?.detach().clone().requires_grad_(true),
        InitialState = InitialState?.detach().clone().requires_grad_(true),
    };

    public IEnumerable<(string Name, Tensor Tensor)> FloatInputs()
    {
        yield return ("x", X);
        yield return ("weight", Weight);
        if (Bias is not null) yield return ("bias", Bias);
        if (InitialState is not null) yield return ("initialState", InitialState);
    }

    /// <summary>A scalar that weighs every output element and every final-state element differently.</summary>
    public static Tensor Loss((Tensor Y, Tensor FinalState) result, Tensor yWeights, Tensor stateWeights) =>
        (result.Y * yWeights).sum() + (result.FinalState * stateWeights).sum();
}
