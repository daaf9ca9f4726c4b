using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The tensors of one selective-scan call, already checked by <see cref="SelectiveScanArguments"/>.
/// Sizes: Batch = Bt, Dim = Dm, State = N, Length = L (1 for a step); Groups = G of the time-varying B / C (1 when
/// neither varies).</summary>
internal sealed record ScanTensors(
    Tensor U, Tensor Delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? Z, Tensor? DeltaBias, Tensor? H0,
    Tensor? Lengths, bool DeltaSoftplus)
{
    public long Batch => U.shape[0];
    public long Dim => U.shape[1];
    public long State => A.shape[1];
    public bool BVarying => B.dim() != 2;
    public bool CVarying => C.dim() != 2;
    public long Groups => BVarying ? B.shape[1] : CVarying ? C.shape[1] : 1;

    /// <summary>The same call with every tensor row-major contiguous and lengths on the scan's device (the C API
    /// wants both; its strides are checked, not assumed).</summary>
    public ScanTensors Contiguous() => new(
        U.contiguous(), Delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous(), D?.contiguous(),
        Z?.contiguous(), DeltaBias?.contiguous(), H0?.contiguous(), Lengths?.to(U.device).contiguous(),
        DeltaSoftplus);
}

/// <summary>Checks the shapes, dtypes and devices of a scan or step before the native call, so that a mistake is
/// reported as an ArgumentException naming the argument, the expected and the actual value. The C library checks
/// again; this is the friendlier first line.</summary>
internal static class SelectiveScanArguments
{
    /// <summary>Full scan: u, delta, z (Bt, Dm, L); A (Dm, N); B, C (Dm, N) or (Bt, G, N, L); D, deltaBias (Dm);
    /// h0 (Bt, Dm, N); lengths (Bt) int64 on the CPU or the scan's device.</summary>
    public static void CheckForward(ScanTensors x)
    {
        Require(x.U, "u", 3, "(Bt, Dm, L)");
        long batch = x.U.shape[0], dim = x.U.shape[1], length = x.U.shape[2];
        CheckFloatDTypeAndDevice(x.U, "u", x.U);
        CheckCommon(x, dim);
        CheckShape(x.Delta, "delta", "(Bt, Dm, L)", batch, dim, length);
        CheckOptional(x.Z, "z", "(Bt, Dm, L)", batch, dim, length);
        CheckBC(x.B, "B", x, batch, dim, length, timeVarying: true);
        CheckBC(x.C, "C", x, batch, dim, length, timeVarying: true);
        CheckGroupsAgree(x);
        CheckOptional(x.H0, "h0", "(Bt, Dm, N)", batch, dim, x.A.shape[1]);
        if (x.Lengths is not null)
        {
            CheckShape(x.Lengths, "lengths", "(Bt)", batch);
            if (x.Lengths.dtype != ScalarType.Int64)
                throw new ArgumentException($"lengths: expected dtype Int64, got {x.Lengths.dtype}.", "lengths");
            if (x.Lengths.device_type != DeviceType.CPU && !ArgumentChecks.SameDevice(x.Lengths, x.U))
                throw new ArgumentException(
                    $"lengths: expected a tensor on the CPU or on {x.U.device} (the device of u), got {x.Lengths.device}.",
                    "lengths");
        }
    }

    /// <summary>One step: u, delta, z (Bt, Dm); B, C (Dm, N) or (Bt, G, N); state (Bt, Dm, N).</summary>
    public static void CheckStep(Tensor state, ScanTensors x)
    {
        Require(x.U, "u", 2, "(Bt, Dm)");
        long batch = x.U.shape[0], dim = x.U.shape[1];
        CheckFloatDTypeAndDevice(x.U, "u", x.U);
        CheckCommon(x, dim);
        CheckShape(x.Delta, "delta", "(Bt, Dm)", batch, dim);
        CheckOptional(x.Z, "z", "(Bt, Dm)", batch, dim);
        CheckBC(x.B, "B", x, batch, dim, 0, timeVarying: false);
        CheckBC(x.C, "C", x, batch, dim, 0, timeVarying: false);
        CheckGroupsAgree(x);
        CheckShape(state, "state", "(Bt, Dm, N)", batch, dim, x.A.shape[1]);
        CheckFloatDTypeAndDevice(state, "state", x.U);
    }

    // A, D, deltaBias and the dtype/device of every float tensor: shared by scan and step.
    private static void CheckCommon(ScanTensors x, long dim)
    {
        Require(x.A, "A", 2, "(Dm, N)");
        CheckShape(x.A, "A", "(Dm, N)", dim, x.A.shape[1]);
        CheckOptional(x.D, "D", "(Dm)", dim);
        CheckOptional(x.DeltaBias, "deltaBias", "(Dm)", dim);
        foreach ((Tensor? tensor, string name) in new[]
                 {
                     (x.Delta, "delta"), (x.A, "A"), (x.B, "B"), (x.C, "C"), (x.D, "D"), (x.Z, "z"),
                     (x.DeltaBias, "deltaBias"), (x.H0, "h0"),
                 })
        {
            if (tensor is not null)
                CheckFloatDTypeAndDevice(tensor, name, x.U);
        }
    }

    // B or C: (Dm, N) constant, or time-varying (Bt, G, N, L) for a scan / (Bt, G, N) for a step.
    private static void CheckBC(Tensor t, string name, ScanTensors x, long batch, long dim, long length,
        bool timeVarying)
    {
        long state = x.A.shape[1];
        string varyingShape = timeVarying ? "(Bt, G, N, L)" : "(Bt, G, N)";
        int varyingRank = timeVarying ? 4 : 3;
        if (t.dim() == 2)
        {
            CheckShape(t, name, "(Dm, N)", dim, state);
            return;
        }
        if (t.dim() != varyingRank)
            throw new ArgumentException(
                $"{name}: expected shape (Dm, N) = ({dim}, {state}) or {varyingShape}, got {TensorView.ShapeText(t)}.",
                name);
        long groups = t.shape[1];
        if (groups < 1 || dim % groups != 0)
            throw new ArgumentException(
                $"{name}: expected the group count G (dimension 1 of {varyingShape}) to divide Dm = {dim}, got G = {groups}.",
                name);
        long[] expected = timeVarying ? [batch, groups, state, length] : [batch, groups, state];
        CheckShape(t, name, varyingShape, expected);
    }

    private static void CheckGroupsAgree(ScanTensors x)
    {
        if (x.BVarying && x.CVarying && x.B.shape[1] != x.C.shape[1])
            throw new ArgumentException(
                $"C: expected the same group count G as B ({x.B.shape[1]}), got G = {x.C.shape[1]}.", "C");
    }

    private static void Require(Tensor? t, string name, int rank, string symbolic)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.dim() != rank)
            throw new ArgumentException(
                $"{name}: expected a rank-{rank} tensor {symbolic}, got shape {TensorView.ShapeText(t)}.", name);
    }

    private static void CheckOptional(Tensor? t, string name, string symbolic, params long[] expected)
    {
        if (t is not null)
            CheckShape(t, name, symbolic, expected);
    }

    private static void CheckShape(Tensor t, string name, string symbolic, params long[] expected)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (!t.shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"{name}: expected shape {symbolic} = ({string.Join(", ", expected)}), got {TensorView.ShapeText(t)}.",
                name);
    }

    private static void CheckFloatDTypeAndDevice(Tensor t, string name, Tensor u)
    {
        if (u.dtype is not (ScalarType.Float32 or ScalarType.Float64))
            throw new ArgumentException($"u: expected dtype Float32 or Float64, got {u.dtype}.", "u");
        ArgumentChecks.CheckSameKind(t, name, u, "u");
    }
}
