using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The tensors of one fused-recurrence call, already checked by <see cref="FusedRnnArguments"/>.
/// Shapes: Wx (T, Bt, G*H) for a sequence or (Bt, G*H) for a step; R (NH, G*DH, DH); B (G*H); S0 (S, Bt, H);
/// Lengths (Bt) int64. Sizes derive from R: Heads = NH, HeadDim = DH, Hidden = H = NH * DH.</summary>
internal sealed record RnnTensors(
    RnnCell Cell, Tensor Wx, Tensor R, Tensor B, Tensor? S0, Tensor? Lengths, bool Reverse, bool AllowTf32)
{
    public long Heads => R.shape[0];
    public long HeadDim => R.shape[2];
    public long Hidden => Heads * HeadDim;
    /// <summary>Bt: dimension 1 of a sequence's wx, dimension 0 of a step's.</summary>
    public long Batch => Wx.dim() == 3 ? Wx.shape[1] : Wx.shape[0];
    public long Steps => Wx.dim() == 3 ? Wx.shape[0] : 1;

    /// <summary>The same call with every tensor row-major contiguous and lengths on the wx device (the C API wants
    /// both; its strides are checked, not assumed).</summary>
    public RnnTensors Contiguous() => this with
    {
        Wx = Wx.contiguous(), R = R.contiguous(), B = B.contiguous(), S0 = S0?.contiguous(),
        Lengths = Lengths?.to(Wx.device).contiguous(),
    };
}

/// <summary>Checks shapes, dtypes, devices and lengths of a fused-recurrence call before the native call, so that a
/// mistake is an ArgumentException naming the argument, the expected and the actual value. The C library checks
/// again; this is the friendlier first line.</summary>
internal static class FusedRnnArguments
{
    /// <summary>Full sequence: wx (T, Bt, G*H), R (NH, G*DH, DH), b (G*H), s0 (S, Bt, H), lengths (Bt) int64 on the
    /// CPU or the wx device with 0 &lt;= lengths[b] &lt;= T (values checked when lengths is on the CPU).</summary>
    public static void CheckForward(RnnTensors x)
    {
        RnnCellInfo.Validate(x.Cell);
        Require(x.Wx, "wx", 3, "(T, Bt, G*H)");
        CheckFloat(x.Wx, "wx");
        long steps = x.Wx.shape[0], batch = x.Wx.shape[1];
        long hidden = CheckWeights(x, x.Wx.shape[2], "(T, Bt, G*H)");
        if (x.S0 is not null)
        {
            CheckShape(x.S0, "s0", "(S, Bt, H)", x.Cell.States(), batch, hidden);
            CheckSameKind(x.S0, "s0", x.Wx);
        }
        if (x.Lengths is not null)
            CheckLengths(x.Lengths, x.Wx, batch, steps);
    }

    /// <summary>One step: wx (Bt, G*H), R (NH, G*DH, DH), b (G*H), state (S, Bt, H).</summary>
    public static void CheckStep(RnnTensors x, Tensor state)
    {
        RnnCellInfo.Validate(x.Cell);
        Require(x.Wx, "wx", 2, "(Bt, G*H)");
        CheckFloat(x.Wx, "wx");
        long hidden = CheckWeights(x, x.Wx.shape[1], "(Bt, G*H)");
        Require(state, "state", 3, "(S, Bt, H)");
        CheckShape(state, "state", "(S, Bt, H)", x.Cell.States(), x.Wx.shape[0], hidden);
        CheckSameKind(state, "state", x.Wx);
    }

    // R and b against the gate width of wx; returns the hidden size H = NH * DH.
    private static long CheckWeights(RnnTensors x, long gateWidth, string wxShape)
    {
        int gates = x.Cell.Gates();
        Require(x.R, "R", 3, "(NH, G*DH, DH)");
        CheckSameKind(x.R, "R", x.Wx);
        long heads = x.R.shape[0], headDim = x.R.shape[2];
        if (heads < 1 || headDim < 1 || x.R.shape[1] != gates * headDim)
            throw new ArgumentException(
                $"R: expected shape (NH, G*DH, DH) with G = {gates} gates of the {x.Cell} cell, NH >= 1 and DH >= 1, " +
                $"got {TensorView.ShapeText(x.R)}.", "R");
        long hidden = heads * headDim;
        if (gateWidth != gates * hidden)
            throw new ArgumentException(
                $"wx: expected shape {wxShape} with G*H = {gates} * {hidden} = {gates * hidden} (H = NH * DH = " +
                $"{heads} * {headDim} from R {TensorView.ShapeText(x.R)}), got {TensorView.ShapeText(x.Wx)}.", "wx");
        Require(x.B, "b", 1, "(G*H)");
        CheckShape(x.B, "b", "(G*H)", gates * hidden);
        CheckSameKind(x.B, "b", x.Wx);
        return hidden;
    }

    private static void CheckLengths(Tensor lengths, Tensor wx, long batch, long steps)
    {
        CheckShape(lengths, "lengths", "(Bt)", batch);
        if (lengths.dtype != ScalarType.Int64)
            throw new ArgumentException($"lengths: expected dtype Int64, got {lengths.dtype}.", "lengths");
        if (lengths.device_type != DeviceType.CPU && !ArgumentChecks.SameDevice(lengths, wx))
            throw new ArgumentException(
                $"lengths: expected a tensor on the CPU or on {wx.device} (the device of wx), got {lengths.device}.",
                "lengths");
        // Values on a GPU would need a device sync to read; the CUDA kernel clamps them instead (hybridseq.h).
        if (lengths.device_type != DeviceType.CPU || batch == 0)
            return;
        long smallest = lengths.min().item<long>(), largest = lengths.max().item<long>();
        if (smallest < 0 || largest > steps)
            throw new ArgumentException(
                $"lengths: expected every value in [0, T] = [0, {steps}], got values from {smallest} to {largest}.",
                "lengths");
    }

    private static void Require(Tensor? t, string name, int rank, string symbolic)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.dim() != rank)
            throw new ArgumentException(
                $"{name}: expected a rank-{rank} tensor {symbolic}, got shape {TensorView.ShapeText(t)}.", name);
    }

    private static void CheckShape(Tensor t, string name, string symbolic, params long[] expected)
    {
        if (!t.shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"{name}: expected shape {symbolic} = ({string.Join(", ", expected)}), got {TensorView.ShapeText(t)}.",
                name);
    }

    private static void CheckFloat(Tensor wx, string name)
    {
        if (wx.dtype is not (ScalarType.Float32 or ScalarType.Float64))
            throw new ArgumentException($"{name}: expected dtype Float32 or Float64, got {wx.dtype}.", name);
    }

    // Same dtype and device as wx, which sets both for the call.
    private static void CheckSameKind(Tensor t, string name, Tensor wx) => ArgumentChecks.CheckSameKind(t, name, wx, "wx");
}
