using HybridSeq.Bindings;

namespace HybridSeq.Managed;

/// <summary>What every HybridSeq error carries, whatever its .NET base class: <see cref="Status"/> is the native
/// status and <see cref="NativeMessage"/> the library's own message (hs_last_error: it starts with the entry point's
/// name and names the failing argument by its native name). <c>catch (Exception e) when (e is IHybridSeqError)</c>
/// sees them all.</summary>
/// <remarks>The exceptions derive from the .NET class a caller would catch for that kind of failure:
/// HS_ERR_INVALID_ARGUMENT is an <see cref="ArgumentException"/> (<see cref="HybridSeqArgumentException"/>, ParamName
/// the argument the caller passed) and HS_ERR_UNSUPPORTED a <see cref="NotSupportedException"/>. The statuses with no
/// fitting .NET class derive from <see cref="HybridSeqException"/>. HS_ERR_OUT_OF_MEMORY deliberately does not derive
/// from <see cref="OutOfMemoryException"/>: a failed device or workspace allocation leaves the process healthy and
/// can be retried with smaller sizes, while hosts and libraries treat OutOfMemoryException as fatal and rethrow it
/// past their handlers.</remarks>
public interface IHybridSeqError
{
    hs_status Status { get; }
    string NativeMessage { get; }
}

/// <summary>The base of the HybridSeq errors that have no fitting .NET base class: CUDA failures, out of memory,
/// internal errors and loading failures.</summary>
public class HybridSeqException : Exception, IHybridSeqError
{
    public HybridSeqException(hs_status status, string nativeMessage)
        : base(NativeErrors.Describe(status, nativeMessage))
    {
        Status = status;
        NativeMessage = nativeMessage;
    }

    /// <summary>For failures that are not a native status (loading).</summary>
    protected HybridSeqException(string message) : base(message)
    {
        Status = hs_status.HS_ERR_INTERNAL;
        NativeMessage = "";
    }

    public hs_status Status { get; }
    public string NativeMessage { get; }
}

/// <summary>HS_ERR_INVALID_ARGUMENT: a shape, dtype, device, stride or value was wrong. <see cref="ArgumentException.ParamName"/>
/// is the argument the caller passed (e.g. "x" of a layer whose native call names the projection of x 'wx');
/// <see cref="IHybridSeqError.NativeMessage"/> keeps the native wording with the native name.</summary>
public sealed class HybridSeqArgumentException : ArgumentException, IHybridSeqError
{
    public HybridSeqArgumentException(hs_status status, string nativeMessage, string? paramName, string? note = null)
        : base(note is null ? nativeMessage : $"{nativeMessage} ({note})", paramName)
    {
        Status = status;
        NativeMessage = nativeMessage;
    }

    public hs_status Status { get; }
    public string NativeMessage { get; }
}

/// <summary>HS_ERR_UNSUPPORTED: a valid request this build or backend cannot serve (e.g. float64 on CUDA).</summary>
public sealed class HybridSeqUnsupportedException(hs_status status, string nativeMessage)
    : NotSupportedException(NativeErrors.Describe(status, nativeMessage)), IHybridSeqError
{
    public hs_status Status { get; } = status;
    public string NativeMessage { get; } = nativeMessage;
}

/// <summary>HS_ERR_CUDA: a CUDA runtime or launch error.</summary>
public sealed class HybridSeqCudaException(hs_status status, string nativeMessage)
    : HybridSeqException(status, nativeMessage);

/// <summary>HS_ERR_OUT_OF_MEMORY (see <see cref="IHybridSeqError"/> for why this is no OutOfMemoryException).</summary>
public sealed class HybridSeqOutOfMemoryException(hs_status status, string nativeMessage)
    : HybridSeqException(status, nativeMessage);

/// <summary>HS_ERR_INTERNAL, or a status this layer does not know: a bug in HybridSeq.</summary>
public sealed class HybridSeqInternalException(hs_status status, string nativeMessage)
    : HybridSeqException(status, nativeMessage);

/// <summary>libhybridseq.so could not be found or loaded, or it speaks another API version.</summary>
public sealed class HybridSeqLoadException(string message) : HybridSeqException(message);

/// <summary>The one mapping from a failed native status to its exception.</summary>
internal static class NativeErrors
{
    public static string Describe(hs_status status, string nativeMessage)
        => nativeMessage.Length == 0 ? $"HybridSeq native call failed with {status}" : $"{nativeMessage} ({status})";

    /// <summary>The exception for <paramref name="status"/> (not HS_OK). An invalid argument gets
    /// <paramref name="paramName"/> and <paramref name="note"/> (what the native name stands for).</summary>
    public static Exception For(hs_status status, string nativeMessage, string? paramName = null, string? note = null)
        => status switch
        {
            hs_status.HS_ERR_INVALID_ARGUMENT =>
                new HybridSeqArgumentException(status, nativeMessage, paramName ?? ArgumentOf(nativeMessage), note),
            hs_status.HS_ERR_UNSUPPORTED => new HybridSeqUnsupportedException(status, nativeMessage),
            hs_status.HS_ERR_CUDA => new HybridSeqCudaException(status, nativeMessage),
            hs_status.HS_ERR_OUT_OF_MEMORY => new HybridSeqOutOfMemoryException(status, nativeMessage),
            _ => new HybridSeqInternalException(status, nativeMessage),
        };

    /// <summary>The native name of the argument a native message blames: the shims word every argument error as
    /// "argument 'NAME' ..." and a field of an inputs struct as "field 'NAME' of argument 'inputs'"; the first one
    /// in the message is the failing one. Null when the message names none.</summary>
    public static string? ArgumentOf(string nativeMessage)
    {
        string? field = Quoted(nativeMessage, "field '");
        int fieldAt = field is null ? -1 : nativeMessage.IndexOf("field '", StringComparison.Ordinal);
        int argumentAt = nativeMessage.IndexOf("argument '", StringComparison.Ordinal);
        if (field is not null && (argumentAt < 0 || fieldAt < argumentAt))
            return field;
        return Quoted(nativeMessage, "argument '");
    }

    private static string? Quoted(string text, string prefix)
    {
        int start = text.IndexOf(prefix, StringComparison.Ordinal);
        if (start < 0)
            return null;
        start += prefix.Length;
        int end = text.IndexOf('\'', start);
        return end > start ? text[start..end] : null;
    }
}
