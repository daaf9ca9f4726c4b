using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>One depthwise causal convolution problem: sizes and which optional inputs it has. Lengths, when on, are
/// L, about L/2 and 0 in turn (a full, a short and an empty sequence).</summary>
public sealed record DepthwiseConvCase(long Batch, long Channels, long Length, long Width, long Dilation = 1,
    bool HasBias = false, bool Silu = false, bool HasState = false, bool HasLengths = false)
{
    public long StateLength => (Width - 1) * Dilation;

    public int Seed => (int)(Batch * 1009 + Channels * 101 + Length * 13 + Width * 7 + Dilation * 3 +
                             (HasBias ? 1 : 0) + (Silu ? 2 : 0) + (HasState ? 4 : 0) + (HasLengths ? 8 : 0));

    public DepthwiseConvInputs MakeInputs(ScalarType dtype, long seed, Device? device = null)
    {
        var generator = new torch.Generator((ulong)seed);
        Device target = device ?? torch.CPU;
        Tensor Draw(params long[] shape) => torch.randn(shape, dtype: dtype, generator: generator).to(target);
        Tensor x = Draw(Batch, Channels, Length);
        Tensor weight = Draw(Channels, Width) * (1.0 / Math.Sqrt(Width));
        Tensor? bias = HasBias ? Draw(Channels) : null;
        Tensor? state = HasState ? Draw(Batch, Channels, StateLength) : null;
        Tensor? lengths = null;
        if (HasLengths)
        {
            long[] values = Enumerable.Range(0, (int)Batch)
                .Select(b => (b % 3) switch { 0 => Length, 1 => (Length + 1) / 2, _ => 0L }).ToArray();
            lengths = torch.tensor(values, dtype: ScalarType.Int64);
        }
        return new DepthwiseConvInputs(x, weight, bias, state, lengths, Dilation, Silu);
    }

    public override string ToString() =>
        $"Bt{Batch} D{Channels} L{Length} K{Width} dil{Dilation}{(HasBias ? " bias" : "")}{(Silu ? " silu" : "")}" +
        $"{(HasState ? " state" : "")}{(HasLengths ? " lengths" : "")}";
}

/// <summary>The tensors of one call; the float ones can be made leaves that require grad.</summary>
public sealed record DepthwiseConvInputs(Tensor X, Tensor Weight, Tensor? Bias, Tensor? InitialState, Tensor? Lengths,
    long Dilation, bool Silu)
{
    public (Tensor Y, Tensor FinalState) RunManaged() =>
        DepthwiseCausalConv.Forward(X, Weight, Bias, Dilation, Silu, InitialState, Lengths);

    public (Tensor Y, Tensor FinalState) RunReference() =>
        DepthwiseCausalConvReference.Forward(X, Weight, Bias, Dilation, Silu, InitialState, Lengths);

    /// <summary>Fresh leaf copies that require grad (lengths stay as they are).</summary>
    public DepthwiseConvInputs RequiringGrad() => this with
    {
        X = Leaf(X), Weight = Leaf(Weight), Bias = Bias is null ? null : Leaf(Bias),
        InitialState = InitialState is null ? null : Leaf(InitialState),
    };

    public IEnumerable<(string Name, Tensor Tensor)> FloatInputs()
    {
        yield return ("x", X);
        yield return ("weight", Weight);
        if (Bias is not null) yield return ("bias", Bias);
        if (InitialState is not null) yield return ("initialState", InitialState);
    }

    /// <summary>A scalar that weighs every output and final-state element differently.</summary>
    public static Tensor Loss((Tensor Y, Tensor FinalState) result, Tensor yWeights, Tensor stateWeights) =>
        (result.Y * yWeights).sum() + (result.FinalState * stateWeights).sum();

    private static Tensor Leaf(Tensor t) => t.detach().clone().requires_grad_(true);
}
