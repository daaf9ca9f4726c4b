using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>One recurrent layer in one direction: the input projection wx = x W_ih^T + b_ih followed by the fused
/// recurrence (<see cref="FusedRnn"/>), as one differentiable op. Equal to
/// <c>FusedRnn.Forward(cell, DenseProjection.Forward(x, W_ih, b_ih), R, b, ...)</c>, but wx and its gradient dwx
/// live only inside the op, in buffers leased from <see cref="NativeScratch"/>: a training step neither keeps the
/// (T, Bt, G*H) projection alive until the backward nor allocates a fresh one for its gradient, which saves two
/// tensors of T*Bt*G*H elements per layer and direction in memory and in allocation time.</summary>
public static class FusedRnnLayer
{
    /// <summary>The layer over a whole sequence, differentiable with respect to x, W_ih, b_ih, R, b and s0.</summary>
    /// <param name="cell">Which cell; G = cell.Gates().</param>
    /// <param name="x">(T, Bt, I) time-major input.</param>
    /// <param name="weightIH">(G*H, I) input weights (PyTorch's weight_ih).</param>
    /// <param name="biasIH">optional (G*H) input bias (PyTorch's bias_ih).</param>
    /// <param name="R">(NH, G*DH, DH) recurrent weights per head.</param>
    /// <param name="b">(G*H) recurrent bias (PyTorch's bias_hh).</param>
    /// <param name="s0">optional (S, Bt, H) initial states (zeros when null).</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths in [0, T] (right padding).</param>
    /// <param name="reverse">run each sequence backwards in time (outputs stay at their steps).</param>
    /// <param name="allowTf32">CUDA only: permit TF32 for R h (see <see cref="FusedRnn.Forward"/>).</param>
    /// <returns>Y (T, Bt, H) and SLast (S, Bt, H), as from <see cref="FusedRnn.Forward"/>.</returns>
    public static (Tensor Y, Tensor SLast) Forward(RnnCell cell, Tensor x, Tensor weightIH, Tensor? biasIH, Tensor R,
        Tensor b, Tensor? s0 = null, Tensor? lengths = null, bool reverse = false, bool allowTf32 = false)
    {
        ArgumentNullException.ThrowIfNull(x, nameof(x));
        if (x.dim() != 3)
            throw new ArgumentException($"x: expected a rank-3 tensor (T, Bt, I), got shape {TensorView.ShapeText(x)}.",
                nameof(x));
        DenseProjection.Check(x, weightIH, biasIH);
        // The recurrence's own checks before any work, on a stand-in for wx with its shape, dtype and device (a
        // broadcast scalar: no memory behind it). Everything below runs on checked arguments.
        using (Tensor wxShape = torch.zeros(1, dtype: x.dtype, device: x.device).expand(x.shape[0], x.shape[1],
                   weightIH.shape[0]))
            FusedRnnArguments.CheckForward(new RnnTensors(cell, wxShape, R, b, s0, lengths, reverse, allowTf32));
        Native.Load();
        bool needsGraph = torch.is_grad_enabled() &&
                          (x.requires_grad || weightIH.requires_grad || biasIH?.requires_grad == true ||
                           R.requires_grad || b.requires_grad || s0?.requires_grad == true);
        if (!needsGraph)
        {
            // Inference, as FusedRnn.Forward runs it: no saved states or cache, no autograd node.
            using var noGrad = torch.no_grad();
            (Tensor wx, ScratchLease? lease) = DenseProjection.ForwardIntoScratch(x, weightIH, biasIH);
            using (lease)
                return FusedRnnFunction.RunForward(
                    new RnnTensors(cell, wx, R, b, s0, lengths, reverse, allowTf32).Contiguous(),
                    saveForBackward: false).Outputs;
        }

        List<Tensor> outputs = FusedRnnLayerFunction.apply(x, weightIH, biasIH!, R, b, s0!, lengths!, cell, reverse,
            allowTf32);
        return (outputs[0], outputs[1]);
    }
}

/// <summary>The autograd node of <see cref="FusedRnnLayer.Forward"/>. Arguments (apply order): x, W_ih, b_ih?, R, b,
/// s0?, lengths?, cell, reverse, allowTf32. Outputs: y, s_last. Saves x (contiguous), the weights, s0, lengths and
/// the recurrence's states and cache; not wx, which lives in a scratch lease during the forward only.</summary>
internal sealed class FusedRnnLayerFunction : torch.autograd.MultiTensorFunction<FusedRnnLayerFunction>
{
    public override string Name => "HybridSeqFusedRnnLayer";

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor x = ((Tensor)vars[0]).contiguous(), weightIH = ((Tensor)vars[1]).contiguous();
        Tensor? biasIH = (vars[2] as Tensor)?.contiguous();
        var cell = (RnnCell)vars[7];
        bool reverse = (bool)vars[8], allowTf32 = (bool)vars[9];
        ctx.save_data("needsDx", ((Tensor)vars[0]).requires_grad);
        ctx.save_data("needsDwIH", ((Tensor)vars[1]).requires_grad);
        ctx.save_data("needsDbIH", (vars[2] as Tensor)?.requires_grad == true);
        ctx.save_data("cell", cell);
        ctx.save_data("reverse", reverse);
        ctx.save_data("allowTf32", allowTf32);

        (Tensor wx, ScratchLease? lease) = DenseProjection.ForwardIntoScratch(x, weightIH, biasIH);
        using (lease)
        {
            var rnn = new RnnTensors(cell, wx, (Tensor)vars[3], (Tensor)vars[4], vars[5] as Tensor, vars[6] as Tensor,
                reverse, allowTf32).Contiguous();
            ((Tensor y, Tensor sLast), Tensor? states, Tensor? cache) =
                FusedRnnFunction.RunForward(rnn, saveForBackward: true);
            ctx.save_for_backward([x, weightIH, rnn.R, rnn.B, rnn.S0!, rnn.Lengths!, states!, cache!]);
            return [y, sLast];
        }
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor x = saved[0], weightIH = saved[1], R = saved[2], b = saved[3], states = saved[6], cache = saved[7];
        var cell = (RnnCell)ctx.get_data("cell");
        long steps = x.shape[0], batch = x.shape[1], gateWidth = weightIH.shape[0];

        // dwx (T, Bt, G*H) in a scratch lease: consumed below by the projection's backward and then given back. It
        // also stands in for wx, whose data the recurrence's backward never reads.
        using ScratchLease lease = NativeScratch.Rent(steps * batch * gateWidth, x.dtype, x.device);
        Tensor dwx = lease.View.view(steps, batch, gateWidth);
        var rnn = new RnnTensors(cell, dwx, R, b, saved[4], saved[5], (bool)ctx.get_data("reverse"),
            (bool)ctx.get_data("allowTf32"));
        var grads = new RnnGradients(dwx, torch.empty_like(R), torch.empty_like(b),
            rnn.S0 is null ? null : torch.empty_like(rnn.S0));
        FusedRnnNative.Backward(rnn, states, cache, gradOutputs[0].contiguous(), gradOutputs[1].contiguous(), grads);

        (Tensor? dx, Tensor? dwIH, Tensor? dbIH) = DenseProjectionFunction.RunBackward(x.view(-1, x.shape[2]),
            weightIH, dwx.view(-1, gateWidth), (bool)ctx.get_data("needsDx"), (bool)ctx.get_data("needsDwIH"),
            (bool)ctx.get_data("needsDbIH"));
        return [dx?.view(x.shape)!, dwIH!, dbIH!, grads.DR, grads.DB, grads.DS0!, null!, null!, null!, null!];
    }
}
