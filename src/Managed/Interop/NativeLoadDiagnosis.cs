using System.Text;
using System.Text.RegularExpressions;

namespace HybridSeq.Managed;

/// <summary>One place <see cref="Native.Load"/> looked for libhybridseq.so: the path, where the path came from, and
/// the loader's error (null when no file was there).</summary>
internal sealed record LoadAttempt(string Path, string Origin, string? LoaderError);

/// <summary>
/// Turns the dynamic loader's errors into the requirement that is missing, so that the load error says what to
/// install or reference instead of only relaying dlerror(). libhybridseq.so needs glibc, libstdc++ (GCC's C++
/// runtime), libgcc_s and libgomp (GCC's OpenMP runtime); its CUDA kernels need the NVIDIA driver only when used
/// (the CUDA runtime is linked in statically). Those requirements are stated in the package readme.
/// </summary>
internal static partial class NativeLoadDiagnosis
{
    /// <summary>The package that carries libhybridseq.so (runtimes/linux-x64/native/).</summary>
    internal const string RuntimePackage = "HybridSeq.Runtime.linux-x64";

    /// <summary>The whole message of the load exception: what is missing first, then every attempt.</summary>
    internal static string Describe(IReadOnlyList<LoadAttempt> attempts)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        var causes = new List<string>();
        foreach (var attempt in attempts)
        {
            // A file that was there but did not load: the loader names the dependency or the version it lacks.
            // The default search's error is read too, but "libhybridseq.so itself not found" is no cause there.
            if (attempt.LoaderError is not string error) continue;
            string? cause = MissingRequirement(error);
            if (cause is not null && !causes.Contains(cause)) causes.Add(cause);
        }
        bool noFileAnywhere = attempts.All(a => a.LoaderError is null || NamesOnlyTheLibraryItself(a.LoaderError));
        if (causes.Count == 0 && noFileAnywhere)
            causes.Add($"libhybridseq.so is not there: the application does not reference the NuGet package " +
                $"{RuntimePackage} (HybridSeq.Managed depends on it; restore it, or publish for linux-x64), " +
                $"or, in a clone of the repository, the native library was not built (`dotnet pwsh ./build.ps1 " +
                $"build` installs it to artifacts/native/lib and the .NET build copies it next to the application); " +
                $"${Native.PathEnvironmentVariable} may name the file or its folder");
        if (causes.Count == 0)
            causes.Add("the loader's errors below name the problem");

        var message = new StringBuilder("Could not load the HybridSeq native library libhybridseq.so: ");
        message.Append(string.Join("; ", causes)).Append('.').AppendLine();
        message.AppendLine("Tried, in order:");
        foreach (var attempt in attempts)
            message.AppendLine($"  {attempt.Path} ({attempt.Origin}): {attempt.LoaderError ?? "no such file"}");
        return message.ToString();
    }

    /// <summary>The missing requirement named by one dlerror() text, or null when the text names none of them.</summary>
    internal static string? MissingRequirement(string loaderError)
    {
        ArgumentNullException.ThrowIfNull(loaderError);
        // "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by ...)"
        var version = VersionNotFound().Match(loaderError);
        if (version.Success)
        {
            string provider = version.Groups["file"].Value.Trim();
            string symbolVersion = version.Groups["version"].Value;
            string? library = symbolVersion switch
            {
                _ when symbolVersion.StartsWith("GLIBCXX_", StringComparison.Ordinal)
                    || symbolVersion.StartsWith("CXXABI_", StringComparison.Ordinal) =>
                    "libstdc++ (GCC's C++ runtime, Debian/Ubuntu package libstdc++6)",
                _ when symbolVersion.StartsWith("GLIBC_", StringComparison.Ordinal) => "glibc",
                _ when symbolVersion.StartsWith("GOMP_", StringComparison.Ordinal)
                    || symbolVersion.StartsWith("OMP_", StringComparison.Ordinal) =>
                    "libgomp (GCC's OpenMP runtime, Debian/Ubuntu package libgomp1)",
                _ when symbolVersion.StartsWith("GCC_", StringComparison.Ordinal) => "libgcc_s (package libgcc-s1)",
                _ => null,
            };
            return library is null
                ? $"{provider} lacks the symbol version {symbolVersion}"
                : $"the host's {library} is too old: {provider} lacks {symbolVersion}";
        }
        // "libgomp.so.1: cannot open shared object file: No such file or directory"
        var missing = CannotOpen().Match(loaderError);
        if (missing.Success)
        {
            string file = System.IO.Path.GetFileName(missing.Groups["file"].Value.Trim());
            return file switch
            {
                _ when file.StartsWith("libgomp.", StringComparison.Ordinal) =>
                    $"libgomp (GCC's OpenMP runtime) is not installed: {file} not found (Debian/Ubuntu: apt-get install libgomp1)",
                _ when file.StartsWith("libstdc++.", StringComparison.Ordinal) =>
                    $"libstdc++ (GCC's C++ runtime) is not installed: {file} not found (Debian/Ubuntu: apt-get install libstdc++6)",
                _ when file.StartsWith("libgcc_s.", StringComparison.Ordinal) =>
                    $"libgcc_s is not installed: {file} not found (Debian/Ubuntu: apt-get install libgcc-s1)",
                _ when file.Contains("hybridseq", StringComparison.Ordinal) => null,
                _ => $"a library it depends on is not installed: {file} not found",
            };
        }
        if (loaderError.Contains("wrong ELF class", StringComparison.Ordinal)
            || loaderError.Contains("invalid ELF header", StringComparison.Ordinal)
            || loaderError.Contains("file too short", StringComparison.Ordinal))
            return "the file is not a linux-x64 shared library (another platform's build, or a damaged copy)";
        return null;
    }

    /// <summary>True when the error only says that libhybridseq.so itself was not found (no dependency named).</summary>
    private static bool NamesOnlyTheLibraryItself(string loaderError)
    {
        var matches = CannotOpen().Matches(loaderError);
        return matches.Count > 0 && matches.All(m =>
            System.IO.Path.GetFileName(m.Groups["file"].Value.Trim()).Contains("hybridseq", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"(?<file>[^\s:`']+): version `(?<version>[A-Za-z_]+[0-9.]*)' not found")]
    private static partial Regex VersionNotFound();

    [GeneratedRegex(@"(?<file>[^\s:]+): cannot open shared object file")]
    private static partial Regex CannotOpen();
}
