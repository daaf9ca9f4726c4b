// Hand-written bindings for the small part of the libclang C API (clang-c/Index.h) that the generator uses.
// The numeric values of the enums below are libclang's stable ABI values.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

[assembly: DisableRuntimeMarshalling]

namespace HybridSeq.BindingsGen;

/// <summary>libclang's CXString: an owned string; read with <see cref="LibClang.TakeString"/>, which disposes it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXString
{
    public void* Data;
    public uint PrivateFlags;
}

/// <summary>libclang's CXCursor (a node of the AST), passed by value.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXCursor
{
    public CXCursorKind Kind;
    public int Xdata;
    public void* Data0;
    public void* Data1;
    public void* Data2;
}

/// <summary>libclang's CXType, passed by value.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXType
{
    public CXTypeKind Kind;
    public void* Data0;
    public void* Data1;
}

/// <summary>libclang's CXSourceLocation, passed by value.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceLocation
{
    public void* PtrData0;
    public void* PtrData1;
    public uint IntData;
}

internal enum CXCursorKind
{
    StructDecl = 2,
    EnumDecl = 5,
    FieldDecl = 6,
    EnumConstantDecl = 7,
    FunctionDecl = 8,
    ParmDecl = 10,
    TypedefDecl = 20,
    // __attribute__((warn_unused_result)) or [[nodiscard]] on a declaration (HS_NODISCARD), as a child cursor.
    WarnUnusedResultAttr = 440,
}

internal enum CXTypeKind
{
    Invalid = 0,
    Void = 2,
    Bool = 3,
    Char_U = 4,
    UChar = 5,
    UShort = 8,
    UInt = 9,
    ULong = 10,
    ULongLong = 11,
    Char_S = 13,
    SChar = 14,
    Short = 16,
    Int = 17,
    Long = 18,
    LongLong = 19,
    Float = 21,
    Double = 22,
    Pointer = 101,
    Record = 105,
    Enum = 106,
    Typedef = 107,
    ConstantArray = 112,
    Elaborated = 119,
}

internal enum CXDiagnosticSeverity
{
    Ignored = 0,
    Note = 1,
    Warning = 2,
    Error = 3,
    Fatal = 4,
}

internal enum CXChildVisitResult
{
    Break = 0,
    Continue = 1,
    Recurse = 2,
}

internal static unsafe partial class LibClang
{
    // The NuGet package libclang.runtime.linux-x64 ships runtimes/linux-x64/native/libclang.so; the host finds it
    // through the tool's deps.json, and ResolveFromPackageLayout covers a plain copy of the output folder.
    private const string Lib = "libclang";

    static LibClang()
    {
        NativeLibrary.SetDllImportResolver(typeof(LibClang).Assembly, ResolveFromPackageLayout);
    }

    private static IntPtr ResolveFromPackageLayout(string name, System.Reflection.Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Lib)
        {
            return IntPtr.Zero;
        }
        if (NativeLibrary.TryLoad(name, assembly, searchPath, out IntPtr handle))
        {
            return handle;
        }
        string inRuntimesFolder = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libclang.so");
        return NativeLibrary.TryLoad(inRuntimesFolder, out handle) ? handle : IntPtr.Zero;
    }

    [LibraryImport(Lib)] public static partial void* clang_createIndex(int excludeDeclarationsFromPch, int displayDiagnostics);
    [LibraryImport(Lib)] public static partial void clang_disposeIndex(void* index);

    /// <returns>A CXErrorCode: 0 on success.</returns>
    [LibraryImport(Lib)]
    public static partial int clang_parseTranslationUnit2(void* index, byte* sourceFilename, byte** commandLineArgs,
        int numCommandLineArgs, void* unsavedFiles, uint numUnsavedFiles, uint options, void** translationUnit);

    [LibraryImport(Lib)] public static partial void clang_disposeTranslationUnit(void* translationUnit);

    [LibraryImport(Lib)] public static partial uint clang_getNumDiagnostics(void* translationUnit);
    [LibraryImport(Lib)] public static partial void* clang_getDiagnostic(void* translationUnit, uint index);
    [LibraryImport(Lib)] public static partial CXDiagnosticSeverity clang_getDiagnosticSeverity(void* diagnostic);
    [LibraryImport(Lib)] public static partial uint clang_defaultDiagnosticDisplayOptions();
    [LibraryImport(Lib)] public static partial CXString clang_formatDiagnostic(void* diagnostic, uint options);
    [LibraryImport(Lib)] public static partial void clang_disposeDiagnostic(void* diagnostic);

    [LibraryImport(Lib)] public static partial CXCursor clang_getTranslationUnitCursor(void* translationUnit);

    /// <param name="visitor">Called per child with (cursor, parent, clientData); returns a CXChildVisitResult.</param>
    [LibraryImport(Lib)]
    public static partial uint clang_visitChildren(CXCursor parent,
        delegate* unmanaged<CXCursor, CXCursor, void*, CXChildVisitResult> visitor, void* clientData);

    [LibraryImport(Lib)] public static partial CXString clang_getCursorSpelling(CXCursor cursor);
    [LibraryImport(Lib)] public static partial CXType clang_getCursorType(CXCursor cursor);
    [LibraryImport(Lib)] public static partial CXType clang_getCursorResultType(CXCursor cursor);
    [LibraryImport(Lib)] public static partial int clang_Cursor_getNumArguments(CXCursor cursor);
    [LibraryImport(Lib)] public static partial CXCursor clang_Cursor_getArgument(CXCursor cursor, uint index);
    [LibraryImport(Lib)] public static partial uint clang_isCursorDefinition(CXCursor cursor);
    [LibraryImport(Lib)] public static partial uint clang_Cursor_isAnonymous(CXCursor cursor);
    [LibraryImport(Lib)] public static partial CXString clang_Cursor_getRawCommentText(CXCursor cursor);
    [LibraryImport(Lib)] public static partial CXSourceLocation clang_getCursorLocation(CXCursor cursor);
    [LibraryImport(Lib)] public static partial int clang_Location_isFromMainFile(CXSourceLocation location);

    [LibraryImport(Lib)] public static partial long clang_getEnumConstantDeclValue(CXCursor cursor);
    [LibraryImport(Lib)] public static partial CXType clang_getEnumDeclIntegerType(CXCursor cursor);
    [LibraryImport(Lib)] public static partial CXType clang_getTypedefDeclUnderlyingType(CXCursor cursor);

    [LibraryImport(Lib)] public static partial CXString clang_getTypeSpelling(CXType type);
    [LibraryImport(Lib)] public static partial CXCursor clang_getTypeDeclaration(CXType type);
    [LibraryImport(Lib)] public static partial CXType clang_getPointeeType(CXType type);
    [LibraryImport(Lib)] public static partial CXType clang_Type_getNamedType(CXType type);
    [LibraryImport(Lib)] public static partial CXType clang_getArrayElementType(CXType type);
    [LibraryImport(Lib)] public static partial long clang_getArraySize(CXType type);
    /// <returns>Bytes, or a negative CXTypeLayoutError.</returns>
    [LibraryImport(Lib)] public static partial long clang_Type_getSizeOf(CXType type);
    /// <returns>Bits (not bytes), or a negative CXTypeLayoutError.</returns>
    [LibraryImport(Lib)] public static partial long clang_Type_getOffsetOf(CXType type, byte* fieldName);

    [LibraryImport(Lib)] public static partial byte* clang_getCString(CXString text);
    [LibraryImport(Lib)] public static partial void clang_disposeString(CXString text);

    /// <summary>Copies a CXString into a managed string and disposes it.</summary>
    public static string TakeString(CXString text)
    {
        try
        {
            byte* chars = clang_getCString(text);
            return chars == null ? "" : Marshal.PtrToStringUTF8((IntPtr)chars) ?? "";
        }
        finally
        {
            clang_disposeString(text);
        }
    }

    public static string Spelling(CXCursor cursor) => TakeString(clang_getCursorSpelling(cursor));

    public static string Spelling(CXType type) => TakeString(clang_getTypeSpelling(type));

    /// <summary>The direct children of a cursor, in source order.</summary>
    public static List<CXCursor> Children(CXCursor parent)
    {
        var children = new List<CXCursor>();
        GCHandle handle = GCHandle.Alloc(children);
        try
        {
            clang_visitChildren(parent, &CollectChild, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        return children;
    }

    [UnmanagedCallersOnly]
    private static CXChildVisitResult CollectChild(CXCursor cursor, CXCursor parent, void* clientData)
    {
        var children = (List<CXCursor>)GCHandle.FromIntPtr((IntPtr)clientData).Target!;
        children.Add(cursor);
        return CXChildVisitResult.Continue;
    }
}
