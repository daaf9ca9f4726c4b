namespace HybridSeq.Bindings;

/// <summary>The C type a generated member came from, as libclang spelled it (e.g. <c>const hs_tensor *</c>,
/// <c>int64_t[6]</c>). Kept in metadata so readers and tests can see the C signature behind each C# one.</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Parameter | AttributeTargets.ReturnValue, AllowMultiple = false, Inherited = false)]
public sealed class NativeTypeNameAttribute(string name) : Attribute
{
    /// <summary>The C spelling of the type.</summary>
    public string Name { get; } = name;
}
