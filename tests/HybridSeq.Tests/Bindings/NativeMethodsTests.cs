using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using HybridSeq.Bindings;
using HybridSeq.Managed;
using NUnit.Framework;

namespace HybridSeq.Tests.Bindings;

/// <summary>Every generated import binds to the loaded library, and the generated enums and constants agree with
/// what the library answers.</summary>
[TestFixture]
public sealed unsafe class NativeMethodsTests
{
    private static MethodInfo[] GeneratedImports() =>
        typeof(NativeMethods).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(method => method.GetCustomAttribute<LibraryImportAttribute>() is not null)
            .OrderBy(method => method.Name, StringComparer.Ordinal)
            .ToArray();

    [Test]
    public void EveryImportResolvesInTheNativeLibrary()
    {
        Native.Load();
        MethodInfo[] imports = GeneratedImports();
        // The P/Invoke behind a [LibraryImport] is the method itself when no marshalling is needed, else a stub
        // the source generator nests in it; either way it carries PinvokeImpl and the C name as entry point.
        MethodInfo[] stubs = typeof(NativeMethods).GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(method => method.Attributes.HasFlag(MethodAttributes.PinvokeImpl))
            .ToArray();
        string[] stubEntryPoints = stubs
            .Select(stub => stub.GetCustomAttribute<DllImportAttribute>()!.EntryPoint ?? stub.Name)
            .Order(StringComparer.Ordinal)
            .ToArray();
        IntPtr library = NativeLibrary.Load(Native.LoadedPath!);
        try
        {
            Assert.That(imports, Is.Not.Empty);
            Assert.That(stubEntryPoints, Is.EqualTo(imports.Select(import => import.Name).ToArray()),
                "one P/Invoke stub per [LibraryImport], with the C name as entry point");
            Assert.Multiple(() =>
            {
                foreach (MethodInfo stub in stubs)
                {
                    Assert.DoesNotThrow(() => Marshal.Prelink(stub), $"Marshal.Prelink({stub.Name})");
                }
                foreach (MethodInfo import in imports)
                {
                    Assert.That(NativeLibrary.TryGetExport(library, import.Name, out _), Is.True,
                        $"{Native.LoadedPath} exports {import.Name}");
                }
                // The lookup can fail: a name the library does not export is not found.
                Assert.That(NativeLibrary.TryGetExport(library, "hs_no_such_function", out _), Is.False);
            });
        }
        finally
        {
            NativeLibrary.Free(library);
        }
    }

    [Test]
    public void StatusNamesMatchTheLibrary()
    {
        Native.Load();
        hs_status[] statuses = Enum.GetValues<hs_status>();
        Assert.That(statuses, Has.Length.EqualTo(6));
        Assert.Multiple(() =>
        {
            foreach (hs_status status in statuses)
            {
                Assert.That(BindingsTestSupport.FromCString(NativeMethods.hs_status_name((int)status)),
                    Is.EqualTo(status.ToString()), $"hs_status_name({(int)status})");
            }
            int pastLast = statuses.Max(status => (int)status) + 1;
            Assert.That(BindingsTestSupport.FromCString(NativeMethods.hs_status_name(pastLast)),
                Is.Not.AnyOf(statuses.Select(status => status.ToString()).ToArray()), "a value outside the enum");
        });
    }

    [Test]
    public void ConstantsMatchTheLibrary()
    {
        Native.Load();
        long chunk = (long)hs_constants.HS_SELECTIVE_SCAN_CHUNK;
        int sizesLength = typeof(hs_tensor).GetField(nameof(hs_tensor.sizes))!.GetCustomAttribute<FixedBufferAttribute>()!.Length;
        int stridesLength = typeof(hs_tensor).GetField(nameof(hs_tensor.strides))!.GetCustomAttribute<FixedBufferAttribute>()!.Length;
        Assert.Multiple(() =>
        {
            Assert.That(NativeMethods.hs_api_version(), Is.EqualTo((int)hs_constants.HS_API_VERSION));
            // ceil(L / chunk) with at least one chunk pins the library's chunk length to the generated constant.
            Assert.That(NativeMethods.hs_selective_scan_num_chunks(1), Is.EqualTo(1));
            Assert.That(NativeMethods.hs_selective_scan_num_chunks(chunk), Is.EqualTo(1));
            Assert.That(NativeMethods.hs_selective_scan_num_chunks(chunk + 1), Is.EqualTo(2));
            Assert.That(NativeMethods.hs_selective_scan_num_chunks(3 * chunk - 1), Is.EqualTo(3));
            Assert.That(sizesLength, Is.EqualTo((int)hs_constants.HS_MAX_RANK), "hs_tensor.sizes length");
            Assert.That(stridesLength, Is.EqualTo((int)hs_constants.HS_MAX_RANK), "hs_tensor.strides length");
        });
    }

    /// <summary>Every generated parameter, return value and field says which C type it came from, and the C# type
    /// is the one that C type must map to.</summary>
    [Test]
    public void NativeTypeNamesMatchTheClrTypes()
    {
        var members = new List<(string Member, string CType, Type ClrType)>();
        foreach (MethodInfo import in GeneratedImports())
        {
            members.Add(($"{import.Name} return", NativeTypeName(import.ReturnParameter), import.ReturnType));
            members.AddRange(import.GetParameters()
                .Select(p => ($"{import.Name}({p.Name})", NativeTypeName(p), p.ParameterType)));
        }
        foreach (string structName in NativeLayout.StructSizes.Keys)
        {
            Type type = typeof(NativeMethods).Assembly.GetType($"HybridSeq.Bindings.{structName}", throwOnError: true)!;
            members.AddRange(type.GetFields(BindingFlags.Instance | BindingFlags.Public)
                .Select(f => ($"{structName}.{f.Name}", NativeTypeName(f), FixedElementTypeOrSelf(f))));
        }

        Assert.That(members, Is.Not.Empty);
        Assert.Multiple(() =>
        {
            foreach ((string member, string cType, Type clrType) in members)
            {
                Assert.That(ExpectedClrType(cType), Is.EqualTo(clrType), $"{member}: C type '{cType}'");
            }
        });
    }

    /// <summary>The C# type a C type spelling must become (the generator's rules, restated independently).</summary>
    private static Type ExpectedClrType(string cType)
    {
        string type = cType.Replace("const ", "").Trim();
        int arrayStart = type.IndexOf('[');
        if (arrayStart >= 0)
        {
            type = type[..arrayStart];
        }
        if (type.EndsWith('*'))
        {
            return ExpectedClrType(type[..^1]).MakePointerType();
        }
        return type switch
        {
            "void" => typeof(void),
            "char" => typeof(sbyte),
            "int32_t" => typeof(int),
            "int64_t" => typeof(long),
            "size_t" => typeof(nuint),
            "hs_stream" => typeof(void*),
            _ => typeof(NativeMethods).Assembly.GetType($"HybridSeq.Bindings.{type}", throwOnError: true)!,
        };
    }

    private static Type FixedElementTypeOrSelf(FieldInfo field) =>
        field.GetCustomAttribute<FixedBufferAttribute>()?.ElementType ?? field.FieldType;

    private static string NativeTypeName(ICustomAttributeProvider member)
    {
        object[] attributes = member.GetCustomAttributes(typeof(NativeTypeNameAttribute), inherit: false);
        Assert.That(attributes, Has.Length.EqualTo(1), $"{member} carries exactly one [NativeTypeName]");
        return ((NativeTypeNameAttribute)attributes[0]).Name;
    }
}
