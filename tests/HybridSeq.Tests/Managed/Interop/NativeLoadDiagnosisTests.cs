using System.Runtime.InteropServices;
using System.Text;
using HybridSeq.Managed;
using NUnit.Framework;

namespace HybridSeq.Tests.Managed.Interop;

/// <summary>The load error names the missing requirement. The loader's messages come from real loads of damaged
/// copies of libhybridseq.so where the platform allows it, and from the texts glibc's loader writes otherwise.</summary>
[TestFixture]
public sealed class NativeLoadDiagnosisTests
{
    private string directory = null!;

    [SetUp]
    public void CreateDirectory() =>
        directory = Directory.CreateTempSubdirectory("hybridseq-load-diagnosis-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(directory, recursive: true);

    /// <summary>A copy of the loaded libhybridseq.so with one string of its dynamic string table replaced by another
    /// of the same length (a NEEDED file name or a symbol version), so the real loader refuses it.</summary>
    private string DamagedCopy(string original, string replacement)
    {
        Native.Load();
        Assert.That(replacement.Length, Is.EqualTo(original.Length), "same length keeps every string offset valid");
        byte[] elf = File.ReadAllBytes(Native.LoadedPath!);
        byte[] needle = Encoding.ASCII.GetBytes(original + "\0");
        int at = IndexOf(elf, needle);
        Assert.That(at, Is.GreaterThan(0), $"{Native.LoadedPath} holds the string {original}");
        Encoding.ASCII.GetBytes(replacement).CopyTo(elf, at);
        string path = Path.Combine(directory, "libhybridseq.so");
        File.WriteAllBytes(path, elf);
        return path;
    }

    private static int IndexOf(byte[] data, byte[] needle)
    {
        for (int i = 1; i + needle.Length <= data.Length; i++)
            if (data[i - 1] == 0 && data.AsSpan(i, needle.Length).SequenceEqual(needle))
                return i;
        return -1;
    }

    private static string LoaderError(string path)
    {
        var error = Assert.Catch<Exception>(() => NativeLibrary.Free(NativeLibrary.Load(path)));
        Assert.That(error, Is.InstanceOf<DllNotFoundException>().Or.InstanceOf<BadImageFormatException>());
        return error!.Message;
    }

    [Test]
    public void AMissingLibgompIsNamedWithItsPackage()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("glibc's loader messages are Linux-only");
        string path = DamagedCopy("libgomp.so.1", "libgomp.so.9");
        string cause = NativeLoadDiagnosis.MissingRequirement(LoaderError(path))!;
        Assert.That(cause, Does.StartWith("libgomp (GCC's OpenMP runtime) is not installed: libgomp.so.9 not found"));
        Assert.That(cause, Does.Contain("libgomp1"));
    }

    [Test]
    public void ATooOldGlibcIsNamedWithTheVersionItLacks()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("glibc's loader messages are Linux-only");
        string path = DamagedCopy("GLIBC_2.14", "GLIBC_9.14");
        string cause = NativeLoadDiagnosis.MissingRequirement(LoaderError(path))!;
        Assert.That(cause, Does.StartWith("the host's glibc is too old: "));
        Assert.That(cause, Does.EndWith("lacks GLIBC_9.14"));
    }

    [Test]
    public void AFileThatIsNoSharedLibraryIsSaidToBeOne()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("glibc's loader messages are Linux-only");
        string path = Path.Combine(directory, "libhybridseq.so");
        File.WriteAllText(path, "this is not an ELF file, but long enough to have a header of sixty-four bytes...");
        Assert.That(NativeLoadDiagnosis.MissingRequirement(LoaderError(path)),
            Is.EqualTo("the file is not a linux-x64 shared library (another platform's build, or a damaged copy)"));
    }

    [TestCase("/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by /app/libhybridseq.so)",
        "the host's libstdc++ (GCC's C++ runtime, Debian/Ubuntu package libstdc++6) is too old: /lib/x86_64-linux-gnu/libstdc++.so.6 lacks GLIBCXX_3.4.32")]
    [TestCase("/lib/x86_64-linux-gnu/libstdc++.so.6: version `CXXABI_1.3.15' not found (required by /app/libhybridseq.so)",
        "the host's libstdc++ (GCC's C++ runtime, Debian/Ubuntu package libstdc++6) is too old: /lib/x86_64-linux-gnu/libstdc++.so.6 lacks CXXABI_1.3.15")]
    [TestCase("/usr/lib64/libgomp.so.1: version `GOMP_4.5' not found (required by /app/libhybridseq.so)",
        "the host's libgomp (GCC's OpenMP runtime, Debian/Ubuntu package libgomp1) is too old: /usr/lib64/libgomp.so.1 lacks GOMP_4.5")]
    [TestCase("libstdc++.so.6: cannot open shared object file: No such file or directory",
        "libstdc++ (GCC's C++ runtime) is not installed: libstdc++.so.6 not found (Debian/Ubuntu: apt-get install libstdc++6)")]
    [TestCase("libcrypt.so.9: cannot open shared object file: No such file or directory",
        "a library it depends on is not installed: libcrypt.so.9 not found")]
    public void LoaderTextsNameTheRequirement(string loaderError, string expected) =>
        Assert.That(NativeLoadDiagnosis.MissingRequirement(loaderError), Is.EqualTo(expected));

    [Test]
    public void NoFileAnywhereSaysThatTheRuntimePackageIsNotReferenced()
    {
        var attempts = new[]
        {
            new LoadAttempt("/app/runtimes/linux-x64/native/libhybridseq.so", "application runtimes folder", null),
            new LoadAttempt("/app/libhybridseq.so", "application folder", null),
            new LoadAttempt("hybridseq", "default search",
                "Unable to load shared library 'hybridseq' or one of its dependencies.\n" +
                "/app/hybridseq.so: cannot open shared object file: No such file or directory\n" +
                "libhybridseq.so: cannot open shared object file: No such file or directory"),
        };
        string message = NativeLoadDiagnosis.Describe(attempts);
        Assert.That(message, Does.StartWith(
            "Could not load the HybridSeq native library libhybridseq.so: libhybridseq.so is not there: the " +
            "application does not reference the NuGet package HybridSeq.Runtime.linux-x64"));
        Assert.That(message, Does.Contain("/app/libhybridseq.so (application folder): no such file"));
    }

    [Test]
    public void AFileThatFailsToLoadGivesItsCauseFirstAndNotTheMissingPackage()
    {
        var attempts = new[]
        {
            new LoadAttempt("/app/runtimes/linux-x64/native/libhybridseq.so", "application runtimes folder",
                "libgomp.so.1: cannot open shared object file: No such file or directory"),
            new LoadAttempt("hybridseq", "default search",
                "libhybridseq.so: cannot open shared object file: No such file or directory"),
        };
        string message = NativeLoadDiagnosis.Describe(attempts);
        Assert.That(message, Does.StartWith(
            "Could not load the HybridSeq native library libhybridseq.so: libgomp (GCC's OpenMP runtime) is not " +
            "installed: libgomp.so.1 not found (Debian/Ubuntu: apt-get install libgomp1)."));
        Assert.That(message, Does.Not.Contain(NativeLoadDiagnosis.RuntimePackage));
    }

    [Test]
    public void NullArgumentsAreRefusedByName()
    {
        Assert.That(() => NativeLoadDiagnosis.MissingRequirement(null!),
            Throws.ArgumentNullException.With.Property("ParamName").EqualTo("loaderError"));
        Assert.That(() => NativeLoadDiagnosis.Describe(null!),
            Throws.ArgumentNullException.With.Property("ParamName").EqualTo("attempts"));
    }
}
