using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>Builds the non-owning <see cref="hs_tensor"/> view the C API takes from a TorchSharp tensor.</summary>
/// <remarks>The view holds a raw pointer into the tensor's storage and does not keep the tensor alive: the ops bind
/// their views through <see cref="NativeCall"/>, which keeps every bound tensor reachable until the call is over.
/// Only what a view cannot express is checked here (dtype, device type, rank); shapes, dtypes agreeing, devices
/// agreeing and strides are the native shim's to check.</remarks>
public static unsafe class TensorView
{
    /// <summary>The view of <paramref name="tensor"/>: data = storage base + storage_offset * element size, sizes and
    /// strides in elements, dtype, device. <paramref name="argumentName"/> names the tensor in error messages.
    /// Supported dtypes: float32, float64, int32, int64, complex64, complex128 (TorchSharp's ComplexFloat32 /
    /// ComplexFloat64: interleaved re, im, sizes and strides still in elements); devices: CPU, CUDA; rank at most
    /// HS_MAX_RANK.</summary>
    public static hs_tensor Of(Tensor tensor, string argumentName)
    {
        ArgumentNullException.ThrowIfNull(tensor, argumentName);
        int maxRank = (int)hs_constants.HS_MAX_RANK;
        if (tensor.dim() > maxRank)
            throw new ArgumentException(
                $"{argumentName}: expected a tensor of rank at most {maxRank}, got rank {tensor.dim()} " +
                $"(shape {ShapeText(tensor)}).", argumentName);

        var view = new hs_tensor
        {
            dtype = (int)DTypeOf(tensor, argumentName),
            rank = (int)tensor.dim(),
        };
        switch (tensor.device_type)
        {
            case DeviceType.CPU:
                view.device_type = (int)hs_device_type.HS_DEVICE_CPU;
                view.device_index = 0;
                break;
            case DeviceType.CUDA:
                view.device_type = (int)hs_device_type.HS_DEVICE_CUDA;
                view.device_index = tensor.device_index;
                break;
            default:
                throw new ArgumentException(
                    $"{argumentName}: expected a CPU or CUDA tensor, got a tensor on {tensor.device}.", argumentName);
        }
        long[] sizes = tensor.shape;
        long[] strides = tensor.stride();
        for (int i = 0; i < sizes.Length; i++)
        {
            view.sizes[i] = sizes[i];
            view.strides[i] = strides[i];
        }
        view.data = (void*)DataPointer(tensor);
        return view;
    }

    /// <summary>The C dtype of a tensor, or an ArgumentException naming the argument for unsupported dtypes.</summary>
    public static hs_dtype DTypeOf(Tensor tensor, string argumentName) => tensor.dtype switch
    {
        ScalarType.Float32 => hs_dtype.HS_DTYPE_FLOAT32,
        ScalarType.Float64 => hs_dtype.HS_DTYPE_FLOAT64,
        ScalarType.Int32 => hs_dtype.HS_DTYPE_INT32,
        ScalarType.Int64 => hs_dtype.HS_DTYPE_INT64,
        ScalarType.ComplexFloat32 => hs_dtype.HS_DTYPE_COMPLEX64,
        ScalarType.ComplexFloat64 => hs_dtype.HS_DTYPE_COMPLEX128,
        _ => throw new ArgumentException(
            $"{argumentName}: expected dtype float32, float64, int32, int64, complex64 or complex128, got " +
            $"{tensor.dtype}.", argumentName),
    };

    // storage<T>() converts (copies) when T does not match the dtype, so the dtype decides T here; the storage
    // pointer is the allocation base, element [0,..,0] is storage_offset elements further.
    private static IntPtr DataPointer(Tensor tensor)
    {
        IntPtr storageBase = tensor.dtype switch
        {
            ScalarType.Float32 => StorageBase<float>(tensor),
            ScalarType.Float64 => StorageBase<double>(tensor),
            ScalarType.Int32 => StorageBase<int>(tensor),
            ScalarType.Int64 => StorageBase<long>(tensor),
            ScalarType.ComplexFloat32 => ComplexStorageBase<float>(tensor),
            ScalarType.ComplexFloat64 => ComplexStorageBase<double>(tensor),
            _ => throw new InvalidOperationException($"unreachable: dtype {tensor.dtype} passed DTypeOf"),
        };
        return storageBase + (nint)(tensor.storage_offset() * tensor.element_size());
    }

    private static IntPtr StorageBase<T>(Tensor tensor) where T : unmanaged
    {
        using var storage = tensor.storage<T>();
        return storage.data_ptr();
    }

    // A complex tensor's storage through its real view (view_as_real shares the allocation, as pairs of T), since
    // storage<T>() takes a real element type; the offset stays the complex tensor's own.
    private static IntPtr ComplexStorageBase<T>(Tensor tensor) where T : unmanaged
    {
        using Tensor pairs = torch.view_as_real(tensor);
        return StorageBase<T>(pairs);
    }

    internal static string ShapeText(Tensor tensor) => "(" + string.Join(", ", tensor.shape) + ")";

    /// <summary>Size <paramref name="dim"/> of <paramref name="tensor"/>, or 0 when it has no such dimension. The ops
    /// size their outputs before the native shim has checked the inputs: a malformed input then gets outputs of
    /// size 0, and the shim, which checks the inputs before the outputs, reports the input.</summary>
    internal static long SizeOrZero(this Tensor tensor, int dim) => dim < tensor.dim() ? tensor.shape[dim] : 0;

    /// <summary>Optional lengths on the device of <paramref name="reference"/>, contiguous: the ops accept them on the
    /// CPU for a CUDA call and copy them over. Lengths anywhere else are passed as they are, for the view and the
    /// native shim to reject.</summary>
    internal static Tensor? LengthsFor(Tensor? lengths, Tensor reference)
        => lengths is { device_type: DeviceType.CPU } && reference.device_type == DeviceType.CUDA
            ? lengths.to(reference.device).contiguous()
            : lengths?.contiguous();
}
