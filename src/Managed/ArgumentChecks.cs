using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>Checks the argument classes of every op share: a tensor must have the dtype and device of the tensor that
/// sets them for the call ('u' of the scan, 'wx' of the recurrence, 'input' of the projection).</summary>
internal static class ArgumentChecks
{
    /// <summary>Same device type, and the same CUDA ordinal on CUDA.</summary>
    public static bool SameDevice(Tensor a, Tensor b)
        => a.device_type == b.device_type && (a.device_type == DeviceType.CPU || a.device_index == b.device_index);

    /// <summary>ArgumentException (ParamName <paramref name="name"/>) unless <paramref name="tensor"/> has the dtype
    /// and the device of <paramref name="reference"/>, called <paramref name="referenceName"/> in the message.</summary>
    public static void CheckSameKind(Tensor tensor, string name, Tensor reference, string referenceName)
    {
        if (tensor.dtype != reference.dtype)
            throw new ArgumentException(
                $"{name}: expected dtype {reference.dtype} (the dtype of {referenceName}), got {tensor.dtype}.", name);
        if (!SameDevice(tensor, reference))
            throw new ArgumentException(
                $"{name}: expected a tensor on {reference.device} (the device of {referenceName}), got " +
                $"{tensor.device}.", name);
    }
}
