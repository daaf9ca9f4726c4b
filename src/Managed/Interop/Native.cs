using System.Runtime.InteropServices;
using HybridSeq.Bindings;

namespace HybridSeq.Managed;

/// <summary>Description of one CUDA device as the native library sees it.</summary>
public sealed record CudaDeviceInfo(
    int Index, string Name, int ComputeMajor, int ComputeMinor, int MultiprocessorCount,
    long TotalMemoryBytes, long FreeMemoryBytes);

/// <summary>Loading of libhybridseq.so, library/device queries, and the status-to-exception mapping.</summary>
public static unsafe class Native
{
    /// <summary>Environment variable naming libhybridseq.so or the folder that holds it; searched first.</summary>
    public const string PathEnvironmentVariable = "HYBRIDSEQ_NATIVE_PATH";

    private const string LibraryFileName = "libhybridseq.so";
    // The name the generated [LibraryImport]s ask for.
    private const string ImportName = NativeMethods.LibraryName;

    private static readonly Lock LoadGate = new();
    private static volatile bool loaded;
    private static bool resolverRegistered;
    private static IntPtr libraryHandle;

    /// <summary>The file that was loaded (null until <see cref="Load"/> succeeded).</summary>
    public static string? LoadedPath { get; private set; }

    /// <summary>Loads libhybridseq.so and checks its API version. Every public entry point calls this; after the
    /// first success it costs one volatile read. Thread-safe. Throws <see cref="HybridSeqLoadException"/> listing
    /// every path tried with the loader's error for each.</summary>
    public static void Load()
    {
        if (loaded)
            return;
        lock (LoadGate)
        {
            if (loaded)
                return;
            if (!resolverRegistered)
            {
                // The resolver can be set only once per assembly; it hands out whatever handle Load found, so a
                // failed first attempt (library not built yet) can be retried later in the same process.
                NativeLibrary.SetDllImportResolver(typeof(NativeMethods).Assembly, ResolveImport);
                resolverRegistered = true;
            }
            CpuThreading.ApplyWaitPolicyDefault();  // libgomp reads it when the library below loads it
            (IntPtr handle, string path) = FindAndLoadLibrary();
            libraryHandle = handle;
            LoadedPath = path;
            int libraryVersion = NativeMethods.hs_api_version();
            if (libraryVersion != (int)hs_constants.HS_API_VERSION)
            {
                libraryHandle = IntPtr.Zero;
                LoadedPath = null;
                NativeLibrary.Free(handle);
                throw new HybridSeqLoadException(
                    $"{path} implements HybridSeq C API version {libraryVersion}, but this managed layer was built " +
                    $"for version {(int)hs_constants.HS_API_VERSION}. Rebuild the native library and the .NET " +
                    "projects from the same checkout (`dotnet pwsh ./build.ps1 build`).");
            }
            loaded = true;
        }
    }

    private static IntPtr ResolveImport(string libraryName, System.Reflection.Assembly assembly,
        DllImportSearchPath? searchPath)
        => libraryName == ImportName ? libraryHandle : IntPtr.Zero;

    /// <summary>The candidate files, in search order, with a label saying where each came from.</summary>
    private static List<(string Path, string Origin)> Candidates()
    {
        var candidates = new List<(string, string)>();
        string? fromEnvironment = Environment.GetEnvironmentVariable(PathEnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            string path = Directory.Exists(fromEnvironment)
                ? Path.Combine(fromEnvironment, LibraryFileName)
                : fromEnvironment;
            candidates.Add((path, $"${PathEnvironmentVariable}"));
        }
        string baseDirectory = AppContext.BaseDirectory;
        candidates.Add((Path.Combine(baseDirectory, "runtimes", "linux-x64", "native", LibraryFileName),
            "application runtimes folder"));
        candidates.Add((Path.Combine(baseDirectory, LibraryFileName), "application folder"));
        return candidates;
    }

    private static (IntPtr Handle, string Path) FindAndLoadLibrary()
    {
        var failures = new List<LoadAttempt>();
        foreach ((string path, string origin) in Candidates())
        {
            if (!File.Exists(path))
            {
                failures.Add(new LoadAttempt(path, origin, null));
                continue;
            }
            try
            {
                return (NativeLibrary.Load(path), path);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                failures.Add(new LoadAttempt(path, origin, e.Message));
            }
        }
        // Last: the platform's default search (LD_LIBRARY_PATH, ld.so.cache, deps.json probing).
        try
        {
            IntPtr handle = NativeLibrary.Load(ImportName, typeof(NativeMethods).Assembly, null);
            return (handle, $"{ImportName} (default search)");
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            failures.Add(new LoadAttempt(ImportName, "default search: LD_LIBRARY_PATH, system paths", e.Message));
        }
        throw new HybridSeqLoadException(NativeLoadDiagnosis.Describe(failures));
    }

    /// <summary>Maps the status of a library call that takes no user tensors (queries, device calls) to its typed
    /// exception; returns when it is HS_OK. The ops map their statuses through <see cref="NativeCall.Check"/>, which
    /// also names the caller's argument.</summary>
    public static void Check(hs_status status)
    {
        if (status != hs_status.HS_OK)
            throw NativeErrors.For(status, LastError());
    }

    /// <summary>hs_last_error() of the calling thread: the message of its last failed native call.</summary>
    internal static string LastError() => Utf8(NativeMethods.hs_last_error());

    /// <summary>"major.minor.patch (cpu|cuda version)" of the loaded library.</summary>
    public static string VersionString
    {
        get
        {
            Load();
            return Utf8(NativeMethods.hs_version_string());
        }
    }

    /// <summary>The C API version the loaded library implements (equal to HS_API_VERSION once loaded).</summary>
    public static int ApiVersion
    {
        get
        {
            Load();
            return NativeMethods.hs_api_version();
        }
    }

    /// <summary>True when the library was built with its CUDA kernels.</summary>
    public static bool CudaCompiled
    {
        get
        {
            Load();
            return NativeMethods.hs_cuda_compiled() != 0;
        }
    }

    /// <summary>Usable CUDA devices; 0 without a CUDA build, driver or device (see <see cref="CudaUnavailableReason"/>).</summary>
    public static int CudaDeviceCount
    {
        get
        {
            Load();
            int count;
            Check(NativeMethods.hs_cuda_device_count(&count));
            return count;
        }
    }

    /// <summary>Why CUDA is not usable; empty when it is.</summary>
    public static string CudaUnavailableReason
    {
        get
        {
            Load();
            return Utf8(NativeMethods.hs_cuda_unavailable_reason());
        }
    }

    public static CudaDeviceInfo GetDeviceInfo(int device)
    {
        Load();
        hs_device_info info;
        Check(NativeMethods.hs_cuda_device_info(device, &info));
        return new CudaDeviceInfo(device, Utf8(info.name), info.compute_major, info.compute_minor,
            info.multiprocessor_count, info.total_memory_bytes, info.free_memory_bytes);
    }

    /// <summary>Waits for all work on a CUDA device and reports any pending asynchronous error as an exception.</summary>
    public static void Synchronize(int device)
    {
        Load();
        Check(NativeMethods.hs_cuda_synchronize(device));
    }

    private static string Utf8(sbyte* text) => text == null ? "" : Marshal.PtrToStringUTF8((IntPtr)text) ?? "";
}
