using System.Runtime.InteropServices;
using System.Text;
using HybridSeq.Bindings;

namespace HybridSeq.Tests.Bindings;

/// <summary>Helpers shared by the binding tests: the repository checkout (when the tests run from one) and C strings.</summary>
internal static unsafe class BindingsTestSupport
{
    /// <summary>The folder holding HybridSeq.sln above the test assembly, or null when the tests run outside a
    /// checkout (e.g. a published test assembly on the GPU machine).</summary>
    public static string? FindRepoRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HybridSeq.sln")))
            {
                return dir.FullName;
            }
        }
        return null;
    }

    /// <summary>Same function as BindingsGen's HeaderParser.HashNormalised: SHA-256 (lower-case hex) of the bytes
    /// with CRLF turned into LF.</summary>
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

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="text"/>, for const char* arguments (pin with fixed).</summary>
    public static byte[] CString(string text) => Encoding.UTF8.GetBytes(text + "\0");

    public static string FromCString(sbyte* text) => text == null ? "" : Marshal.PtrToStringUTF8((IntPtr)text) ?? "";

    /// <summary>hs_last_error() of this thread, for assertion messages.</summary>
    public static string LastError() => FromCString(NativeMethods.hs_last_error());
}
