using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The calls into hs_cauchy_* and hs_vandermonde_*: binds the views under the names of the public API (the
/// same names: v, w, z, x), calls, maps the status. Tensors must be contiguous; outputs are new tensors sized from
/// the inputs (size 0 where an input is malformed, so that the native shim reports the input).</summary>
internal static unsafe class S4KernelsNative
{
    /// <summary>(H, L) complex: sum_n v / (z - w) (+ the conjugate pairs).</summary>
    public static Tensor CauchyForward(Tensor v, Tensor w, Tensor z, bool conjugateSymmetric)
    {
        Tensor output = torch.empty([v.SizeOrZero(0), z.SizeOrZero(0)], dtype: v.dtype, device: v.device);
        using var call = new NativeCall();
        call.Check(NativeMethods.hs_cauchy_forward(call.Bind(v, "v"), call.Bind(w, "w"), call.Bind(z, "z"),
            Flag(call, conjugateSymmetric), call.Bind(output, "out"), null));
        return output;
    }

    /// <summary>The gradients that are asked for (null otherwise): dv, dw (H, N) from dout (H, L).</summary>
    public static (Tensor? Dv, Tensor? Dw) CauchyBackward(Tensor v, Tensor w, Tensor z, bool conjugateSymmetric,
        Tensor dout, bool wantV, bool wantW)
    {
        Tensor? dv = wantV ? torch.empty_like(v) : null;
        Tensor? dw = wantW ? torch.empty_like(w) : null;
        if (dv is null && dw is null)
            return (null, null);
        using var call = new NativeCall();
        call.Check(NativeMethods.hs_cauchy_backward(call.Bind(v, "v"), call.Bind(w, "w"), call.Bind(z, "z"),
            Flag(call, conjugateSymmetric), call.Bind(dout, "dout"), call.Bind(dv, "dv"), call.Bind(dw, "dw"), null));
        return (dv, dw);
    }

    /// <summary>(H, L): sum_n v exp(x l), complex, or 2 Re(...) real when conjugate-symmetric.</summary>
    public static Tensor VandermondeForward(Tensor v, Tensor x, long length, bool conjugateSymmetric)
    {
        ScalarType dtype = conjugateSymmetric ? RealDtypeOf(v.dtype) : v.dtype;
        Tensor output = torch.empty([v.SizeOrZero(0), length], dtype: dtype, device: v.device);
        using var call = new NativeCall();
        call.Check(NativeMethods.hs_vandermonde_forward(call.Bind(v, "v"), call.Bind(x, "x"),
            Flag(call, conjugateSymmetric), call.Bind(output, "out"), null));
        return output;
    }

    /// <summary>The gradients that are asked for (null otherwise): dv, dx (H, N) from dout (H, L).</summary>
    public static (Tensor? Dv, Tensor? Dx) VandermondeBackward(Tensor v, Tensor x, bool conjugateSymmetric,
        Tensor dout, bool wantV, bool wantX)
    {
        Tensor? dv = wantV ? torch.empty_like(v) : null;
        Tensor? dx = wantX ? torch.empty_like(x) : null;
        if (dv is null && dx is null)
            return (null, null);
        using var call = new NativeCall();
        call.Check(NativeMethods.hs_vandermonde_backward(call.Bind(v, "v"), call.Bind(x, "x"),
            Flag(call, conjugateSymmetric), call.Bind(dout, "dout"), call.Bind(dv, "dv"), call.Bind(dx, "dx"),
            null));
        return (dv, dx);
    }

    /// <summary>The dtype of the real and imaginary parts of a complex dtype; any other dtype itself (the native shim
    /// then refuses the input that carries it).</summary>
    public static ScalarType RealDtypeOf(ScalarType dtype) => dtype switch
    {
        ScalarType.ComplexFloat32 => ScalarType.Float32,
        ScalarType.ComplexFloat64 => ScalarType.Float64,
        _ => dtype,
    };

    private static int Flag(NativeCall call, bool conjugateSymmetric)
    {
        call.Name("conjugate_symmetric", "conjugateSymmetric");
        return conjugateSymmetric ? 1 : 0;
    }
}
