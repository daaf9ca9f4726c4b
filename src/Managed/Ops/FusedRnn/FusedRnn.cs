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
        RnnTensors x = Required(new RnnTensors(cell, wx, R, b, s0, lengths, reverse, allowTf32));
        Native.Load();
        if (!Autograd.NeedsGraph(wx, R, b, s0))
        {
            // Inference: no saved states or cache, no autograd node.
            using var noGrad = torch.no_grad();
            return FusedRnnFunction.RunForward(x.Contiguous(), saveForBackward: false).Outputs;
        }
        return FusedRnnFunction.Apply(x);
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
        ArgumentNullException.ThrowIfNull(state);
        RnnTensors x = Required(new RnnTensors(cell, wx, R, b, null, null, false, false));
        Native.Load();
        return Autograd.StepInPlace(state, work =>
        {
            Tensor y = torch.empty([x.Batch, x.Hidden], dtype: wx.dtype, device: wx.device);
            FusedRnnNative.Step(x.Contiguous(), work, y);
            return y;
        });
    }

    /// <summary>What the native shim cannot check, or what sizing the outputs needs first: the required tensors are
    /// there and the cell is defined (its state count sizes the outputs).</summary>
    internal static RnnTensors Required(RnnTensors x)
    {
        RnnCellInfo.Validate(x.Cell);
        ArgumentNullException.ThrowIfNull(x.Wx, x.WxName);
        ArgumentNullException.ThrowIfNull(x.R, "R");
        ArgumentNullException.ThrowIfNull(x.B, "b");
        return x;
    }
}
