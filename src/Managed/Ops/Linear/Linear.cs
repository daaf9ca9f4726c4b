using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>A dense projection y = x W^T + b over the last dimension of x, like
/// <c>nn.functional.linear</c> and differentiable the same way. On the CPU with float32 or float64 it runs
/// HybridSeq's blocked GEMM (hs_linear_*): on the AMD EPYC machine we measure, its forward product for a recurrent
/// input projection takes 47 ms where libtorch's oneMKL takes 81–99 ms (docs/benchmarks.md), and its results are
/// bitwise independent of the thread count. Every other device or dtype goes through libtorch's linear.</summary>
public static class Linear
{
    /// <summary>y = x W^T + b.</summary>
    /// <param name="input">(..., K): any leading dimensions, at least one dimension.</param>
    /// <param name="weight">(N, K), the nn.Linear layout.</param>
    /// <param name="bias">optional (N).</param>
    /// <returns>(..., N), a new tensor with the input's dtype and device.</returns>
    public static Tensor Forward(Tensor input, Tensor weight, Tensor? bias = null)
    {
        var x = new LinearTensors(input, weight, bias, LinearNames.Linear);
        x.CheckRequired();
        if (!RunsNatively(input))
        {
            x.CheckForLibtorch();
            return nn.functional.linear(input, weight, bias);
        }

        Native.Load();
        if (!Autograd.NeedsGraph(input, weight, bias))
        {
            using var noGrad = torch.no_grad();
            return LinearNative.Forward(x.Rows().Contiguous()).reshape(x.OutputShape);
        }
        return LinearFunction.Apply(x.Rows()).reshape(x.OutputShape);
    }

    /// <summary>True when <see cref="Forward"/> runs the native kernel for this input (CPU, float32 or float64);
    /// false when it falls back to libtorch.</summary>
    public static bool RunsNatively(Tensor input) =>
        input.device_type == DeviceType.CPU && input.dtype is ScalarType.Float32 or ScalarType.Float64;

    /// <summary>Inference-only y = x W^T + b into a scratch buffer leased from <see cref="NativeScratch"/>, for a
    /// large result that is consumed within one call (a recurrent layer's input projection, where a fresh 64 MB tensor
    /// costs about two thirds of the kernel's time in page faults). Never records autograd. Every CPU input goes to
    /// the native kernel, whose shim checks it (the caller's result must be float anyway); elsewhere the result is
    /// libtorch's, a new tensor, and the lease is null.</summary>
    /// <returns>y (..., N) (a view of the lease's buffer on the native path) and the lease, which the caller disposes
    /// once y is no longer needed.</returns>
    internal static (Tensor Y, ScratchLease? Lease) ForwardIntoScratch(LinearTensors x)
    {
        x.CheckRequired();
        using var noGrad = torch.no_grad();
        if (x.Input.device_type != DeviceType.CPU)
        {
            // The recurrence that consumes the result takes float32 / float64 only; said here, for x, before
            // CheckForLibtorch would blame the weight for not matching an integer input.
            if (x.Input.dtype is not (ScalarType.Float32 or ScalarType.Float64))
                throw new ArgumentException(
                    $"{x.Names.Input}: expected dtype float32 or float64, got {x.Input.dtype}.", x.Names.Input);
            x.CheckForLibtorch();
            return (nn.functional.linear(x.Input, x.Weight, x.Bias), null);
        }
        Native.Load();
        LinearTensors rows = x.Rows().Contiguous();
        long[] outputShape = x.OutputShape;
        ScratchLease lease = NativeScratch.Rent(rows.Input.SizeOrZero(0) * rows.OutFeatures, x.Input.dtype,
            x.Input.device);
        Tensor y = lease.View.view(rows.Input.SizeOrZero(0), rows.OutFeatures);
        LinearNative.Forward(rows, y);
        return (y.view(outputShape), lease);
    }
}

/// <summary>The names of a projection's tensors in the public API that receives them (errors name these).</summary>
internal sealed record LinearNames(string Input, string Weight, string Bias)
{
    public static readonly LinearNames Linear = new("input", "weight", "bias");
}

/// <summary>The tensors of one projection, as the user passed them: input (..., K), weight (N, K), bias (N).</summary>
internal sealed record LinearTensors(Tensor Input, Tensor Weight, Tensor? Bias, LinearNames Names)
{
    public long OutFeatures => Weight.SizeOrZero(0);

    /// <summary>(..., N): the input's leading dimensions and N.</summary>
    public long[] OutputShape => [.. Input.shape[..^1], OutFeatures];

    /// <summary>The input flattened to the (M, K) rows the native kernel takes.</summary>
    public LinearTensors Rows() => this with { Input = Input.reshape(-1, Input.shape[^1]) };

    public LinearTensors Contiguous() => this with
    {
        Input = Input.contiguous(), Weight = Weight.contiguous(), Bias = Bias?.contiguous(),
    };

    /// <summary>What must hold before the input can be flattened into rows: the tensors are there and the input
    /// has a last dimension. Everything else is the native shim's to check.</summary>
    public void CheckRequired()
    {
        ArgumentNullException.ThrowIfNull(Input, Names.Input);
        ArgumentNullException.ThrowIfNull(Weight, Names.Weight);
        if (Input.dim() < 1)
            throw new ArgumentException(
                $"{Names.Input}: expected at least one dimension (..., K), got a scalar.", Names.Input);
    }

    /// <summary>The checks of the libtorch path (CUDA, or a dtype the kernel does not take), where no native shim
    /// sees the call: libtorch's own errors would not name the argument.</summary>
    public void CheckForLibtorch()
    {
        long inFeatures = Input.shape[^1];
        if (Weight.dim() != 2 || Weight.shape[1] != inFeatures)
            throw new ArgumentException(
                $"{Names.Weight}: expected shape (N, K) with K = {inFeatures} (the last dimension of " +
                $"{Names.Input}), got {TensorView.ShapeText(Weight)}.", Names.Weight);
        CheckSameKind(Weight, Names.Weight);
        if (Bias is null)
            return;
        if (Bias.dim() != 1 || Bias.shape[0] != Weight.shape[0])
            throw new ArgumentException(
                $"{Names.Bias}: expected shape ({Weight.shape[0]}) (N from {Names.Weight}), got " +
                $"{TensorView.ShapeText(Bias)}.", Names.Bias);
        CheckSameKind(Bias, Names.Bias);
    }

    private void CheckSameKind(Tensor tensor, string name)
    {
        if (tensor.dtype != Input.dtype)
            throw new ArgumentException(
                $"{name}: expected dtype {Input.dtype} (the dtype of {Names.Input}), got {tensor.dtype}.", name);
        if (tensor.device_type != Input.device_type ||
            (tensor.device_type != DeviceType.CPU && tensor.device_index != Input.device_index))
            throw new ArgumentException(
                $"{name}: expected a tensor on {Input.device} (the device of {Names.Input}), got {tensor.device}.",
                name);
    }
}
