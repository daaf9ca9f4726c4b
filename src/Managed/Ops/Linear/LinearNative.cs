using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The calls into hs_linear_*: binds the views under the names of the public API that received the tensors
/// (<see cref="LinearNames"/>), calls, maps the status. Tensors must be contiguous (M, K) rows.</summary>
internal static unsafe class LinearNative
{
    /// <summary>y = x W^T + b into <paramref name="y"/> (M, N) contiguous, or into a new tensor when it is null.</summary>
    public static Tensor Forward(LinearTensors x, Tensor? y = null)
    {
        y ??= torch.empty([x.Input.SizeOrZero(0), x.OutFeatures], dtype: x.Input.dtype, device: x.Input.device);
        using var call = new NativeCall();
        call.Check(NativeMethods.hs_linear_forward(call.Bind(x.Input, "x", x.Names.Input),
            call.Bind(x.Weight, "w", x.Names.Weight), call.Bind(x.Bias, "b", x.Names.Bias), call.Bind(y, "y"), null));
        return y;
    }

    /// <summary>The gradients that are asked for, as new tensors (null otherwise): dx (M, K) = dy w,
    /// dw (N, K) = dy^T x, db (N) = column sums of dy. x, w, dy contiguous.</summary>
    public static (Tensor? Dx, Tensor? Dw, Tensor? Db) Backward(LinearTensors x, Tensor dy, LinearGradientsWanted wanted)
    {
        Tensor? dx = wanted.Input ? torch.empty_like(x.Input) : null;
        Tensor? dw = wanted.Weight ? torch.empty_like(x.Weight) : null;
        Tensor? db = wanted.Bias ? torch.empty([x.OutFeatures], dtype: x.Weight.dtype, device: x.Weight.device) : null;
        if (dx is null && dw is null && db is null)
            return (null, null, null);
        using var call = new NativeCall();
        call.Check(NativeMethods.hs_linear_backward(call.Bind(x.Input, "x", x.Names.Input),
            call.Bind(x.Weight, "w", x.Names.Weight), call.Bind(dy, "dy"), call.Bind(dx, "dx"), call.Bind(dw, "dw"),
            call.Bind(db, "db"), null));
        return (dx, dw, db);
    }
}

/// <summary>Which of a projection's gradients its backward computes (the inputs that required grad).</summary>
internal sealed record LinearGradientsWanted(bool Input, bool Weight, bool Bias)
{
    public static LinearGradientsWanted Of(LinearTensors x)
        => new(x.Input.requires_grad, x.Weight.requires_grad, x.Bias?.requires_grad == true);
}
