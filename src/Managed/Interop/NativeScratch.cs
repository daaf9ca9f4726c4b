using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>A process-wide pool of the large scratch tensors that HybridSeq's ops use for the duration of one call:
/// the native kernels' workspaces (hs_*_workspace_elements; the fused recurrence's CPU backward needs T*Bt*G*H
/// elements, 64 MB at B16 T1024 H256) and a recurrent layer's input projection wx and its gradient dwx
/// (<see cref="FusedRnnLayer"/>). A fresh block that large costs glibc an mmap and a page fault per 4 KB on every call:
/// filling a fresh 64 MB tensor took 32 ms against 2 ms for a reused one on the machine we measure
/// (docs/benchmarks.md, "Allocation"), two thirds of what the projection kernel that fills it takes.
/// A call leases a buffer (the smallest free one of its device and dtype that is large enough, else a new one) and
/// gives it back when it returns, so the pool holds what concurrent calls needed at most, not one buffer per thread.
/// A buffer's content is unspecified on lease, so handing out the same memory again is safe; on CUDA our kernels and
/// libtorch's run on the legacy default stream, which orders a reuse after the previous call's work.
/// Free buffers beyond <see cref="MaxPooledBytes"/> are released at once; <see cref="Release"/> frees them all.</summary>
public static class NativeScratch
{
    private static readonly object s_lock = new();
    private static readonly List<Tensor> s_free = [];
    private static long s_freeBytes;

    /// <summary>The most bytes of free buffers the pool keeps (default 1 GiB); a buffer given back beyond that is
    /// freed. 0 turns the pool off (every call allocates).</summary>
    public static long MaxPooledBytes { get; set; } = 1L << 30;

    /// <summary>Bytes of the free buffers the pool holds now.</summary>
    public static long PooledBytes
    {
        get
        {
            lock (s_lock)
                return s_freeBytes;
        }
    }

    /// <summary>Frees every buffer the pool holds (buffers leased at the moment are freed when given back and the
    /// pool is full, or stay pooled otherwise).</summary>
    public static void Release()
    {
        lock (s_lock)
        {
            foreach (Tensor buffer in s_free)
                buffer.Dispose();
            s_free.Clear();
            s_freeBytes = 0;
        }
    }

    /// <summary>Leases a 1-D tensor of <paramref name="elements"/> elements (content unspecified); dispose the lease
    /// once the call that uses it has returned.</summary>
    internal static ScratchLease Rent(long elements, ScalarType dtype, Device device)
    {
        Tensor? buffer = null;
        lock (s_lock)
        {
            int best = -1;
            for (int i = 0; i < s_free.Count; i++)
            {
                Tensor candidate = s_free[i];
                if (candidate.dtype == dtype && candidate.device_type == device.type &&
                    candidate.device_index == device.index && candidate.NumberOfElements >= elements &&
                    (best < 0 || candidate.NumberOfElements < s_free[best].NumberOfElements))
                    best = i;
            }
            if (best >= 0)
            {
                buffer = s_free[best];
                s_free.RemoveAt(best);
                s_freeBytes -= Bytes(buffer);
            }
        }
        // Outside any DisposeScope of the caller: the pool, not the scope, owns the buffer.
        buffer ??= torch.empty([elements], dtype: dtype, device: device).DetachFromDisposeScope();
        return new ScratchLease(buffer, elements);
    }

    internal static void Return(Tensor buffer)
    {
        lock (s_lock)
        {
            long bytes = Bytes(buffer);
            if (s_freeBytes + bytes <= MaxPooledBytes)
            {
                s_free.Add(buffer);
                s_freeBytes += bytes;
                return;
            }
        }
        buffer.Dispose();
    }

    private static long Bytes(Tensor t) => t.NumberOfElements * t.ElementSize;
}

/// <summary>One leased scratch buffer: <see cref="View"/> is its first elements as a 1-D tensor. Dispose gives the
/// buffer back to <see cref="NativeScratch"/>; the view must not be used after that.</summary>
internal sealed class ScratchLease : IDisposable
{
    private Tensor? _buffer;

    internal ScratchLease(Tensor buffer, long elements)
    {
        _buffer = buffer;
        View = buffer.narrow(0, 0, elements).DetachFromDisposeScope();
    }

    public Tensor View { get; }

    public void Dispose()
    {
        if (_buffer is null)
            return;
        View.Dispose();
        NativeScratch.Return(_buffer);
        _buffer = null;
    }
}
