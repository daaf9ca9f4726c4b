// Parses the public C header with libclang into a small model of what the C# emitter needs.
using System.Runtime.InteropServices;

namespace HybridSeq.BindingsGen;

/// <summary>A C type as seen from C#: the C# spelling and the C spelling it came from (for [NativeTypeName]).</summary>
/// <param name="CSharp">C# type, e.g. <c>hs_tensor*</c>, <c>long</c>.</param>
/// <param name="C">libclang's spelling of the C type, e.g. <c>const hs_tensor *</c>, <c>int64_t[6]</c>.</param>
internal sealed record MappedType(string CSharp, string C);

internal sealed record EnumConstant(string Name, long Value, string? Doc);

internal sealed record EnumModel(string Name, string? Doc, IReadOnlyList<EnumConstant> Constants);

/// <param name="FixedLength">Element count when the C field is a constant array (emitted as a fixed buffer).</param>
/// <param name="OffsetBytes">offsetof(struct, field) as libclang computed it for the target.</param>
internal sealed record FieldModel(string Name, MappedType Type, long? FixedLength, long OffsetBytes, string? Doc);

internal sealed record StructModel(string Name, long SizeBytes, string? Doc, IReadOnlyList<FieldModel> Fields);

internal sealed record ParameterModel(string Name, MappedType Type);

/// <param name="MustUseResult">Declared HS_NODISCARD (warn_unused_result): every hs_status function must be.</param>
internal sealed record FunctionModel(string Name, MappedType ReturnType, IReadOnlyList<ParameterModel> Parameters, string? Doc,
    bool MustUseResult);

/// <param name="HeaderSha256">Lower-case hex SHA-256 of the header with line endings normalised to LF.</param>
internal sealed record HeaderModel(
    string HeaderSha256,
    string Target,
    IReadOnlyList<EnumModel> Enums,
    IReadOnlyList<StructModel> Structs,
    IReadOnlyList<FunctionModel> Functions);

/// <summary>An unsupported construct or a failed parse; Program prints the message and exits 1.</summary>
internal sealed class GeneratorException(string message) : Exception(message);

internal static unsafe class HeaderParser
{
    /// <summary>The ABI the bindings describe (struct layouts, sizes). Fixed so the output does not depend on the
    /// machine that runs the generator.</summary>
    public const string Target = "x86_64-unknown-linux-gnu";

    // Typedef names that keep their meaning in C# beyond their underlying builtin type (size_t is pointer-sized).
    private static readonly Dictionary<string, string> KnownTypedefs = new()
    {
        ["int8_t"] = "sbyte",
        ["int16_t"] = "short",
        ["int32_t"] = "int",
        ["int64_t"] = "long",
        ["uint8_t"] = "byte",
        ["uint16_t"] = "ushort",
        ["uint32_t"] = "uint",
        ["uint64_t"] = "ulong",
        ["size_t"] = "nuint",
        ["ptrdiff_t"] = "nint",
        ["intptr_t"] = "nint",
        ["uintptr_t"] = "nuint",
    };

    /// <summary>Parses <paramref name="headerPath"/> as C11 for <see cref="Target"/>.</summary>
    /// <param name="shimIncludeDir">Folder with the minimal stddef.h / stdint.h (tools/BindingsGen/include).</param>
    /// <exception cref="GeneratorException">On any error diagnostic or a construct the generator cannot map.</exception>
    public static HeaderModel Parse(string headerPath, string shimIncludeDir)
    {
        string headerSha256 = HashNormalised(File.ReadAllBytes(headerPath));
        string[] args =
        [
            "-x", "c", "-std=c11", $"--target={Target}",
            // No system or clang resource headers: the shim folder provides the two the header includes.
            "-nostdinc", "-I", shimIncludeDir,
            "-I", Path.GetDirectoryName(Path.GetFullPath(headerPath))!,
            // Attach ordinary /* */ comments too, so the header's comments become XML docs.
            "-fparse-all-comments",
        ];

        void* index = LibClang.clang_createIndex(0, 0);
        void* unit = null;
        try
        {
            int error = ParseTranslationUnit(index, Path.GetFullPath(headerPath), args, &unit);
            if (error != 0 || unit == null)
            {
                throw new GeneratorException($"libclang could not parse '{headerPath}' (CXErrorCode {error}).");
            }
            ThrowOnErrorDiagnostics(unit, headerPath);
            return BuildModel(unit, headerSha256);
        }
        finally
        {
            if (unit != null)
            {
                LibClang.clang_disposeTranslationUnit(unit);
            }
            LibClang.clang_disposeIndex(index);
        }
    }

    /// <summary>SHA-256 (lower-case hex) of the text with CRLF turned into LF, so a Windows checkout with
    /// autocrlf hashes the same as a Linux one. The tests compute the same function.</summary>
    public static string HashNormalised(byte[] content)
    {
        var normalised = new List<byte>(content.Length);
        for (int i = 0; i < content.Length; i++)
        {
            if (content[i] == (byte)'\r' && i + 1 < content.Length && content[i + 1] == (byte)'\n')
            {
                continue;
            }
            normalised.Add(content[i]);
        }
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(normalised.ToArray()));
    }

    private static int ParseTranslationUnit(void* index, string headerPath, string[] args, void** unit)
    {
        var allocated = new List<IntPtr>();
        try
        {
            IntPtr path = Marshal.StringToCoTaskMemUTF8(headerPath);
            allocated.Add(path);
            byte** argv = stackalloc byte*[args.Length];
            for (int i = 0; i < args.Length; i++)
            {
                IntPtr arg = Marshal.StringToCoTaskMemUTF8(args[i]);
                allocated.Add(arg);
                argv[i] = (byte*)arg;
            }
            return LibClang.clang_parseTranslationUnit2(index, (byte*)path, argv, args.Length, null, 0, 0, unit);
        }
        finally
        {
            allocated.ForEach(Marshal.FreeCoTaskMem);
        }
    }

    private static void ThrowOnErrorDiagnostics(void* unit, string headerPath)
    {
        var errors = new List<string>();
        uint count = LibClang.clang_getNumDiagnostics(unit);
        for (uint i = 0; i < count; i++)
        {
            void* diagnostic = LibClang.clang_getDiagnostic(unit, i);
            try
            {
                CXDiagnosticSeverity severity = LibClang.clang_getDiagnosticSeverity(diagnostic);
                string text = LibClang.TakeString(
                    LibClang.clang_formatDiagnostic(diagnostic, LibClang.clang_defaultDiagnosticDisplayOptions()));
                if (severity >= CXDiagnosticSeverity.Error)
                {
                    errors.Add(text);
                }
                else if (severity >= CXDiagnosticSeverity.Warning)
                {
                    Console.Error.WriteLine(text);
                }
            }
            finally
            {
                LibClang.clang_disposeDiagnostic(diagnostic);
            }
        }
        if (errors.Count > 0)
        {
            throw new GeneratorException(
                $"libclang reported {errors.Count} error(s) in '{headerPath}':{Environment.NewLine}" +
                string.Join(Environment.NewLine, errors));
        }
    }

    private static HeaderModel BuildModel(void* unit, string headerSha256)
    {
        var enums = new List<EnumModel>();
        var structs = new List<StructModel>();
        var functions = new List<FunctionModel>();
        foreach (CXCursor cursor in LibClang.Children(LibClang.clang_getTranslationUnitCursor(unit)))
        {
            // Declarations of the shim headers (int32_t, size_t) are not part of the API.
            if (LibClang.clang_Location_isFromMainFile(LibClang.clang_getCursorLocation(cursor)) == 0)
            {
                continue;
            }
            switch (cursor.Kind)
            {
                case CXCursorKind.EnumDecl when LibClang.clang_isCursorDefinition(cursor) != 0:
                    enums.Add(ReadEnum(cursor));
                    break;
                case CXCursorKind.StructDecl when LibClang.clang_isCursorDefinition(cursor) != 0:
                    structs.Add(ReadStruct(cursor));
                    break;
                case CXCursorKind.FunctionDecl:
                    functions.Add(ReadFunction(cursor));
                    break;
            }
        }
        return new HeaderModel(headerSha256, Target, enums, structs, functions);
    }

    private static EnumModel ReadEnum(CXCursor cursor)
    {
        string name = NamedDeclaration(cursor, "enum");
        long size = LibClang.clang_Type_getSizeOf(LibClang.clang_getEnumDeclIntegerType(cursor));
        if (size != 4)
        {
            throw new GeneratorException($"enum {name}: expected a 4-byte underlying type (C enum = int), got {size} bytes.");
        }
        var constants = LibClang.Children(cursor)
            .Where(child => child.Kind == CXCursorKind.EnumConstantDecl)
            .Select(child => new EnumConstant(LibClang.Spelling(child), LibClang.clang_getEnumConstantDeclValue(child), DocOf(child)))
            .ToList();
        return new EnumModel(name, DocOf(cursor), constants);
    }

    private static StructModel ReadStruct(CXCursor cursor)
    {
        string name = NamedDeclaration(cursor, "struct");
        CXType structType = LibClang.clang_getCursorType(cursor);
        long size = LibClang.clang_Type_getSizeOf(structType);
        if (size < 0)
        {
            throw new GeneratorException($"struct {name}: libclang could not compute its size (CXTypeLayoutError {size}).");
        }
        var fields = new List<FieldModel>();
        foreach (CXCursor child in LibClang.Children(cursor))
        {
            if (child.Kind != CXCursorKind.FieldDecl)
            {
                // A nested struct/enum definition inside a struct would need its own emission.
                throw new GeneratorException($"struct {name}: unsupported member '{LibClang.Spelling(child)}' (cursor kind {(int)child.Kind}).");
            }
            fields.Add(ReadField(name, structType, child));
        }
        return new StructModel(name, size, DocOf(cursor), fields);
    }

    private static FieldModel ReadField(string structName, CXType structType, CXCursor field)
    {
        string fieldName = LibClang.Spelling(field);
        string where = $"{structName}.{fieldName}";
        CXType type = LibClang.clang_getCursorType(field);
        long offsetBits = OffsetOfBits(structType, fieldName);
        if (offsetBits < 0 || offsetBits % 8 != 0)
        {
            throw new GeneratorException($"{where}: expected a byte offset, libclang gave {offsetBits} (bits, or a CXTypeLayoutError); bit-fields are not supported.");
        }

        long? fixedLength = null;
        string csharp;
        if (type.Kind == CXTypeKind.ConstantArray)
        {
            fixedLength = LibClang.clang_getArraySize(type);
            csharp = MapType(LibClang.clang_getArrayElementType(type), where);
            string[] fixedBufferElementTypes = ["bool", "byte", "sbyte", "short", "ushort", "int", "uint", "long", "ulong", "float", "double"];
            if (!fixedBufferElementTypes.Contains(csharp))
            {
                throw new GeneratorException($"{where}: an array field must have a primitive element type for a C# fixed buffer, got {csharp}.");
            }
        }
        else
        {
            csharp = MapType(type, where);
        }
        return new FieldModel(fieldName, new MappedType(csharp, LibClang.Spelling(type)), fixedLength, offsetBits / 8, DocOf(field));
    }

    private static long OffsetOfBits(CXType structType, string fieldName)
    {
        IntPtr name = Marshal.StringToCoTaskMemUTF8(fieldName);
        try
        {
            return LibClang.clang_Type_getOffsetOf(structType, (byte*)name);
        }
        finally
        {
            Marshal.FreeCoTaskMem(name);
        }
    }

    private static FunctionModel ReadFunction(CXCursor cursor)
    {
        string name = LibClang.Spelling(cursor);
        CXType returnType = LibClang.clang_getCursorResultType(cursor);
        int count = LibClang.clang_Cursor_getNumArguments(cursor);
        if (count < 0)
        {
            throw new GeneratorException($"{name}: libclang cannot list its parameters (declared without a prototype? write '(void)').");
        }
        var parameters = new List<ParameterModel>();
        for (uint i = 0; i < count; i++)
        {
            CXCursor parameter = LibClang.clang_Cursor_getArgument(cursor, i);
            string parameterName = LibClang.Spelling(parameter);
            if (parameterName.Length == 0)
            {
                throw new GeneratorException($"{name}: parameter {i} has no name; name every parameter in the header.");
            }
            CXType type = LibClang.clang_getCursorType(parameter);
            parameters.Add(new ParameterModel(parameterName,
                new MappedType(MapType(type, $"{name}({parameterName})"), LibClang.Spelling(type))));
        }
        var mappedReturn = new MappedType(MapType(returnType, $"{name} return"), LibClang.Spelling(returnType));
        bool mustUseResult = LibClang.Children(cursor).Any(child => child.Kind == CXCursorKind.WarnUnusedResultAttr);
        // A dropped status hides a failure, so the header marks every status-returning function; a new one that
        // forgets the marker fails here rather than in some caller's code review.
        if (mappedReturn.CSharp == "hs_status" && !mustUseResult)
        {
            throw new GeneratorException($"{name} returns hs_status but is not declared HS_NODISCARD; put HS_NODISCARD on the line before its HS_API.");
        }
        return new FunctionModel(name, mappedReturn, parameters, DocOf(cursor), mustUseResult);
    }

    /// <summary>The C# spelling of a C type. Qualifiers are dropped (C# has no const pointee).</summary>
    /// <param name="where">Names the declaration in error messages.</param>
    private static string MapType(CXType type, string where)
    {
        switch (type.Kind)
        {
            case CXTypeKind.Pointer:
                return MapType(LibClang.clang_getPointeeType(type), where) + "*";
            case CXTypeKind.Elaborated:
                return MapType(LibClang.clang_Type_getNamedType(type), where);
            case CXTypeKind.Typedef:
                CXCursor typedefDecl = LibClang.clang_getTypeDeclaration(type);
                return KnownTypedefs.TryGetValue(LibClang.Spelling(typedefDecl), out string? known)
                    ? known
                    : MapType(LibClang.clang_getTypedefDeclUnderlyingType(typedefDecl), where);
            case CXTypeKind.Record:
            case CXTypeKind.Enum:
                CXCursor declaration = LibClang.clang_getTypeDeclaration(type);
                return NamedDeclaration(declaration, type.Kind == CXTypeKind.Record ? "struct" : "enum");
            case CXTypeKind.Void: return "void";
            case CXTypeKind.Bool: return "bool";
            case CXTypeKind.Char_S:
            case CXTypeKind.SChar: return "sbyte";
            case CXTypeKind.Char_U:
            case CXTypeKind.UChar: return "byte";
            case CXTypeKind.Short: return "short";
            case CXTypeKind.UShort: return "ushort";
            case CXTypeKind.Int: return "int";
            case CXTypeKind.UInt: return "uint";
            case CXTypeKind.LongLong: return "long";
            case CXTypeKind.ULongLong: return "ulong";
            // C long is 8 bytes on Linux x64 but 4 on Windows; map by the size the target gives.
            case CXTypeKind.Long: return LibClang.clang_Type_getSizeOf(type) == 8 ? "long" : "int";
            case CXTypeKind.ULong: return LibClang.clang_Type_getSizeOf(type) == 8 ? "ulong" : "uint";
            case CXTypeKind.Float: return "float";
            case CXTypeKind.Double: return "double";
            default:
                throw new GeneratorException($"{where}: C type '{LibClang.Spelling(type)}' (CXTypeKind {(int)type.Kind}) has no C# mapping in BindingsGen.");
        }
    }

    private static string NamedDeclaration(CXCursor cursor, string what)
    {
        if (LibClang.clang_Cursor_isAnonymous(cursor) != 0)
        {
            throw new GeneratorException($"an anonymous {what} at '{LibClang.Spelling(cursor)}' cannot be bound; give it a tag name (typedef {what} name {{...}} name;).");
        }
        return LibClang.Spelling(cursor);
    }

    /// <summary>The comment text libclang attached to a declaration, without comment markers; null if none.</summary>
    private static string? DocOf(CXCursor cursor)
    {
        string raw = LibClang.TakeString(LibClang.clang_Cursor_getRawCommentText(cursor));
        return raw.Length == 0 ? null : CommentText.Strip(raw);
    }
}

/// <summary>Turns a raw C comment into plain lines of text.</summary>
internal static class CommentText
{
    /// <summary>Removes /* */, // and leading " * " markers, and rule lines made only of '-' or '='.</summary>
    public static string? Strip(string raw)
    {
        var lines = new List<string>();
        foreach (string rawLine in raw.Replace("\r\n", "\n").Split('\n'))
        {
            string line = rawLine.Trim();
            if (line.StartsWith("/*", StringComparison.Ordinal))
            {
                line = line[2..].TrimStart('*', '!', '<');
            }
            else if (line.StartsWith("//", StringComparison.Ordinal))
            {
                line = line[2..].TrimStart('/', '!', '<');
            }
            if (line.EndsWith("*/", StringComparison.Ordinal))
            {
                line = line[..^2];
            }
            if (line.StartsWith('*'))
            {
                line = line[1..];
            }
            // Keep the relative indentation of the comment's body (shape tables) but drop the marker's space.
            line = line.StartsWith(' ') ? line[1..] : line;
            line = line.TrimEnd();
            bool isRule = line.Length > 0 && line.All(c => c is '-' or '=');
            if (!isRule)
            {
                lines.Add(line);
            }
        }
        while (lines.Count > 0 && lines[0].Length == 0)
        {
            lines.RemoveAt(0);
        }
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }
        return lines.Count == 0 ? null : string.Join("\n", lines);
    }
}
