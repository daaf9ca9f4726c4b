using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The FlashRNN-style fused recurrence (LSTM, GRU, sLSTM with head-wise block-diagonal recurrent weights) on
/// the native kernels: CPU (float32, float64) and CUDA (float32). The input projection wx = x W_ih^T + b_ih is
/// computed outside (one big matmul); the kernel runs g_t = wx_t + R h_{t-1} + b and the cell's pointwise update.
/// See the "Fused recurrence" section of native/include/hybridseq.h for the exact math of each cell.
/// Hidden size H = NH heads x DH; gate vectors are gate-major (gate q, head k, unit j at q*H + k*DH + j).</summary>
public static class FusedRnn
{
    /// <summary>The full recurrence, differentiable with respect to wx, R, b and s0.</summary>
    /// <param name="cell">Which cell; G = cell.Gates(), S = cell.States().</param>
    /// <param name="wx">(T, Bt, G*H) time-major input projection, input bias included.</param>
    /// <param name="R">(NH, G*DH, DH) recurrent weights per head; with NH = 1 it is PyTorch's weight_hh (G*H, H)
    /// viewed as (1, G*H, H).</param>
    /// <param name="b">(G*H) recurrent bias (PyTorch's bias_hh).</param>
    /// <param name="s0">optional (S, Bt, H) initial states in the cell's state order (zeros when null).</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths in [0, T] (right padding), on the CPU or wx's
    /// device: y is 0 from lengths[b] on, the states stop there and padding gets zero gradient.</param>
    /// <param name="reverse">run each sequence from step lengths[b]-1 down to 0 (outputs stay at their steps).</param>
    /// <param name="allowTf32">CUDA only: permit TF32 tensor cores for R h (about 1e-3 relative error); false
    /// guarantees full fp32. The current CUDA kernels have no TF32 path and compute in fp32 either way.</param>
    /// <returns>Y (T, Bt, H), the h of every step, and SLast (S, Bt, H), the states after each sequence's last step;
    /// new tensors on wx's device and dtype.</returns>
    public static (Tensor Y, Tensor SLast) Forward(RnnCell cell, Tensor wx, Tensor R, Tensor b, Tensor? s0 = null,
        Tensor? lengths = null, bool reverse = false, bool allowTf32 = false)
    {
        Native.Load();
        var arguments = new RnnTensors(cell, wx, R, b, s0, lengths, reverse, allowTf32);
        FusedRnnArguments.CheckForward(arguments);
        bool needsGraph = torch.is_grad_enabled() &&
                          (wx.requires_grad || R.requires_grad || b.requires_grad || s0?.requires_grad == true);
        if (!needsGraph)
        {
            // Inference: no saved states or cache, no autograd node.
            using var noGrad = torch.no_grad();
            return FusedRnnFunction.RunForward(arguments.Contiguous(), saveForBackward: false).Outputs;
        }
        List<Tensor> outputs = FusedRnnFunction.apply(wx, R, b, s0!, lengths!, cell, reverse, allowTf32);
        return (outputs[0], outputs[1]);
    }

    /// <summary>One step for decoding, equal to one step of <see cref="Forward"/>. Inference only: it always runs
    /// without autograd (the result never requires grad) because it overwrites <paramref name="state"/> in place.</summary>
    /// <param name="cell">Which cell.</param>
    /// <param name="wx">(Bt, G*H) input projection of this step, input bias included.</param>
    /// <param name="R">(NH, G*DH, DH) recurrent weights.</param>
    /// <param name="b">(G*H) recurrent bias.</param>
    /// <param name="state">(S, Bt, H) s_{t-1} on entry, overwritten with s_t.</param>
    /// <returns>y (Bt, H) = h_t, a new tensor.</returns>
    public static Tensor Step(RnnCell cell, Tensor wx, Tensor R, Tensor b, Tensor state)
    {
        Native.Load();
        var arguments = new RnnTensors(cell, wx, R, b, null, null, false, false);
        FusedRnnArguments.CheckStep(arguments, state);
        using var noGrad = torch.no_grad();
        RnnTensors x = arguments.Contiguous();
        // The kernel updates the state buffer it is given; a non-contiguous state is updated through a contiguous
        // copy that is written back.
        Tensor work = state.is_contiguous() ? state : state.contiguous();
        Tensor y = torch.empty([x.Batch, x.Hidden], dtype: wx.dtype, device: wx.device);
        FusedRnnNative.Step(x, work, y);
        if (!ReferenceEquals(work, state))
            state.copy_(work);
        return y;
    }
}

/// <summary>The autograd node of <see cref="FusedRnn.Forward"/>. Arguments (in apply order): wx, R, b, s0?,
/// lengths?, cell (RnnCell), reverse (bool), allowTf32 (bool). Outputs: y, s_last. Saves the contiguous inputs except
/// wx (which the backward never reads), the states of every step (T+1, S, Bt, H) and the gate cache (T, Bt, C*H) that
/// hs_rnn_backward consumes.</summary>
internal sealed class FusedRnnFunction : torch.autograd.MultiTensorFunction<FusedRnnFunction>
{
    private const int ArgumentCount = 8;

    public override string Name => "HybridSeqFusedRnn";

    /// <summary>Allocates the outputs (and, when <paramref name="saveForBackward"/>, the states and cache) and runs
    /// the native forward on checked, contiguous tensors.</summary>
    internal static ((Tensor Y, Tensor SLast) Outputs, Tensor? States, Tensor? Cache) RunForward(RnnTensors x,
        bool saveForBackward)
    {
        long steps = x.Steps, batch = x.Batch, hidden = x.Hidden, stateCount = x.Cell.States();
        Device device = x.Wx.device;
        ScalarType dtype = x.Wx.dtype;
        Tensor y = torch.empty([steps, batch, hidden], dtype: dtype, device: device);
        Tensor sLast = torch.empty([stateCount, batch, hidden], dtype: dtype, device: device);
        Tensor? states = null, cache = null;
        if (saveForBackward)
        {
            states = torch.empty([steps + 1, stateCount, batch, hidden], dtype: dtype, device: device);
            cache = torch.empty([steps, batch, FusedRnnNative.CacheGates(x.Cell) * hidden], dtype: dtype,
                device: device);
        }
        FusedRnnNative.Forward(x, y, sLast, states, cache);
        return ((y, sLast), states, cache);
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var x = new RnnTensors((RnnCell)vars[5], (Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2],
            vars[3] as Tensor, vars[4] as Tensor, (bool)vars[6], (bool)vars[7]).Contiguous();
        ((Tensor y, Tensor sLast), Tensor? states, Tensor? cache) = RunForward(x, saveForBackward: true);
        // wx itself is not saved: the native backward never reads it (it may be freed once the forward is done).
        ctx.save_for_backward([x.R, x.B, x.S0!, x.Lengths!, states!, cache!]);
        ctx.save_data("cell", x.Cell);
        ctx.save_data("reverse", x.Reverse);
        ctx.save_data("allowTf32", x.AllowTf32);
        return [y, sLast];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor R = saved[0], b = saved[1], states = saved[4], cache = saved[5];
        var cell = (RnnCell)ctx.get_data("cell");
        // dwx (T, Bt, G*H), sized from the saved states (T+1, S, Bt, H); it also stands in for wx (sizes only).
        Tensor dwx = torch.empty([states.shape[0] - 1, states.shape[2], cell.Gates() * states.shape[3]],
            dtype: states.dtype, device: states.device);
        var x = new RnnTensors(cell, dwx, R, b, saved[2], saved[3], (bool)ctx.get_data("reverse"),
            (bool)ctx.get_data("allowTf32"));

        // Undefined output gradients arrive as zeros (the context materialises them).
        Tensor dy = gradOutputs[0].contiguous();
        Tensor dsLast = gradOutputs[1].contiguous();
        var grads = new RnnGradients(dwx, torch.empty_like(x.R), torch.empty_like(x.B),
            x.S0 is null ? null : torch.empty_like(x.S0));
        FusedRnnNative.Backward(x, states, cache, dy, dsLast, grads);

        var result = new List<Tensor>(ArgumentCount) { grads.DWx, grads.DR, grads.DB, grads.DS0!, null!, null!, null!, null! };
        return result;
    }
}
