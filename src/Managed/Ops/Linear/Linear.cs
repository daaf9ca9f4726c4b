using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>A dense projection y = x W^T + b over the last dimension of x, like
/// <c>nn.functional.linear</c> and differentiable the same way. On the CPU with float32 or float64 it runs
/// HybridSeq's blocked GEMM (hs_linear_*): on the AMD EPYC machine we measure, its forward product for a recurrent
/// input projection takes 47 ms where libtorch's oneMKL takes 81–99 ms (docs/benchmarks.md), and its results are
/// bitwise independent of the thread count. Every other device or dtype goes through libtorch's linear.</summary>
public static class DenseProjection
{
    /// <summary>y = x W^T + b.</summary>
    /// <param name="input">(..., K): any leading dimensions, at least one dimension.</param>
    /// <param name="weight">(N, K), the nn.Linear layout.</param>
    /// <param name="bias">optional (N).</param>
    /// <returns>(..., N), a new tensor with the input's dtype and device.</returns>
    public static Tensor Forward(Tensor input, Tensor weight, Tensor? bias = null)
    {
        Check(input, weight, bias);
        if (!RunsNatively(input))
            return nn.functional.linear(input, weight, bias);

        Native.Load();
        long inFeatures = input.shape[^1], outFeatures = weight.shape[0];
        long[] outputShape = [.. input.shape[..^1], outFeatures];
        Tensor rows = input.reshape(-1, inFeatures);
        bool needsGraph = torch.is_grad_enabled() &&
                          (input.requires_grad || weight.requires_grad || bias?.requires_grad == true);
        if (!needsGraph)
        {
            using var noGrad = torch.no_grad();
            return DenseProjectionFunction.RunForward(rows.contiguous(), weight.contiguous(), bias?.contiguous())
                .reshape(outputShape);
        }
        return DenseProjectionFunction.apply(rows, weight, bias!)[0].reshape(outputShape);
    }

    /// <summary>Inference-only y = x W^T + b into a scratch buffer leased from <see cref="NativeScratch"/>, for a
    /// large result that is consumed within one call (a recurrent layer's input projection, where a fresh 64 MB tensor
    /// costs about two thirds of the kernel's time in page faults). Never records autograd. Off the native path the
    /// result is a new tensor like <see cref="Forward"/>'s and the lease is null. The caller has checked the arguments
    /// (<see cref="Check"/>).</summary>
    /// <returns>y (..., N) (a view of the lease's buffer on the native path) and the lease, which the caller disposes
    /// once y is no longer needed.</returns>
    internal static (Tensor Y, ScratchLease? Lease) ForwardIntoScratch(Tensor input, Tensor weight, Tensor? bias)
    {
        using var noGrad = torch.no_grad();
        if (!RunsNatively(input))
            return (nn.functional.linear(input, weight, bias), null);
        Native.Load();
        long inFeatures = input.shape[^1], outFeatures = weight.shape[0];
        long[] outputShape = [.. input.shape[..^1], outFeatures];
        Tensor rows = input.reshape(-1, inFeatures).contiguous();
        ScratchLease lease = NativeScratch.Rent(rows.shape[0] * outFeatures, input.dtype, input.device);
        Tensor y = lease.View.view(rows.shape[0], outFeatures);
        DenseProjectionFunction.RunForward(rows, weight.contiguous(), bias?.contiguous(), y);
        return (y.view(outputShape), lease);
    }

    /// <summary>True when <see cref="Forward"/> runs the native kernel for this input (CPU, float32 or float64);
    /// false when it falls back to libtorch.</summary>
    public static bool RunsNatively(Tensor input) =>
        input.device_type == DeviceType.CPU && input.dtype is ScalarType.Float32 or ScalarType.Float64;

    internal static void Check(Tensor input, Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(input, nameof(input));
        ArgumentNullException.ThrowIfNull(weight, nameof(weight));
        if (input.dim() < 1)
            throw new ArgumentException("input: expected at least one dimension (..., K), got a scalar.",
                nameof(input));
        long inFeatures = input.shape[^1];
        if (weight.dim() != 2 || weight.shape[1] != inFeatures)
            throw new ArgumentException(
                $"weight: expected shape (N, K) with K = {inFeatures} (the last dimension of input), got " +
                $"({string.Join(", ", weight.shape)}).", nameof(weight));
        ArgumentChecks.CheckSameKind(weight, nameof(weight), input, nameof(input));
        if (bias is null)
            return;
        if (bias.dim() != 1 || bias.shape[0] != weight.shape[0])
            throw new ArgumentException(
                $"bias: expected shape ({weight.shape[0]}) (N from weight), got ({string.Join(", ", bias.shape)}).",
                nameof(bias));
        ArgumentChecks.CheckSameKind(bias, nameof(bias), input, nameof(input));
    }
}

/// <summary>The autograd node of <see cref="DenseProjection.Forward"/> on the native path. Arguments (apply order):
/// x (M, K), w (N, K), b (N) or null. Output: y (M, N). Saves x and w (contiguous) and which inputs need a gradient,
/// so that the backward computes only those products.</summary>
internal sealed unsafe class DenseProjectionFunction : torch.autograd.MultiTensorFunction<DenseProjectionFunction>
{
    public override string Name => "HybridSeqDenseProjection";

    /// <summary>y = x W^T + b through hs_linear_forward; x, w, b contiguous; y (M, N) contiguous, or null for a new
    /// tensor.</summary>
    internal static Tensor RunForward(Tensor x, Tensor w, Tensor? b, Tensor? y = null)
    {
        y ??= torch.empty([x.shape[0], w.shape[0]], dtype: x.dtype, device: x.device);
        hs_tensor xView = TensorView.Of(x, "x"), wView = TensorView.Of(w, "w"), yView = TensorView.Of(y, "y");
        hs_tensor bView = b is null ? default : TensorView.Of(b, "b");
        Native.Check(NativeMethods.hs_linear_forward(&xView, &wView, b is null ? null : &bView, &yView, null));
        GC.KeepAlive(x);
        GC.KeepAlive(w);
        GC.KeepAlive(b);
        GC.KeepAlive(y);
        return y;
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor x = (Tensor)vars[0], w = (Tensor)vars[1];
        var b = vars[2] as Tensor;
        ctx.save_data("needsDx", x.requires_grad);
        ctx.save_data("needsDw", w.requires_grad);
        ctx.save_data("needsDb", b?.requires_grad == true);
        x = x.contiguous();
        w = w.contiguous();
        ctx.save_for_backward([x, w]);
        return [RunForward(x, w, b?.contiguous())];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        (Tensor? dx, Tensor? dw, Tensor? db) = RunBackward(saved[0], saved[1], gradOutputs[0].contiguous(),
            (bool)ctx.get_data("needsDx"), (bool)ctx.get_data("needsDw"), (bool)ctx.get_data("needsDb"));
        return [dx!, dw!, db!];
    }

    /// <summary>The gradients of y = x W^T + b that are asked for, as new tensors (null otherwise): dx (M, K) = dy w,
    /// dw (N, K) = dy^T x, db (N) = column sums of dy. x (M, K), w (N, K), dy (M, N) contiguous; CPU float through
    /// hs_linear_backward, any other device or dtype through libtorch.</summary>
    internal static (Tensor? Dx, Tensor? Dw, Tensor? Db) RunBackward(Tensor x, Tensor w, Tensor dy, bool needsDx,
        bool needsDw, bool needsDb)
    {
        if (!DenseProjection.RunsNatively(x))
        {
            using var noGrad = torch.no_grad();
            return (needsDx ? dy.mm(w) : null, needsDw ? dy.t().mm(x) : null, needsDb ? dy.sum(dim: 0) : null);
        }
        Tensor? dx = needsDx ? torch.empty_like(x) : null;
        Tensor? dw = needsDw ? torch.empty_like(w) : null;
        Tensor? db = needsDb ? torch.empty([w.shape[0]], dtype: w.dtype, device: w.device) : null;
        if (dx is not null || dw is not null || db is not null)
        {
            hs_tensor xView = TensorView.Of(x, "x"), wView = TensorView.Of(w, "w"), dyView = TensorView.Of(dy, "dy");
            hs_tensor dxView = dx is null ? default : TensorView.Of(dx, "dx");
            hs_tensor dwView = dw is null ? default : TensorView.Of(dw, "dw");
            hs_tensor dbView = db is null ? default : TensorView.Of(db, "db");
            Native.Check(NativeMethods.hs_linear_backward(&xView, &wView, &dyView, dx is null ? null : &dxView,
                dw is null ? null : &dwView, db is null ? null : &dbView, null));
            GC.KeepAlive(dy);
            GC.KeepAlive(dx);
            GC.KeepAlive(dw);
            GC.KeepAlive(db);
        }
        GC.KeepAlive(x);
        GC.KeepAlive(w);
        return (dx, dw, db);
    }
}
