using HybridSeq.Bindings;

namespace HybridSeq.Managed;

/// <summary>A native HybridSeq call failed. <see cref="Status"/> is the native status, <see cref="NativeMessage"/>
/// the library's own message (hs_last_error, which names the failing argument) and <see cref="Call"/> the managed
/// expression that made the call.</summary>
public class HybridSeqException : Exception
{
    public HybridSeqException(hs_status status, string nativeMessage, string call)
        : base($"{call} failed with {status}: {nativeMessage}")
    {
        Status = status;
        NativeMessage = nativeMessage;
        Call = call;
    }

    /// <summary>For failures that are not a native status (loading).</summary>
    protected HybridSeqException(string message) : base(message)
    {
        Status = hs_status.HS_ERR_INTERNAL;
        NativeMessage = "";
        Call = "";
    }

    public hs_status Status { get; }
    public string NativeMessage { get; }
    public string Call { get; }
}

/// <summary>HS_ERR_INVALID_ARGUMENT: a shape, dtype, device, stride or value was wrong.</summary>
public sealed class HybridSeqArgumentException(hs_status status, string nativeMessage, string call)
    : HybridSeqException(status, nativeMessage, call);

/// <summary>HS_ERR_UNSUPPORTED: a valid request this build or backend cannot serve (e.g. float64 on CUDA).</summary>
public sealed class HybridSeqUnsupportedException(hs_status status, string nativeMessage, string call)
    : HybridSeqException(status, nativeMessage, call);

/// <summary>HS_ERR_CUDA: a CUDA runtime or launch error.</summary>
public sealed class HybridSeqCudaException(hs_status status, string nativeMessage, string call)
    : HybridSeqException(status, nativeMessage, call);

/// <summary>HS_ERR_OUT_OF_MEMORY.</summary>
public sealed class HybridSeqOutOfMemoryException(hs_status status, string nativeMessage, string call)
    : HybridSeqException(status, nativeMessage, call);

/// <summary>HS_ERR_INTERNAL, or a status this layer does not know: a bug in HybridSeq.</summary>
public sealed class HybridSeqInternalException(hs_status status, string nativeMessage, string call)
    : HybridSeqException(status, nativeMessage, call);

/// <summary>libhybridseq.so could not be found or loaded, or it speaks another API version.</summary>
public sealed class HybridSeqLoadException(string message) : HybridSeqException(message);
