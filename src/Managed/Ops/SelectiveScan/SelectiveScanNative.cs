using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The tensors of one selective-scan call, as the user passed them (the native shim checks them).
/// Sizes: Batch = Bt, Dim = Dm, State = N, Length = L; Groups = G of the time-varying B / C (1 when neither varies).
/// The sizes read 0 for a dimension a malformed input lacks (<see cref="TensorView.SizeOrZero"/>).</summary>
internal sealed record ScanTensors(
    Tensor U, Tensor Delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? Z, Tensor? DeltaBias, Tensor? H0,
    Tensor? Lengths, bool DeltaSoftplus)
{
    public long Batch => U.SizeOrZero(0);
    public long Dim => U.SizeOrZero(1);
    public long Length => U.SizeOrZero(2);
    public long State => A.SizeOrZero(1);
    public bool BVarying => B.dim() != 2;
    public bool CVarying => C.dim() != 2;
    public long Groups => BVarying ? B.SizeOrZero(1) : CVarying ? C.SizeOrZero(1) : 1;

    /// <summary>The same call with every tensor row-major contiguous and CPU lengths on the scan's device (the C API
    /// wants both; its strides are checked, not assumed).</summary>
    public ScanTensors Contiguous() => new(
        U.contiguous(), Delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous(), D?.contiguous(),
        Z?.contiguous(), DeltaBias?.contiguous(), H0?.contiguous(), TensorView.LengthsFor(Lengths, U), DeltaSoftplus);
}

/// <summary>Gradients of a scan, one per input (null for absent optionals); each has its input's shape.</summary>
internal sealed record ScanGradients(
    Tensor DU, Tensor DDelta, Tensor DA, Tensor DB, Tensor DC, Tensor? DD, Tensor? DZ, Tensor? DDeltaBias,
    Tensor? DH0);

/// <summary>The calls into hs_selective_scan_*: binds the views (under the names of <see cref="SelectiveScan"/>'s
/// parameters), calls, maps the status. Inputs must be contiguous (<see cref="ScanTensors.Contiguous"/>). CUDA work
/// goes to the legacy default stream (TorchSharp has no stream API), which orders it with libtorch's own work, so no
/// synchronisation is needed here.</summary>
internal static unsafe class SelectiveScanNative
{
    public static long NumChunks(long length) => NativeMethods.hs_selective_scan_num_chunks(length);

    /// <summary>output (Bt, Dm, L); lastState (Bt, Dm, N); checkpoints (Bt, Dm, K, N), K = NumChunks(L), or null when
    /// no backward will follow.</summary>
    public static void Forward(ScanTensors x, Tensor output, Tensor lastState, Tensor? checkpoints)
    {
        using var call = new NativeCall();
        hs_selective_scan_inputs inputs = BindInputs(call, x);
        call.Check(NativeMethods.hs_selective_scan_forward(&inputs, call.Bind(output, "out"),
            call.Bind(lastState, "h_last"), call.Bind(checkpoints, "checkpoints"), null));
    }

    /// <summary>Overwrites every gradient in <paramref name="grads"/>; allocates the CUDA workspace the library asks
    /// for.</summary>
    public static void Backward(ScanTensors x, Tensor checkpoints, Tensor dOutput, Tensor dLastState,
        ScanGradients grads, bool deterministic)
    {
        using var call = new NativeCall();
        hs_selective_scan_inputs inputs = BindInputs(call, x);
        long workspaceElements;
        // The query takes the backward's own inputs, so its answer always matches the call.
        call.Check(NativeMethods.hs_selective_scan_workspace_elements(&inputs, deterministic ? 1 : 0,
            &workspaceElements));
        Tensor? workspace = workspaceElements > 0
            ? torch.empty([workspaceElements], dtype: ScalarType.Float32, device: x.U.device)
            : null;
        var gradViews = new hs_selective_scan_grads
        {
            du = call.Bind(grads.DU, "du"),
            ddelta = call.Bind(grads.DDelta, "ddelta"),
            dA = call.Bind(grads.DA, "dA"),
            dB = call.Bind(grads.DB, "dB"),
            dC = call.Bind(grads.DC, "dC"),
            dD = call.Bind(grads.DD, "dD"),
            dz = call.Bind(grads.DZ, "dz"),
            ddelta_bias = call.Bind(grads.DDeltaBias, "ddelta_bias"),
            dh0 = call.Bind(grads.DH0, "dh0"),
        };
        call.Check(NativeMethods.hs_selective_scan_backward(&inputs, call.Bind(checkpoints, "checkpoints"),
            call.Bind(dOutput, "dout"), call.Bind(dLastState, "dh_last"), &gradViews, deterministic ? 1 : 0,
            call.Bind(workspace, "workspace"), null));
    }

    /// <summary>state (Bt, Dm, N) contiguous, updated in place; output (Bt, Dm).</summary>
    public static void Step(ScanTensors x, Tensor state, Tensor output)
    {
        using var call = new NativeCall();
        hs_selective_scan_inputs inputs = BindInputs(call, x);
        call.Check(NativeMethods.hs_selective_scan_step(&inputs, call.Bind(state, "state"), call.Bind(output, "out"),
            null));
    }

    // Native names on the left, SelectiveScan's parameter names on the right where they differ.
    private static hs_selective_scan_inputs BindInputs(NativeCall call, ScanTensors x)
    {
        call.Name("delta_softplus", "deltaSoftplus");
        return new hs_selective_scan_inputs
        {
            u = call.Bind(x.U, "u"),
            delta = call.Bind(x.Delta, "delta"),
            A = call.Bind(x.A, "A"),
            B = call.Bind(x.B, "B"),
            C = call.Bind(x.C, "C"),
            D = call.Bind(x.D, "D"),
            z = call.Bind(x.Z, "z"),
            delta_bias = call.Bind(x.DeltaBias, "delta_bias", user: "deltaBias"),
            h0 = call.Bind(x.H0, "h0"),
            lengths = call.Bind(x.Lengths, "lengths"),
            delta_softplus = x.DeltaSoftplus ? 1 : 0,
        };
    }
}
