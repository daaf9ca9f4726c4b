using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>One configuration of the selective scan for the test matrix: sizes and which optional inputs are given.
/// Groups applies to a time-varying B / C (G must divide Dim).</summary>
public sealed record ScanCase(
    long Batch, long Dim, long State, long Length, long Groups = 1,
    bool BVarying = false, bool CVarying = false, bool HasD = false, bool HasZ = false, bool HasDeltaBias = false,
    bool Softplus = false, bool HasH0 = false, bool HasLengths = false)
{
    /// <summary>A seed derived from the configuration alone (record hash codes vary between processes).</summary>
    public long Seed => Batch * 1_000_003 + Dim * 10_007 + State * 101 + Length * 7 + Groups
        + (BVarying ? 1 : 0) * 3 + (CVarying ? 1 : 0) * 5 + (HasD ? 1 : 0) * 11 + (HasZ ? 1 : 0) * 13
        + (HasDeltaBias ? 1 : 0) * 17 + (Softplus ? 1 : 0) * 19 + (HasH0 ? 1 : 0) * 23 + (HasLengths ? 1 : 0) * 29;

    public override string ToString()
    {
        var flags = new List<string>();
        if (BVarying) flags.Add("Bvar");
        if (CVarying) flags.Add("Cvar");
        if (HasD) flags.Add("D");
        if (HasZ) flags.Add("z");
        if (HasDeltaBias) flags.Add("bias");
        if (Softplus) flags.Add("softplus");
        if (HasH0) flags.Add("h0");
        if (HasLengths) flags.Add("lengths");
        return $"Bt{Batch} Dm{Dim} N{State} L{Length} G{Groups} [{string.Join(",", flags)}]";
    }

    /// <summary>Random inputs for this case (seeded, so a failing case reproduces). delta is positive and A
    /// negative, as in Mamba, so the recurrence is stable over long L.</summary>
    public ScanInputs MakeInputs(ScalarType dtype, long seed, Device? device = null)
    {
        device ??= torch.CPU;
        var generator = new torch.Generator((ulong)seed);
        Tensor Normal(params long[] shape) => torch.randn(shape, dtype: ScalarType.Float64, generator: generator);
        Tensor Uniform(params long[] shape) => torch.rand(shape, dtype: ScalarType.Float64, generator: generator);

        Tensor u = Normal(Batch, Dim, Length);
        Tensor delta = Uniform(Batch, Dim, Length) * 0.4 + 0.05;
        Tensor a = -(Uniform(Dim, State) * 1.5 + 0.25);
        Tensor b = BVarying ? Normal(Batch, Groups, State, Length) : Normal(Dim, State);
        Tensor c = CVarying ? Normal(Batch, Groups, State, Length) : Normal(Dim, State);
        Tensor? d = HasD ? Normal(Dim) : null;
        Tensor? z = HasZ ? Normal(Batch, Dim, Length) : null;
        Tensor? deltaBias = HasDeltaBias ? Normal(Dim) * 0.1 : null;
        Tensor? h0 = HasH0 ? Normal(Batch, Dim, State) : null;
        Tensor? lengths = null;
        if (HasLengths)
        {
            // Full length, zero length and something in between, cycling over the batch.
            long[] values = Enumerable.Range(0, (int)Batch)
                .Select(i => (i % 3) switch { 0 => Length, 1 => Length / 2, _ => 0L }).ToArray();
            lengths = torch.tensor(values, dtype: ScalarType.Int64);
        }
        Tensor Place(Tensor t) => t.to(dtype).to(device);
        return new ScanInputs(Place(u), Place(delta), Place(a), Place(b), Place(c), d is null ? null : Place(d),
            z is null ? null : Place(z), deltaBias is null ? null : Place(deltaBias), h0 is null ? null : Place(h0),
            lengths?.to(device), Softplus);
    }
}

/// <summary>The tensors of one scan call, with helpers to run the managed op and the reference on them.</summary>
public sealed record ScanInputs(
    Tensor U, Tensor Delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? Z, Tensor? DeltaBias, Tensor? H0,
    Tensor? Lengths, bool Softplus)
{
    /// <summary>Every float input that is present, with its name, in argument order.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> FloatInputs()
    {
        yield return ("u", U);
        yield return ("delta", Delta);
        yield return ("A", A);
        yield return ("B", B);
        yield return ("C", C);
        if (D is not null) yield return ("D", D);
        if (Z is not null) yield return ("z", Z);
        if (DeltaBias is not null) yield return ("deltaBias", DeltaBias);
        if (H0 is not null) yield return ("h0", H0);
    }

    /// <summary>Fresh leaf copies of every float input that require grad (lengths is shared).</summary>
    public ScanInputs RequiringGrad()
    {
        Tensor Leaf(Tensor t) => t.detach().clone().requires_grad_(true);
        return new ScanInputs(Leaf(U), Leaf(Delta), Leaf(A), Leaf(B), Leaf(C), D is null ? null : Leaf(D),
            Z is null ? null : Leaf(Z), DeltaBias is null ? null : Leaf(DeltaBias), H0 is null ? null : Leaf(H0),
            Lengths, Softplus);
    }

    public (Tensor Output, Tensor LastState) RunManaged(bool deterministic = false)
        => HybridSeq.Managed.SelectiveScan.Forward(U, Delta, A, B, C, D, Z, DeltaBias, Softplus, H0, Lengths,
            deterministic);

    public (Tensor Output, Tensor LastState) RunReference()
        => HybridSeq.Managed.Reference.SelectiveScanReference.Forward(U, Delta, A, B, C, D, Z, DeltaBias, Softplus,
            H0, Lengths);

    /// <summary>A scalar loss that uses both outputs with fixed random weights, so every gradient path is exercised.</summary>
    public static Tensor Loss((Tensor Output, Tensor LastState) result, Tensor outputWeights, Tensor stateWeights)
        => (result.Output * outputWeights).sum() + (result.LastState * stateWeights).sum();
}
