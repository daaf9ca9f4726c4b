using System.Diagnostics;
using HybridSeq.Bindings;
using NUnit.Framework;

namespace HybridSeq.Tests.Bindings;

/// <summary>Is src/Bindings/NativeMethods.g.cs what tools/BindingsGen makes of the current hybridseq.h?</summary>
[TestFixture]
public sealed class GeneratedBindingsTests
{
    [Test]
    public void GeneratedBindingsCameFromTheCurrentHeader()
    {
        string header = HeaderPathOrIgnore();
        string actual = BindingsTestSupport.HashNormalised(File.ReadAllBytes(header));
        Assert.That(actual, Is.EqualTo(NativeMethods.HeaderSha256),
            $"{header} changed since src/Bindings/NativeMethods.g.cs was generated; " +
            "run `dotnet run --project tools/BindingsGen -- --write` and rebuild.");
    }

    /// <summary>The full check: regenerates the bindings in memory with libclang and compares them byte for byte.
    /// Needs the .NET SDK and the checkout (it builds tools/BindingsGen), so it is ignored elsewhere; CI also runs
    /// the same `--check` as a step of its own.</summary>
    [Test]
    [Category("Tooling")]
    [CancelAfter(600_000)]
    public void GeneratorCheckFindsNoDifference()
    {
        HeaderPathOrIgnore();
        string repoRoot = BindingsTestSupport.FindRepoRoot()!;
        string dotnet = DotnetHostOrIgnore();

        (int exitCode, string output) = RunProcess(dotnet, repoRoot,
            "run", "--project", Path.Combine(repoRoot, "tools", "BindingsGen"), "--", "--check");

        Assert.That(exitCode, Is.EqualTo(0), $"`dotnet run --project tools/BindingsGen -- --check` failed:\n{output}");
    }

    private static string HeaderPathOrIgnore()
    {
        string? repoRoot = BindingsTestSupport.FindRepoRoot();
        string? header = repoRoot is null ? null : Path.Combine(repoRoot, "native", "include", "hybridseq.h");
        if (header is null || !File.Exists(header))
        {
            Assert.Ignore("No HybridSeq checkout above the test assembly (native/include/hybridseq.h not found).");
        }
        return header!;
    }

    /// <summary>The dotnet host that runs these tests, when it has an SDK; ignores the test otherwise.</summary>
    private static string DotnetHostOrIgnore()
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath
            ? hostPath
            : Environment.ProcessPath is { } processPath && Path.GetFileNameWithoutExtension(processPath) == "dotnet"
                ? processPath
                : "dotnet";
        (int exitCode, string sdks) = RunProcess(dotnet, Environment.CurrentDirectory, "--list-sdks");
        if (exitCode != 0 || sdks.Trim().Length == 0)
        {
            Assert.Ignore($"No .NET SDK available through '{dotnet}' (`--list-sdks` gave exit code {exitCode}).");
        }
        return dotnet;
    }

    private static (int ExitCode, string Output) RunProcess(string fileName, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // A parent `dotnet test` exports its MSBuild location; the child build must find its own.
        foreach (string inherited in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH" })
        {
            start.Environment.Remove(inherited);
        }
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // Only a missing executable lands here; the process's own failures come back as its exit code.
            throw new IgnoreException($"Cannot start '{fileName}': {e.Message}");
        }
        using (process)
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }
}
