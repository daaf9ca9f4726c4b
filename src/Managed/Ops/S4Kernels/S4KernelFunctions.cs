using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The autograd node of <see cref="CauchyKernel.Forward"/>: inputs v, w (H, N), z (L) complex and the
/// conjugate-symmetric flag; output (H, L) complex. Saves the contiguous inputs; the backward gives dv and dw for the
/// inputs that require grad (PyTorch's convention for complex inputs, the kernel's) and none for z.</summary>
internal sealed class CauchyFunction : torch.autograd.MultiTensorFunction<CauchyFunction>
{
    public override string Name => "HybridSeqCauchy";

    public static Tensor Apply(Tensor v, Tensor w, Tensor z, bool conjugateSymmetric)
        => apply(v, w, z, conjugateSymmetric)[0];

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor v = Autograd.At(vars, 0), w = Autograd.At(vars, 1), z = Autograd.At(vars, 2);
        bool conjugateSymmetric = (bool)vars[3];
        ctx.save_data("wanted", (v.requires_grad, w.requires_grad));
        ctx.save_data("conjugateSymmetric", conjugateSymmetric);
        (v, w, z) = (v.contiguous(), w.contiguous(), z.contiguous());
        ctx.save_for_backward([v, w, z]);
        return [S4KernelsNative.CauchyForward(v, w, z, conjugateSymmetric)];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        var (wantV, wantW) = ((bool, bool))ctx.get_data("wanted");
        (Tensor? dv, Tensor? dw) = S4KernelsNative.CauchyBackward(saved[0], saved[1], saved[2],
            (bool)ctx.get_data("conjugateSymmetric"), gradOutputs[0].contiguous(), wantV, wantW);
        // No gradient for z (fixed evaluation points) and the flag.
        return Autograd.TensorList(dv, dw, null, null);
    }
}

/// <summary>The autograd node of <see cref="VandermondeKernel.Forward"/>: inputs v, x (H, N) complex, the length and
/// the conjugate-symmetric flag; output (H, L), complex or real. Saves the contiguous inputs; the backward gives dv and
/// dx for the inputs that require grad.</summary>
internal sealed class VandermondeFunction : torch.autograd.MultiTensorFunction<VandermondeFunction>
{
    public override string Name => "HybridSeqVandermonde";

    public static Tensor Apply(Tensor v, Tensor x, long length, bool conjugateSymmetric)
        => apply(v, x, length, conjugateSymmetric)[0];

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor v = Autograd.At(vars, 0), x = Autograd.At(vars, 1);
        long length = (long)vars[2];
        bool conjugateSymmetric = (bool)vars[3];
        ctx.save_data("wanted", (v.requires_grad, x.requires_grad));
        ctx.save_data("conjugateSymmetric", conjugateSymmetric);
        (v, x) = (v.contiguous(), x.contiguous());
        ctx.save_for_backward([v, x]);
        return [S4KernelsNative.VandermondeForward(v, x, length, conjugateSymmetric)];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        var (wantV, wantX) = ((bool, bool))ctx.get_data("wanted");
        (Tensor? dv, Tensor? dx) = S4KernelsNative.VandermondeBackward(saved[0], saved[1],
            (bool)ctx.get_data("conjugateSymmetric"), gradOutputs[0].contiguous(), wantV, wantX);
        // No gradient for the length and the flag.
        return Autograd.TensorList(dv, dx, null, null);
    }
}
