using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>One configuration of the fused recurrence for the test matrix: cell, sizes (Hidden = Heads * HeadDim)
/// and which options are on.</summary>
public sealed record RnnCase(
    RnnCell Cell, long Batch, long Steps, long Heads, long HeadDim, bool HasS0 = false, bool HasLengths = false,
    bool Reverse = false)
{
    public long Hidden => Heads * HeadDim;
    public int Gates => Cell.Gates();
    public int States => Cell.States();

    /// <summary>A seed derived from the configuration alone (record hash codes vary between processes).</summary>
    public long Seed => (long)Cell * 1_000_003 + Batch * 10_007 + Steps * 1009 + Heads * 101 + HeadDim * 13
        + (HasS0 ? 3 : 0) + (HasLengths ? 5 : 0) + (Reverse ? 7 : 0);

    public override string ToString()
    {
        var flags = new List<string>();
        if (HasS0) flags.Add("s0");
        if (HasLengths) flags.Add("lengths");
        if (Reverse) flags.Add("reverse");
        return $"{Cell} Bt{Batch} T{Steps} NH{Heads} DH{HeadDim} [{string.Join(",", flags)}]";
    }

    /// <summary>The valid lengths used when HasLengths: full, about half, 0, 1, T-1, then repeating; every value in
    /// [0, T], so padding, empty and single-step sequences all occur once the batch has 4 or more.</summary>
    public long[] LengthValues() => Enumerable.Range(0, (int)Batch)
        .Select(b => (b % 5) switch
        {
            0 => Steps,
            1 => (Steps + 1) / 2,
            2 => 0,
            3 => Math.Min(1, Steps),
            _ => Math.Max(Steps - 1, 0),
        }).ToArray();

    /// <summary>Random inputs for this case (seeded, so a failing case reproduces), drawn in float64 and converted.
    /// Scales keep the gates away from saturation; sLSTM's initial normaliser n is positive, as it is after any step.</summary>
    public RnnInputs MakeInputs(ScalarType dtype, long seed, Device? device = null)
    {
        device ??= torch.CPU;
        var generator = new torch.Generator((ulong)seed);
        Tensor Normal(double scale, params long[] shape)
            => torch.randn(shape, dtype: ScalarType.Float64, generator: generator) * scale;
        Tensor Convert(Tensor t) => t.to(dtype).to(device);

        Tensor wx = Normal(0.6, Steps, Batch, Gates * Hidden);
        Tensor r = Normal(0.8 / Math.Sqrt(HeadDim), Heads, Gates * HeadDim, HeadDim);
        Tensor b = Normal(0.2, Gates * Hidden);
        Tensor? s0 = null;
        if (HasS0)
        {
            s0 = Normal(0.5, States, Batch, Hidden);
            if (Cell == RnnCell.Slstm)
            {
                s0[2] = torch.rand([Batch, Hidden], dtype: ScalarType.Float64, generator: generator) + 0.5;
                s0[3] = Normal(0.3, Batch, Hidden);
            }
        }
        Tensor? lengths = HasLengths ? torch.tensor(LengthValues(), dtype: ScalarType.Int64) : null;
        return new RnnInputs(this, Convert(wx), Convert(r), Convert(b), s0 is null ? null : Convert(s0), lengths);
    }

    /// <summary>Weights for a scalar loss sum(y * wy) + sum(sLast * ws) that reaches every output.</summary>
    public (Tensor WeightsY, Tensor WeightsSLast) LossWeights(long seed, ScalarType dtype = ScalarType.Float64,
        Device? device = null)
    {
        var generator = new torch.Generator((ulong)seed);
        Tensor wy = torch.randn([Steps, Batch, Hidden], dtype: ScalarType.Float64, generator: generator);
        Tensor ws = torch.randn([States, Batch, Hidden], dtype: ScalarType.Float64, generator: generator);
        return (wy.to(dtype).to(device ?? torch.CPU), ws.to(dtype).to(device ?? torch.CPU));
    }
}

/// <summary>The tensors of one <see cref="RnnCase"/>: wx (T, Bt, G*H), R (NH, G*DH, DH), b (G*H), s0 (S, Bt, H),
/// lengths (Bt) int64 on the CPU.</summary>
public sealed record RnnInputs(RnnCase Case, Tensor Wx, Tensor R, Tensor B, Tensor? S0, Tensor? Lengths)
{
    public (Tensor Y, Tensor SLast) RunManaged(bool allowTf32 = false)
        => FusedRnn.Forward(Case.Cell, Wx, R, B, S0, Lengths, Case.Reverse, allowTf32);

    public (Tensor Y, Tensor SLast) RunReference()
        => RnnReference.Forward(Case.Cell, Wx, R, B, S0, Lengths, Case.Reverse);

    /// <summary>Fresh leaf copies that require grad (the same values).</summary>
    public RnnInputs RequiringGrad() => this with
    {
        Wx = Leaf(Wx), R = Leaf(R), B = Leaf(B), S0 = S0 is null ? null : Leaf(S0),
    };

    /// <summary>The differentiable inputs by name.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> FloatInputs()
    {
        yield return ("wx", Wx);
        yield return ("R", R);
        yield return ("b", B);
        if (S0 is not null)
            yield return ("s0", S0);
    }

    public static Tensor Loss((Tensor Y, Tensor SLast) result, Tensor weightsY, Tensor weightsSLast)
        => (result.Y * weightsY).sum() + (result.SLast * weightsSLast).sum();

    private static Tensor Leaf(Tensor t) => t.detach().clone().requires_grad_(true);
}
