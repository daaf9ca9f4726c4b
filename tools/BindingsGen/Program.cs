// BindingsGen: generates, from native/include/hybridseq.h with libclang (one parse for both),
//   src/Bindings/NativeMethods.g.cs     the P/Invoke declarations, structs, enums and libclang's layout table, and
//   native/src/api/abi_layout.g.inc      the library's ABI self-description table (hs_abi_sizeof / hs_abi_offsetof).
//
//   dotnet run --project tools/BindingsGen -- --write   regenerate both files
//   dotnet run --project tools/BindingsGen -- --check   exit 1 (with a diff) when either is not what the header gives
//
// Options: --header <path>, --output <path>, --abi-table <path> (defaults relative to the repository root, found by
// walking up to HybridSeq.sln from the working directory, then from the tool's folder).
using System.Text;

namespace HybridSeq.BindingsGen;

internal static class Program
{
    private const string Usage =
        "usage: BindingsGen (--write | --check) [--header <hybridseq.h>] [--output <NativeMethods.g.cs>] [--abi-table <abi_layout.g.inc>] [--repo-root <dir>]";

    private static int Main(string[] args)
    {
        try
        {
            return Run(args);
        }
        catch (GeneratorException e)
        {
            Console.Error.WriteLine($"BindingsGen: {e.Message}");
            return 1;
        }
    }

    private static int Run(string[] args)
    {
        string? mode = null;
        string? header = null;
        string? output = null;
        string? abiTable = null;
        string? repoRoot = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--write":
                case "--check":
                    if (mode is not null && mode != args[i])
                    {
                        return Fail("--write and --check exclude each other.");
                    }
                    mode = args[i];
                    break;
                case "--header":
                case "--output":
                case "--abi-table":
                case "--repo-root":
                    if (i + 1 >= args.Length)
                    {
                        return Fail($"{args[i]} expects a path.");
                    }
                    string option = args[i];
                    string value = args[++i];
                    switch (option)
                    {
                        case "--header": header = value; break;
                        case "--output": output = value; break;
                        case "--abi-table": abiTable = value; break;
                        default: repoRoot = value; break;
                    }
                    break;
                default:
                    return Fail($"unknown argument '{args[i]}'.");
            }
        }
        if (mode is null)
        {
            return Fail("expected --write or --check.");
        }

        repoRoot ??= FindRepoRoot()
            ?? throw new GeneratorException("cannot find the repository root (a folder with HybridSeq.sln) above the working directory or the tool; pass --repo-root.");
        header ??= Path.Combine(repoRoot, "native", "include", "hybridseq.h");
        output ??= Path.Combine(repoRoot, "src", "Bindings", "NativeMethods.g.cs");
        abiTable ??= Path.Combine(repoRoot, "native", "src", "api", "abi_layout.g.inc");
        if (!File.Exists(header))
        {
            throw new GeneratorException($"header '{header}' does not exist.");
        }

        string shimIncludeDir = Path.Combine(repoRoot, "tools", "BindingsGen", "include");
        HeaderModel model = HeaderParser.Parse(header, shimIncludeDir);
        string headerDisplay = Path.GetRelativePath(repoRoot, Path.GetFullPath(header)).Replace('\\', '/');
        var outputs = new (string Path, string Text)[]
        {
            (output, CSharpEmitter.Emit(model, headerDisplay)),
            (abiTable, AbiTableEmitter.Emit(model, headerDisplay)),
        };

        if (mode == "--write")
        {
            foreach ((string path, string text) in outputs)
            {
                File.WriteAllText(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
                Console.WriteLine($"BindingsGen: wrote {path}.");
            }
            Console.WriteLine($"BindingsGen: {model.Enums.Count} enums, {model.Structs.Count} structs, {model.Functions.Count} functions.");
            return 0;
        }

        int stale = 0;
        foreach ((string path, string text) in outputs)
        {
            string current = File.Exists(path) ? File.ReadAllText(path) : "";
            if (current == text)
            {
                Console.WriteLine($"BindingsGen: {path} is up to date.");
                continue;
            }
            stale++;
            Console.Error.WriteLine($"BindingsGen: {path} differs from what {headerDisplay} gives; run `dotnet pwsh ./build.ps1 bindings`.");
            Console.Error.Write(LineDiff.Unified(current, text, "on disk", "regenerated"));
        }
        return stale == 0 ? 0 : 1;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"BindingsGen: {message}");
        Console.Error.WriteLine(Usage);
        return 2;
    }

    private static string? FindRepoRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "HybridSeq.sln")))
                {
                    return dir.FullName;
                }
            }
        }
        return null;
    }
}

/// <summary>A small line diff (longest common subsequence) printed as -/+ lines with line numbers, enough to see
/// what changed in a generated file of a few hundred lines.</summary>
internal static class LineDiff
{
    private const int MaxPrintedLines = 80;

    public static string Unified(string oldText, string newText, string oldName, string newName)
    {
        string[] a = oldText.Replace("\r\n", "\n").Split('\n');
        string[] b = newText.Replace("\r\n", "\n").Split('\n');
        // lcs[i, j] = length of the LCS of a[i..] and b[j..].
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (int i = a.Length - 1; i >= 0; i--)
        {
            for (int j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var text = new StringBuilder();
        text.Append("--- ").Append(oldName).Append('\n').Append("+++ ").Append(newName).Append('\n');
        int printed = 0;
        int x = 0, y = 0;
        while ((x < a.Length || y < b.Length) && printed < MaxPrintedLines)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                x++;
                y++;
            }
            else if (x < a.Length && (y == b.Length || lcs[x + 1, y] >= lcs[x, y + 1]))
            {
                text.Append($"-{x + 1,5}: {a[x]}\n");
                x++;
                printed++;
            }
            else
            {
                text.Append($"+{y + 1,5}: {b[y]}\n");
                y++;
                printed++;
            }
        }
        if (printed == MaxPrintedLines)
        {
            text.Append($"... (diff cut after {MaxPrintedLines} lines)\n");
        }
        return text.ToString();
    }
}
