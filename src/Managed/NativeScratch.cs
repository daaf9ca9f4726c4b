using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The scratch tensors the native kernels ask for (hs_*_workspace_elements), cached per thread so that a
/// training loop does not allocate them on every call: the fused recurrence's CPU backward needs T*Bt*G*H elements
/// (64 MB at B16 T1024 H256), and a fresh block that large costs glibc an mmap and a page fault per 4 KB on every
/// call. A workspace's content is unspecified on entry, so handing out the same memory again is safe; on CUDA the
/// kernels run on the legacy default stream, which orders a reuse after the previous call's work.
/// The recurrent modules also keep their input projection here during inference (a no-grad forward), where it lives
/// only for the duration of one kernel call.
/// Each thread keeps at most one tensor per use, device and dtype, grown to the largest request it has seen;
/// <see cref="ReleaseThisThread"/> gives them back.</summary>
public static class NativeScratch
{
    [ThreadStatic]
    private static Dictionary<(ScratchUse Use, DeviceType Type, int Index, ScalarType DType), Tensor>? t_buffers;

    /// <summary>Bytes this thread's cache holds.</summary>
    public static long CachedBytesOfThisThread =>
        t_buffers?.Values.Sum(t => t.NumberOfElements * t.ElementSize) ?? 0;

    /// <summary>Frees every scratch tensor this thread's cache holds (the next call allocates again).</summary>
    public static void ReleaseThisThread()
    {
        if (t_buffers is null)
            return;
        foreach (Tensor buffer in t_buffers.Values)
            buffer.Dispose();
        t_buffers.Clear();
    }

    /// <summary>True when <paramref name="tensor"/> (float32, float64, int32 or int64) starts in memory of this thread's cached buffer for
    /// <paramref name="use"/> (a caller that is about to overwrite that buffer must not read such a tensor).</summary>
    internal static bool Overlaps(ScratchUse use, Tensor tensor)
    {
        if (t_buffers is null || tensor.NumberOfElements == 0)
            return false;
        foreach (((ScratchUse bufferUse, _, _, _), Tensor buffer) in t_buffers)
        {
            if (bufferUse != use || buffer.device_type != tensor.device_type)
                continue;
            long begin = TensorView.DataPointer(buffer), end = begin + buffer.NumberOfElements * buffer.ElementSize;
            long address = TensorView.DataPointer(tensor);
            if (address >= begin && address < end)
                return true;
        }
        return false;
    }

    /// <summary>A 1-D scratch tensor of <paramref name="elements"/> elements (its content unspecified), a view of this
    /// thread's cached buffer for <paramref name="use"/>. The caller may dispose the view; the buffer stays cached.
    /// Valid until the next <see cref="Rent"/> on this thread for the same use, device and dtype.</summary>
    internal static Tensor Rent(ScratchUse use, long elements, ScalarType dtype, Device device)
    {
        t_buffers ??= new();
        var key = (use, device.type, device.index, dtype);
        if (!t_buffers.TryGetValue(key, out Tensor? buffer) || buffer.NumberOfElements < elements)
        {
            buffer?.Dispose();
            // Outside any DisposeScope of the caller: the cache, not the scope, owns the buffer.
            buffer = torch.empty([elements], dtype: dtype, device: device).DetachFromDisposeScope();
            t_buffers[key] = buffer;
        }
        return buffer.narrow(0, 0, elements);
    }
}

/// <summary>What a cached scratch tensor is for: uses that can be alive at the same time need different buffers.</summary>
internal enum ScratchUse
{
    /// <summary>hs_*_workspace_elements scratch of one native call.</summary>
    KernelWorkspace,
    /// <summary>A recurrent layer's input projection wx during a no-grad forward.</summary>
    InputProjection,
}
