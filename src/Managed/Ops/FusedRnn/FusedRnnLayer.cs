using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>One recurrent layer in one direction: the input projection wx = x W_ih^T + b_ih followed by the fused
/// recurrence (<see cref="FusedRnn"/>), as one differentiable op. Equal to
/// <c>FusedRnn.Forward(cell, Linear.Forward(x, W_ih, b_ih), R, b, ...)</c>, but wx and its gradient dwx
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
        var layer = new LayerTensors(new LinearTensors(x, weightIH, biasIH, Names),
            FusedRnn.Required(new RnnTensors(cell, x, R, b, s0, lengths, reverse, allowTf32) { WxName = "x" }));
        layer.Projection.CheckRequired();
        // The projection flattens (T, Bt) into rows, so the layer needs them before any native call sees x.
        if (x.dim() != 3)
            throw new ArgumentException($"x: expected a rank-3 tensor (T, Bt, I), got shape {TensorView.ShapeText(x)}.",
                nameof(x));
        Native.Load();
        if (!Autograd.NeedsGraph(x, weightIH, biasIH, R, b, s0))
        {
            // Inference, as FusedRnn.Forward runs it: no saved states or cache, no autograd node.
            using var noGrad = torch.no_grad();
            (Tensor wx, ScratchLease? lease) = Linear.ForwardIntoScratch(layer.Projection);
            using (lease)
                return FusedRnnFunction.RunForward(layer.Recurrence(wx).Contiguous(), saveForBackward: false).Outputs;
        }
        return FusedRnnLayerFunction.Apply(layer);
    }

    /// <summary>The layer's parameter names, which its errors carry (the native calls name the projection's tensors
    /// 'x', 'w', 'b').</summary>
    internal static readonly LinearNames Names = new("x", "weightIH", "biasIH");
}

/// <summary>One layer call: the projection's tensors and the recurrence's (whose <c>Wx</c> is a placeholder, x,
/// until <see cref="Recurrence"/> puts the projection there).</summary>
internal sealed record LayerTensors(LinearTensors Projection, RnnTensors Rnn)
{
    /// <summary>The recurrence on the projection wx. Its errors about 'wx' can only concern its width (its rank, dtype
    /// and device are x's, checked by the projection): they name weightIH, whose rows set that width.</summary>
    public RnnTensors Recurrence(Tensor wx) => Rnn with
    {
        Wx = wx, WxName = "weightIH", WxNote = "'wx' is the layer's input projection x W_ih^T + b_ih",
    };
}

/// <summary>The autograd node of <see cref="FusedRnnLayer.Forward"/>. Outputs: y, s_last. Saves x (contiguous), the
/// weights, s0, lengths and the recurrence's states and cache; not wx, which lives in a scratch lease during the
/// forward only.</summary>
internal sealed class FusedRnnLayerFunction : torch.autograd.MultiTensorFunction<FusedRnnLayerFunction>
{
    public override string Name => "HybridSeqFusedRnnLayer";

    /// <summary>Records the node and runs the forward.</summary>
    public static (Tensor Y, Tensor SLast) Apply(LayerTensors layer)
    {
        List<Tensor> outputs = apply(ApplyArguments.Pack(layer));
        return (outputs[0], outputs[1]);
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        LayerTensors layer = ApplyArguments.Unpack(vars);
        ctx.save_data("wanted", LinearGradientsWanted.Of(layer.Projection));
        LinearTensors projection = layer.Projection.Contiguous();
        (Tensor wx, ScratchLease? lease) = Linear.ForwardIntoScratch(projection);
        using (lease)
        {
            RnnTensors rnn = layer.Recurrence(wx).Contiguous();
            ((Tensor y, Tensor sLast), Tensor? states, Tensor? cache) =
                FusedRnnFunction.RunForward(rnn, saveForBackward: true);
            ctx.save_for_backward(Autograd.TensorList(projection.Input, projection.Weight, rnn.R, rnn.B, rnn.S0,
                rnn.Lengths, states, cache));
            ctx.save_data("cell", rnn.Cell);
            ctx.save_data("reverse", rnn.Reverse);
            ctx.save_data("allowTf32", rnn.AllowTf32);
            return [y, sLast];
        }
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor x = saved[0], weightIH = saved[1], R = saved[2], b = saved[3], states = saved[6], cache = saved[7];
        Tensor? s0 = saved[4], lengths = saved[5];
        var cell = (RnnCell)ctx.get_data("cell");
        long steps = x.shape[0], batch = x.shape[1], gateWidth = weightIH.shape[0];

        // dwx (T, Bt, G*H) in a scratch lease: consumed below by the projection's backward and then given back. It
        // also stands in for wx, whose data the recurrence's backward never reads.
        using ScratchLease lease = NativeScratch.Rent(steps * batch * gateWidth, x.dtype, x.device);
        Tensor dwx = lease.View.view(steps, batch, gateWidth);
        var rnn = new RnnTensors(cell, dwx, R, b, s0, lengths, (bool)ctx.get_data("reverse"),
            (bool)ctx.get_data("allowTf32"));
        var grads = new RnnGradients(dwx, torch.empty_like(R), torch.empty_like(b),
            s0 is null ? null : torch.empty_like(s0));
        FusedRnnNative.Backward(rnn, states, cache, gradOutputs[0].contiguous(), gradOutputs[1].contiguous(), grads);

        var rows = new LinearTensors(x.view(-1, x.shape[2]), weightIH, null, FusedRnnLayer.Names);
        (Tensor? dx, Tensor? dwIH, Tensor? dbIH) = LinearFunction.RunBackward(rows, dwx.view(-1, gateWidth),
            (LinearGradientsWanted)ctx.get_data("wanted"));
        return ApplyArguments.Gradients(dx?.view(x.shape), dwIH, dbIH, grads);
    }

    /// <summary>The apply arguments in TorchSharp's untyped order (x, W_ih, b_ih?, R, b, s0?, lengths?, cell,
    /// reverse, allowTf32) and the gradient list in the same order: the one place that knows the positions.</summary>
    private static class ApplyArguments
    {
        public static object[] Pack(LayerTensors layer) => Autograd.ApplyArguments(
            layer.Projection.Input, layer.Projection.Weight, layer.Projection.Bias, layer.Rnn.R, layer.Rnn.B,
            layer.Rnn.S0, layer.Rnn.Lengths, layer.Rnn.Cell, layer.Rnn.Reverse, layer.Rnn.AllowTf32);

        public static LayerTensors Unpack(object[] vars)
        {
            Tensor x = Autograd.At(vars, 0);
            var rnn = new RnnTensors((RnnCell)vars[7], x, Autograd.At(vars, 3), Autograd.At(vars, 4),
                Autograd.OptionalAt(vars, 5), Autograd.OptionalAt(vars, 6), (bool)vars[8], (bool)vars[9]);
            return new LayerTensors(
                new LinearTensors(x, Autograd.At(vars, 1), Autograd.OptionalAt(vars, 2), FusedRnnLayer.Names), rnn);
        }

        // No gradient for lengths, the cell and the flags.
        public static List<Tensor> Gradients(Tensor? dx, Tensor? dwIH, Tensor? dbIH, RnnGradients g)
            => Autograd.TensorList(dx, dwIH, dbIH, g.DR, g.DB, g.DS0, null, null, null, null);
    }
}
