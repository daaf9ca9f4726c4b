using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The autograd node of <see cref="FusedRnn.Forward"/>. Outputs: y, s_last. Saves the contiguous inputs
/// except wx (which the backward never reads), the states of every step (T+1, S, Bt, H) and the gate cache
/// (T, Bt, C*H) that hs_rnn_backward consumes.</summary>
internal sealed class FusedRnnFunction : torch.autograd.MultiTensorFunction<FusedRnnFunction>
{
    public override string Name => "HybridSeqFusedRnn";

    /// <summary>Records the node and runs the forward.</summary>
    public static (Tensor Y, Tensor SLast) Apply(RnnTensors x)
    {
        List<Tensor> outputs = apply(ApplyArguments.Pack(x));
        return (outputs[0], outputs[1]);
    }

    /// <summary>Allocates the outputs (and, when <paramref name="saveForBackward"/>, the states and cache) and runs
    /// the native forward on contiguous tensors.</summary>
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
        RnnTensors x = ApplyArguments.Unpack(vars).Contiguous();
        ((Tensor y, Tensor sLast), Tensor? states, Tensor? cache) = RunForward(x, saveForBackward: true);
        Saved.Save(ctx, x, states!, cache!);
        return [y, sLast];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        (RnnCell cell, Tensor R, Tensor b, Tensor? s0, Tensor? lengths, Tensor states, Tensor cache, bool reverse,
            bool allowTf32) = Saved.Load(ctx);
        // dwx (T, Bt, G*H), sized from the saved states (T+1, S, Bt, H); it also stands in for wx (sizes only).
        Tensor dwx = torch.empty([states.shape[0] - 1, states.shape[2], cell.Gates() * states.shape[3]],
            dtype: states.dtype, device: states.device);
        var x = new RnnTensors(cell, dwx, R, b, s0, lengths, reverse, allowTf32);
        // Undefined output gradients arrive as zeros (the context materialises them).
        var grads = new RnnGradients(dwx, torch.empty_like(R), torch.empty_like(b),
            s0 is null ? null : torch.empty_like(s0));
        FusedRnnNative.Backward(x, states, cache, gradOutputs[0].contiguous(), gradOutputs[1].contiguous(), grads);
        return ApplyArguments.Gradients(grads);
    }

    /// <summary>The apply arguments in TorchSharp's untyped order (wx, R, b, s0?, lengths?, cell, reverse,
    /// allowTf32) and the gradient list in the same order: the one place that knows the positions.</summary>
    private static class ApplyArguments
    {
        public static object[] Pack(RnnTensors x) =>
            Autograd.ApplyArguments(x.Wx, x.R, x.B, x.S0, x.Lengths, x.Cell, x.Reverse, x.AllowTf32);

        public static RnnTensors Unpack(object[] vars) => new((RnnCell)vars[5], Autograd.At(vars, 0),
            Autograd.At(vars, 1), Autograd.At(vars, 2), Autograd.OptionalAt(vars, 3), Autograd.OptionalAt(vars, 4),
            (bool)vars[6], (bool)vars[7]);

        // No gradient for lengths, the cell and the flags.
        public static List<Tensor> Gradients(RnnGradients g)
            => Autograd.TensorList(g.DWx, g.DR, g.DB, g.DS0, null, null, null, null);
    }

    /// <summary>What the forward saves: R, b, s0?, lengths?, the states and the cache, and the call's settings.</summary>
    private static class Saved
    {
        public static void Save(torch.autograd.AutogradContext ctx, RnnTensors x, Tensor states, Tensor cache)
        {
            // wx itself is not saved: the native backward never reads it (it may be freed once the forward is done).
            ctx.save_for_backward(Autograd.TensorList(x.R, x.B, x.S0, x.Lengths, states, cache));
            ctx.save_data("cell", x.Cell);
            ctx.save_data("reverse", x.Reverse);
            ctx.save_data("allowTf32", x.AllowTf32);
        }

        public static (RnnCell Cell, Tensor R, Tensor B, Tensor? S0, Tensor? Lengths, Tensor States, Tensor Cache,
            bool Reverse, bool AllowTf32) Load(torch.autograd.AutogradContext ctx)
        {
            List<Tensor> s = ctx.get_saved_variables();
            return ((RnnCell)ctx.get_data("cell"), s[0], s[1], s[2], s[3], s[4], s[5],
                (bool)ctx.get_data("reverse"), (bool)ctx.get_data("allowTf32"));
        }
    }
}
