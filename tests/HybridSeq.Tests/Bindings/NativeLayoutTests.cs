using System.Reflection;
using System.Runtime.InteropServices;
using HybridSeq.Bindings;
using HybridSeq.Managed;
using NUnit.Framework;

namespace HybridSeq.Tests.Bindings;

/// <summary>The generated structs must have the C layout three ways: the managed layout (Marshal), libclang's
/// (NativeLayout, generated) and the compiler's that built the library (hs_abi_sizeof / hs_abi_offsetof).</summary>
[TestFixture]
public sealed unsafe class NativeLayoutTests
{
    private static IEnumerable<string> StructNames() => NativeLayout.StructSizes.Keys.Order(StringComparer.Ordinal);

    private static Type ManagedStruct(string name) =>
        typeof(NativeMethods).Assembly.GetType($"HybridSeq.Bindings.{name}", throwOnError: true)!;

    private static string[] LibclangFieldsInOrder(string structName) =>
        NativeLayout.FieldOffsets.Where(entry => entry.Key.Struct == structName)
            .OrderBy(entry => entry.Value)
            .Select(entry => entry.Key.Field)
            .ToArray();

    [Test]
    public void EveryGeneratedStructIsInTheLayoutTable()
    {
        string[] generatedStructs = typeof(NativeMethods).Assembly.GetExportedTypes()
            .Where(type => type is { IsValueType: true, IsEnum: false, IsNested: false } && type.Namespace == "HybridSeq.Bindings")
            .Select(type => type.Name)
            .Order(StringComparer.Ordinal)
            .ToArray();
        Assert.That(generatedStructs, Is.EqualTo(StructNames().ToArray()));
    }

    [TestCaseSource(nameof(StructNames))]
    public void ManagedLayoutMatchesLibclang(string structName)
    {
        Type type = ManagedStruct(structName);
        string[] managedFields = type.GetFields(BindingFlags.Instance | BindingFlags.Public)
            .OrderBy(field => (long)Marshal.OffsetOf(type, field.Name))
            .Select(field => field.Name)
            .ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(managedFields, Is.EqualTo(LibclangFieldsInOrder(structName)), "fields in offset order");
            Assert.That(Marshal.SizeOf(type), Is.EqualTo(NativeLayout.StructSizes[structName]), "Marshal.SizeOf");
            Assert.That(UnsafeSizeOf(type), Is.EqualTo(NativeLayout.StructSizes[structName]), "Unsafe.SizeOf");
            foreach (string field in managedFields)
            {
                Assert.That((long)Marshal.OffsetOf(type, field), Is.EqualTo(NativeLayout.FieldOffsets[(structName, field)]),
                    $"offsetof({structName}, {field})");
            }
        });
    }

    [TestCaseSource(nameof(StructNames))]
    public void NativeLibraryLayoutMatchesLibclang(string structName)
    {
        Native.Load();
        long sizeResult;
        fixed (byte* name = BindingsTestSupport.CString(structName))
        {
            Assert.That(NativeMethods.hs_abi_sizeof((sbyte*)name, &sizeResult), Is.EqualTo(hs_status.HS_OK), BindingsTestSupport.LastError);
        }
        long size = sizeResult;
        Assert.Multiple(() =>
        {
            Assert.That(size, Is.EqualTo(NativeLayout.StructSizes[structName]), $"hs_abi_sizeof(\"{structName}\")");
            foreach (string field in LibclangFieldsInOrder(structName))
            {
                long offset = -1;
                fixed (byte* name = BindingsTestSupport.CString(structName))
                fixed (byte* fieldName = BindingsTestSupport.CString(field))
                {
                    Assert.That(NativeMethods.hs_abi_offsetof((sbyte*)name, (sbyte*)fieldName, &offset),
                        Is.EqualTo(hs_status.HS_OK), $"hs_abi_offsetof(\"{structName}\", \"{field}\"): {BindingsTestSupport.LastError()}");
                }
                Assert.That(offset, Is.EqualTo(NativeLayout.FieldOffsets[(structName, field)]),
                    $"hs_abi_offsetof(\"{structName}\", \"{field}\")");
            }
        });
    }

    /// <summary>The comparison above is only meaningful if the native table answers "unknown" for what it lacks
    /// instead of some default.</summary>
    [Test]
    public void NativeLibraryRejectsUnknownLayoutNames()
    {
        Native.Load();
        long value = -1;
        hs_status unknownType, unknownField;
        fixed (byte* type = BindingsTestSupport.CString("hs_no_such_struct"))
        {
            unknownType = NativeMethods.hs_abi_sizeof((sbyte*)type, &value);
        }
        string typeMessage = BindingsTestSupport.LastError();
        fixed (byte* type = BindingsTestSupport.CString("hs_tensor"))
        fixed (byte* field = BindingsTestSupport.CString("no_such_field"))
        {
            unknownField = NativeMethods.hs_abi_offsetof((sbyte*)type, (sbyte*)field, &value);
        }
        string fieldMessage = BindingsTestSupport.LastError();
        Assert.Multiple(() =>
        {
            Assert.That(unknownType, Is.EqualTo(hs_status.HS_ERR_INVALID_ARGUMENT));
            Assert.That(typeMessage, Does.Contain("hs_no_such_struct"));
            Assert.That(unknownField, Is.EqualTo(hs_status.HS_ERR_INVALID_ARGUMENT));
            Assert.That(fieldMessage, Does.Contain("no_such_field"));
        });
    }

    private static long UnsafeSizeOf(Type type) =>
        (int)typeof(System.Runtime.CompilerServices.Unsafe).GetMethod(nameof(System.Runtime.CompilerServices.Unsafe.SizeOf))!
            .MakeGenericMethod(type).Invoke(null, null)!;
}
