using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The tensors of one fused-recurrence call, as the user passed them (the native shim checks them).
/// Shapes: Wx (T, Bt, G*H) for a sequence or (Bt, G*H) for a step; R (NH, G*DH, DH); B (G*H); S0 (S, Bt, H);
/// Lengths (Bt) int64. Sizes derive from R: Heads = NH, HeadDim = DH, Hidden = H = NH * DH; they read 0 for a
/// dimension a malformed input lacks (<see cref="TensorView.SizeOrZero"/>). <see cref="WxName"/> is the user's name
/// of the tensor bound as 'wx' and <see cref="WxNote"/> what it is when that is not the user's own tensor.</summary>
internal sealed record RnnTensors(
    RnnCell Cell, Tensor Wx, Tensor R, Tensor B, Tensor? S0, Tensor? Lengths, bool Reverse, bool AllowTf32)
{
    public string WxName { get; init; } = "wx";
    public string? WxNote { get; init; }

    public long Heads => R.SizeOrZero(0);
    public long HeadDim => R.SizeOrZero(2);
    public long Hidden => Heads * HeadDim;
    /// <summary>Bt: dimension 1 of a sequence's wx, dimension 0 of a step's.</summary>
    public long Batch => Wx.dim() == 3 ? Wx.shape[1] : Wx.SizeOrZero(0);
    public long Steps => Wx.dim() == 3 ? Wx.shape[0] : 1;

    /// <summary>The same call with every tensor row-major contiguous and CPU lengths on the wx device (the C API
    /// wants both; its strides are checked, not assumed).</summary>
    public RnnTensors Contiguous() => this with
    {
        Wx = Wx.contiguous(), R = R.contiguous(), B = B.contiguous(), S0 = S0?.contiguous(),
        Lengths = TensorView.LengthsFor(Lengths, Wx),
    };
}

/// <summary>Gradients of one fused recurrence: DWx (T, Bt, G*H), DR (NH, G*DH, DH), DB (G*H), DS0 (S, Bt, H) or
/// null when no initial state was given.</summary>
internal sealed record RnnGradients(Tensor DWx, Tensor DR, Tensor DB, Tensor? DS0);

/// <summary>The calls into hs_rnn_*: binds the views (under the names of <see cref="FusedRnn"/>'s parameters), calls,
/// maps the status. Inputs must be contiguous (<see cref="RnnTensors.Contiguous"/>). CUDA work goes to the legacy
/// default stream (TorchSharp has no stream API), which orders it with libtorch's own work, so no synchronisation is
/// needed here.</summary>
internal static unsafe class FusedRnnNative
{
    /// <summary>C: the gate slots per step of the saved cache (T, Bt, C*H), from hs_rnn_cell_info.</summary>
    public static int CacheGates(RnnCell cell)
    {
        int gates, states, cacheGates;
        Native.Check(NativeMethods.hs_rnn_cell_info((int)cell, &gates, &states, &cacheGates));
        return cacheGates;
    }

    /// <summary>y (T, Bt, H); sLast (S, Bt, H); states (T+1, S, Bt, H) and cache (T, Bt, C*H) optional (needed by
    /// <see cref="Backward"/>). Leases the scratch the library asks for (on CUDA with dense heads only).</summary>
    public static void Forward(RnnTensors x, Tensor y, Tensor sLast, Tensor? states, Tensor? cache)
    {
        using var call = new NativeCall();
        hs_rnn_inputs inputs = BindInputs(call, x);
        using ScratchLease? workspace = Workspace(call, x, &inputs, hs_rnn_pass.HS_RNN_PASS_FORWARD, dwx: null);
        call.Check(NativeMethods.hs_rnn_forward(&inputs, call.Bind(y, "y"), call.Bind(sLast, "s_last"),
            call.Bind(states, "states"), call.Bind(cache, "cache"), call.Bind(workspace?.View, "workspace"), null));
    }

    /// <summary>Overwrites every gradient in <paramref name="grads"/> from what <see cref="Forward"/> saved;
    /// dy (T, Bt, H), dsLast (S, Bt, H). x.Wx only carries the sizes (it may be grads.DWx): the library is given
    /// wx = NULL, which its backward accepts because it never reads wx. Leases the workspace the library asks for.</summary>
    public static void Backward(RnnTensors x, Tensor states, Tensor cache, Tensor dy, Tensor dsLast,
        RnnGradients grads)
    {
        using var call = new NativeCall();
        hs_rnn_inputs inputs = BindInputs(call, x, withWx: false);
        // Without wx the sizes come from dwx, for the query as for the call.
        hs_tensor* dwx = call.Bind(grads.DWx, "dwx");
        using ScratchLease? workspace = Workspace(call, x, &inputs, hs_rnn_pass.HS_RNN_PASS_BACKWARD, dwx);
        call.Check(NativeMethods.hs_rnn_backward(&inputs, call.Bind(states, "states"), call.Bind(cache, "cache"),
            call.Bind(dy, "dy"), call.Bind(dsLast, "ds_last"), dwx,
            call.Bind(grads.DR, "dR"), call.Bind(grads.DB, "db"), call.Bind(grads.DS0, "ds0"),
            call.Bind(workspace?.View, "workspace"), null));
    }

    /// <summary>x.Wx (Bt, G*H); state (S, Bt, H) contiguous, updated in place; y (Bt, H). Leases the forward's
    /// scratch for one step when the library asks for one.</summary>
    public static void Step(RnnTensors x, Tensor state, Tensor y)
    {
        using var call = new NativeCall();
        hs_rnn_inputs inputs = BindInputs(call, x);
        using ScratchLease? workspace = Workspace(call, x, &inputs, hs_rnn_pass.HS_RNN_PASS_STEP, dwx: null);
        call.Check(NativeMethods.hs_rnn_step(&inputs, call.Bind(state, "state"), call.Bind(y, "y"),
            call.Bind(workspace?.View, "workspace"), null));
    }

    // A 1-D scratch tensor in the inputs' dtype and device with the elements the library asks for this call (the
    // query takes the call's own bound inputs, and for the backward its dwx, so it validates them like the call and
    // can never disagree with it), leased from NativeScratch, or null when it needs none.
    private static ScratchLease? Workspace(NativeCall call, RnnTensors x, hs_rnn_inputs* inputs, hs_rnn_pass pass,
        hs_tensor* dwx)
    {
        long elements;
        call.Check(NativeMethods.hs_rnn_workspace_elements(inputs, (int)pass, dwx, &elements));
        return elements > 0 ? NativeScratch.Rent(elements, x.Wx.dtype, x.Wx.device) : null;
    }

    private static hs_rnn_inputs BindInputs(NativeCall call, RnnTensors x, bool withWx = true)
    {
        call.Name("cell", "cell");
        call.Name("allow_tf32", "allowTf32");
        return new hs_rnn_inputs
        {
            cell = (int)x.Cell,
            reverse = x.Reverse ? 1 : 0,
            wx = withWx ? call.Bind(x.Wx, "wx", user: x.WxName, note: x.WxNote) : null,
            R = call.Bind(x.R, "R"),
            b = call.Bind(x.B, "b"),
            s0 = call.Bind(x.S0, "s0"),
            lengths = call.Bind(x.Lengths, "lengths"),
            allow_tf32 = x.AllowTf32 ? 1 : 0,
        };
    }
}
