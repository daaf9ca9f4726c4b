using System.Runtime.InteropServices;
using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The view binder of one native op call: owns unmanaged storage for the call's <see cref="hs_tensor"/>
/// views, binds each tensor under its native name and the name of the argument the user passed, keeps every bound
/// tensor reachable until it is disposed, and maps the call's status to an exception that names the user's argument.
/// </summary>
/// <example><code>
/// using var call = new NativeCall();
/// call.Check(NativeMethods.hs_linear_forward(call.Bind(rows, "x", user: "input"), call.Bind(w, "w", user: "weight"),
///     call.Bind(b, "b", user: "bias"), call.Bind(y, "y"), null));
/// </code></example>
/// <remarks>The native shim is the one validator of shapes, dtypes, devices and strides; its messages name the
/// failing argument by its native name ("argument 'wx' ..."), which <see cref="Check"/> maps back to the user's
/// argument (ParamName) through the names given to <see cref="Bind"/> and <see cref="Name"/>.</remarks>
internal sealed unsafe class NativeCall : IDisposable
{
    // More than any hs_* call takes (the scan's backward binds 23 views).
    private const int Capacity = 32;

    private hs_tensor* _views = (hs_tensor*)NativeMemory.Alloc(Capacity, (nuint)sizeof(hs_tensor));
    private int _count;
    private readonly List<Tensor> _bound = new(Capacity);
    private readonly List<(string Native, string User, string? Note)> _names = [];

    /// <summary>The view of <paramref name="tensor"/> in storage this call owns, or null (the C API's "absent") when
    /// there is no tensor. <paramref name="user"/> is the argument of the public API the tensor comes from (the
    /// native name when omitted); <paramref name="note"/> says what the native tensor is when it is not the user's
    /// tensor itself (e.g. "'wx' is the projection x W_ih^T + b_ih").</summary>
    public hs_tensor* Bind(Tensor? tensor, string native, string? user = null, string? note = null)
    {
        Name(native, user ?? native, note);
        if (tensor is null)
            return null;
        if (_count == Capacity)
            throw new InvalidOperationException($"NativeCall: more than {Capacity} views in one call.");
        hs_tensor* slot = _views + _count;
        *slot = TensorView.Of(tensor, user ?? native);
        _bound.Add(tensor);
        _count++;
        return slot;
    }

    /// <summary>Names a non-tensor argument or struct field (e.g. the inputs' 'cell') for the error mapping.</summary>
    public void Name(string native, string user, string? note = null) => _names.Add((native, user, note));

    /// <summary>Returns when <paramref name="status"/> is HS_OK, else throws its typed exception; an invalid
    /// argument is a <see cref="HybridSeqArgumentException"/> whose ParamName is the user's argument.</summary>
    public void Check(hs_status status)
    {
        if (status == hs_status.HS_OK)
            return;
        string message = Native.LastError();
        string? native = NativeErrors.ArgumentOf(message);
        string? user = native;
        string? note = null;
        foreach ((string Native, string User, string? Note) name in _names)
        {
            if (name.Native != native)
                continue;
            user = name.User;
            note = name.Note ??
                   (name.User == name.Native ? null : $"native '{native}' is the argument '{name.User}'");
            break;
        }
        throw NativeErrors.For(status, message, user, note);
    }

    /// <summary>Frees the views; the bound tensors may be collected from here on.</summary>
    public void Dispose()
    {
        if (_views == null)
            return;
        NativeMemory.Free(_views);
        _views = null;
        // The native call read the tensors through raw pointers: they had to stay reachable until now.
        GC.KeepAlive(_bound);
        _bound.Clear();
    }
}
