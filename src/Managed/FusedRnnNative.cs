using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>Gradients of one fused recurrence: DWx (T, Bt, G*H), DR (NH, G*DH, DH), DB (G*H), DS0 (S, Bt, H) or
/// null when no initial state was given.</summary>
internal sealed record RnnGradients(Tensor DWx, Tensor DR, Tensor DB, Tensor? DS0);

/// <summary>The raw calls into hs_rnn_*: builds the hs_tensor views, calls, maps the status and keeps every tensor
/// alive until the call returned. Inputs must already be checked and contiguous (<see cref="RnnTensors.Contiguous"/>).
/// CUDA work goes to the legacy default stream (TorchSharp has no stream API), which orders it with libtorch's own
/// work, so no synchronisation is needed here.</summary>
internal static unsafe class FusedRnnNative
{
    // Slots of the stack array of views: the five inputs first, then the call's own tensors.
    private const int InputSlots = 5;
    private const int TotalSlots = InputSlots + 10;

    /// <summary>C: the gate slots per step of the saved cache (T, Bt, C*H), from hs_rnn_cell_info.</summary>
    public static int CacheGates(RnnCell cell)
    {
        int gates, states, cacheGates;
        Native.Check(NativeMethods.hs_rnn_cell_info((int)cell, &gates, &states, &cacheGates));
        return cacheGates;
    }

    /// <summary>y (T, Bt, H); sLast (S, Bt, H); states (T+1, S, Bt, H) and cache (T, Bt, C*H) optional (needed by
    /// <see cref="Backward"/>). Allocates the scratch the library asks for (on CUDA with dense heads only).</summary>
    public static void Forward(RnnTensors x, Tensor y, Tensor sLast, Tensor? states, Tensor? cache)
    {
        hs_tensor* views = stackalloc hs_tensor[TotalSlots];
        hs_rnn_inputs inputs = BindInputs(views, x);
        using ScratchLease? lease = Workspace(x, &inputs, hs_rnn_pass.HS_RNN_PASS_FORWARD, null);
        Tensor? workspace = lease?.View;
        Native.Check(NativeMethods.hs_rnn_forward(&inputs, Bind(views + 5, y, "y"), Bind(views + 6, sLast, "s_last"),
            Bind(views + 7, states, "states"), Bind(views + 8, cache, "cache"),
            Bind(views + 9, workspace, "workspace"), null));
        GC.KeepAlive(x);
        GC.KeepAlive(y);
        GC.KeepAlive(sLast);
        GC.KeepAlive(states);
        GC.KeepAlive(cache);
        GC.KeepAlive(workspace);
    }

    /// <summary>Overwrites every gradient in <paramref name="grads"/> from what <see cref="Forward"/> saved;
    /// dy (T, Bt, H), dsLast (S, Bt, H). x.Wx only carries the sizes (it may be grads.DWx): the library is given
    /// wx = NULL, which its backward accepts because it never reads wx. Allocates the workspace the library asks for.</summary>
    public static void Backward(RnnTensors x, Tensor states, Tensor cache, Tensor dy, Tensor dsLast,
        RnnGradients grads)
    {
        hs_tensor* views = stackalloc hs_tensor[TotalSlots];
        hs_rnn_inputs inputs = BindInputs(views, x);
        inputs.wx = null;
        hs_tensor* dwx = Bind(views + 9, grads.DWx, "dwx");
        using ScratchLease? lease = Workspace(x, &inputs, hs_rnn_pass.HS_RNN_PASS_BACKWARD, dwx);
        Tensor? workspace = lease?.View;
        Native.Check(NativeMethods.hs_rnn_backward(&inputs, Bind(views + 5, states, "states"),
            Bind(views + 6, cache, "cache"), Bind(views + 7, dy, "dy"), Bind(views + 8, dsLast, "ds_last"),
            dwx, Bind(views + 10, grads.DR, "dR"), Bind(views + 11, grads.DB, "db"),
            Bind(views + 12, grads.DS0, "ds0"), Bind(views + 13, workspace, "workspace"), null));
        GC.KeepAlive(x);
        GC.KeepAlive(states);
        GC.KeepAlive(cache);
        GC.KeepAlive(dy);
        GC.KeepAlive(dsLast);
        GC.KeepAlive(grads);
        GC.KeepAlive(workspace);
    }

    /// <summary>x.Wx (Bt, G*H); state (S, Bt, H) contiguous, updated in place; y (Bt, H). Allocates the forward's
    /// scratch for one step when the library asks for one.</summary>
    public static void Step(RnnTensors x, Tensor state, Tensor y)
    {
        hs_tensor* views = stackalloc hs_tensor[TotalSlots];
        hs_rnn_inputs inputs = BindInputs(views, x);
        using ScratchLease? lease = Workspace(x, &inputs, hs_rnn_pass.HS_RNN_PASS_STEP, null);
        Tensor? workspace = lease?.View;
        Native.Check(NativeMethods.hs_rnn_step(&inputs, Bind(views + 5, state, "state"), Bind(views + 6, y, "y"),
            Bind(views + 7, workspace, "workspace"), null));
        GC.KeepAlive(x);
        GC.KeepAlive(state);
        GC.KeepAlive(y);
        GC.KeepAlive(workspace);
    }

    // A 1-D scratch tensor in the inputs' dtype and device with the elements the library asks for this call (the
    // query takes the call's own bound inputs, and for the backward its dwx), leased from NativeScratch, or null when
    // it needs none. The caller disposes the lease after the call.
    private static ScratchLease? Workspace(RnnTensors x, hs_rnn_inputs* inputs, hs_rnn_pass pass, hs_tensor* dwx)
    {
        long elements;
        Native.Check(NativeMethods.hs_rnn_workspace_elements(inputs, (int)pass, dwx, &elements));
        return elements > 0 ? NativeScratch.Rent(elements, x.Wx.dtype, x.Wx.device) : null;
    }

    private static hs_rnn_inputs BindInputs(hs_tensor* views, RnnTensors x) => new()
    {
        cell = (int)x.Cell,
        reverse = x.Reverse ? 1 : 0,
        wx = Bind(views + 0, x.Wx, "wx"),
        R = Bind(views + 1, x.R, "R"),
        b = Bind(views + 2, x.B, "b"),
        s0 = Bind(views + 3, x.S0, "s0"),
        lengths = Bind(views + 4, x.Lengths, "lengths"),
        allow_tf32 = x.AllowTf32 ? 1 : 0,
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
