using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>Gradients of a scan, one per input (null for absent optionals); each has its input's shape.</summary>
internal sealed record ScanGradients(
    Tensor DU, Tensor DDelta, Tensor DA, Tensor DB, Tensor DC, Tensor? DD, Tensor? DZ, Tensor? DDeltaBias,
    Tensor? DH0);

/// <summary>The raw calls into hs_selective_scan_*: builds the hs_tensor views, calls, maps the status, and keeps
/// every tensor alive until the call returned. Inputs must already be checked and contiguous
/// (<see cref="ScanTensors.Contiguous"/>). CUDA work goes to the legacy default stream (TorchSharp has no stream
/// API), which orders it with libtorch's own work, so no synchronisation is needed here.</summary>
internal static unsafe class SelectiveScanNative
{
    // Slots of the stack array of views: the ten inputs first, then the call's own tensors.
    private const int InputSlots = 10;
    private const int TotalSlots = InputSlots + 13;

    public static long NumChunks(long length) => NativeMethods.hs_selective_scan_num_chunks(length);

    /// <summary>output (Bt, Dm, L); lastState (Bt, Dm, N); checkpoints (Bt, Dm, K, N), K = NumChunks(L), or null when
    /// no backward will follow.</summary>
    public static void Forward(ScanTensors x, Tensor output, Tensor lastState, Tensor? checkpoints)
    {
        hs_tensor* views = stackalloc hs_tensor[TotalSlots];
        hs_selective_scan_inputs inputs = BindInputs(views, x);
        Native.Check(NativeMethods.hs_selective_scan_forward(&inputs, Bind(views + 10, output, "out"),
            Bind(views + 11, lastState, "h_last"), Bind(views + 12, checkpoints, "checkpoints"), null));
        GC.KeepAlive(x);
        GC.KeepAlive(output);
        GC.KeepAlive(lastState);
        GC.KeepAlive(checkpoints);
    }

    /// <summary>Overwrites every gradient in <paramref name="grads"/>; allocates the CUDA workspace the library asks
    /// for.</summary>
    public static void Backward(ScanTensors x, Tensor checkpoints, Tensor dOutput, Tensor dLastState,
        ScanGradients grads, bool deterministic)
    {
        hs_tensor* views = stackalloc hs_tensor[TotalSlots];
        hs_selective_scan_inputs inputs = BindInputs(views, x);
        // The query takes the backward's own inputs, so its answer always matches the call.
        long workspaceElements;
        Native.Check(NativeMethods.hs_selective_scan_workspace_elements(&inputs, deterministic ? 1 : 0,
            &workspaceElements));
        Tensor? workspace = workspaceElements > 0
            ? torch.empty([workspaceElements], dtype: ScalarType.Float32, device: x.U.device)
            : null;
        var gradViews = new hs_selective_scan_grads
        {
            du = Bind(views + 10, grads.DU, "du"),
            ddelta = Bind(views + 11, grads.DDelta, "ddelta"),
            dA = Bind(views + 12, grads.DA, "dA"),
            dB = Bind(views + 13, grads.DB, "dB"),
            dC = Bind(views + 14, grads.DC, "dC"),
            dD = Bind(views + 15, grads.DD, "dD"),
            dz = Bind(views + 16, grads.DZ, "dz"),
            ddelta_bias = Bind(views + 17, grads.DDeltaBias, "ddelta_bias"),
            dh0 = Bind(views + 18, grads.DH0, "dh0"),
        };
        Native.Check(NativeMethods.hs_selective_scan_backward(&inputs, Bind(views + 19, checkpoints, "checkpoints"),
            Bind(views + 20, dOutput, "dout"), Bind(views + 21, dLastState, "dh_last"), &gradViews,
            deterministic ? 1 : 0, Bind(views + 22, workspace, "workspace"), null));
        GC.KeepAlive(x);
        GC.KeepAlive(checkpoints);
        GC.KeepAlive(dOutput);
        GC.KeepAlive(dLastState);
        GC.KeepAlive(grads);
        GC.KeepAlive(workspace);
    }

    /// <summary>state (Bt, Dm, N) contiguous, updated in place; output (Bt, Dm).</summary>
    public static void Step(ScanTensors x, Tensor state, Tensor output)
    {
        hs_tensor* views = stackalloc hs_tensor[TotalSlots];
        hs_selective_scan_inputs inputs = BindInputs(views, x);
        Native.Check(NativeMethods.hs_selective_scan_step(&inputs, Bind(views + 10, state, "state"),
            Bind(views + 11, output, "out"), null));
        GC.KeepAlive(x);
        GC.KeepAlive(state);
        GC.KeepAlive(output);
    }

    private static hs_selective_scan_inputs BindInputs(hs_tensor* views, ScanTensors x) => new()
    {
        u = Bind(views + 0, x.U, "u"),
        delta = Bind(views + 1, x.Delta, "delta"),
        A = Bind(views + 2, x.A, "A"),
        B = Bind(views + 3, x.B, "B"),
        C = Bind(views + 4, x.C, "C"),
        D = Bind(views + 5, x.D, "D"),
        z = Bind(views + 6, x.Z, "z"),
        delta_bias = Bind(views + 7, x.DeltaBias, "delta_bias"),
        h0 = Bind(views + 8, x.H0, "h0"),
        lengths = Bind(views + 9, x.Lengths, "lengths"),
        delta_softplus = x.DeltaSoftplus ? 1 : 0,
    };

    // Writes the view of an optional tensor into its slot; null (the C API's "absent") when there is no tensor.
    private static hs_tensor* Bind(hs_tensor* slot, Tensor? tensor, string argumentName)
    {
        if (tensor is null)
            return null;
        *slot = TensorView.Of(tensor, argumentName);
        return slot;
    }
}
