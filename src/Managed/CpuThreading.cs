using System.Runtime.InteropServices;
using HybridSeq.Bindings;

namespace HybridSeq.Managed;

/// <summary>How HybridSeq's CPU kernels (and, when applied early enough, libtorch's) use the cores of a machine that
/// other processes share.</summary>
/// <remarks>
/// <para>Both OpenMP pools in a HybridSeq process (the system libgomp that libhybridseq.so links, and the copy bundled
/// with libtorch) spin while they wait for work or at a barrier: by default for 300,000 rounds, milliseconds. When
/// another process keeps a core busy, a spinning pool keeps that core's competitor and its own descheduled team member
/// off the CPU, and a kernel that meets at a barrier every time step (the recurrence) then waits a scheduler time
/// slice per step. libgomp reads its wait settings from the environment once, when it is loaded, so
/// <see cref="ApplyWaitPolicyDefault"/> must run before libhybridseq.so (for HybridSeq's pool) and libtorch (for
/// TorchSharp's pool) are loaded. <see cref="Native.Load"/> calls it before it loads libhybridseq.so; the
/// <c>hybridseq</c> command line calls it first thing, before any TorchSharp call. A library user who wants the same
/// for libtorch's pool calls <c>CpuThreading.ApplyWaitPolicyDefault()</c> at the start of <c>Main</c>, or sets
/// <c>GOMP_SPINCOUNT</c> / <c>OMP_WAIT_POLICY</c> in the environment before the process starts.</para>
/// <para>The team size of HybridSeq's kernels is chosen natively (see <c>hs_set_num_threads</c> in hybridseq.h):
/// the CPUs of the affinity mask and the cgroup quota by default, fewer for the recurrence when other processes are
/// running; <see cref="ThreadCount"/>, <c>HYBRIDSEQ_NUM_THREADS</c> or <c>OMP_NUM_THREADS</c> override it, and
/// <c>HYBRIDSEQ_ADAPTIVE_THREADS=0</c> turns the per-call adaptation off. libtorch's own count is
/// <c>torch.set_num_threads</c>; <see cref="SetThreadCountEverywhere"/> sets both.</para>
/// </remarks>
public static partial class CpuThreading
{
    /// <summary>libgomp's spin budget before a waiting thread sleeps (rounds of a pause instruction).</summary>
    public const string SpinCountVariable = "GOMP_SPINCOUNT";
    /// <summary>The standard OpenMP wait policy (ACTIVE / PASSIVE); when it is set, no default is applied.</summary>
    public const string WaitPolicyVariable = "OMP_WAIT_POLICY";
    /// <summary>Fixes the thread count of HybridSeq's kernels (read once, at the first kernel call).</summary>
    public const string ThreadsVariable = "HYBRIDSEQ_NUM_THREADS";
    /// <summary>0 turns off the per-call team size of the recurrence kernels (read once).</summary>
    public const string AdaptiveVariable = "HYBRIDSEQ_ADAPTIVE_THREADS";

    /// <summary>The spin budget <see cref="ApplyWaitPolicyDefault"/> sets: about 0.3 ms at the 30 ns a pause round
    /// takes on current x86 cores, an order of magnitude longer than a thread of the recurrence waits at a step's
    /// barrier on an idle machine, and thirty times shorter than libgomp's default (docs/benchmarks.md).</summary>
    public const string DefaultSpinCount = "10000";

    private static readonly Lock Gate = new();
    private static bool applied;

    /// <summary>Sets <c>GOMP_SPINCOUNT</c> to <see cref="DefaultSpinCount"/> in the native environment of the process
    /// unless the user has set <c>GOMP_SPINCOUNT</c> or <c>OMP_WAIT_POLICY</c>. Affects the OpenMP pools loaded after
    /// this call only. Returns true when it set the variable. Idempotent and thread-safe; a no-op off Linux.</summary>
    public static bool ApplyWaitPolicyDefault()
    {
        if (!OperatingSystem.IsLinux())
            return false;
        lock (Gate)
        {
            if (applied)
                return false;
            applied = true;
            if (IsSetInNativeEnvironment(SpinCountVariable) || IsSetInNativeEnvironment(WaitPolicyVariable))
                return false;
            // .NET's Environment.SetEnvironmentVariable changes only the runtime's managed copy on Unix; libgomp
            // reads the C library's environment.
            if (LibC.setenv(SpinCountVariable, DefaultSpinCount, 0) != 0)
                return false;  // ENOMEM: the pools keep libgomp's default, which is slower under contention only
            return true;
        }
    }

    /// <summary>The thread count HybridSeq's CPU kernels use on an idle machine (the recurrence may use fewer when
    /// other processes are running). Setting a value from 1 fixes the count of every kernel and turns the
    /// adaptation off; 0 returns to the environment's choice. Process-wide.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value below 0 or above 4096.</exception>
    public static int ThreadCount
    {
        get
        {
            Native.Load();
            int threads;
            unsafe
            {
                Native.Check(NativeMethods.hs_get_num_threads(&threads));
            }
            return threads;
        }
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(ThreadCount));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 4096, nameof(ThreadCount));
            Native.Load();
            Native.Check(NativeMethods.hs_set_num_threads(value));
        }
    }

    /// <summary>Sets HybridSeq's thread count (<see cref="ThreadCount"/>) and libtorch's intra-op count
    /// (<c>torch.set_num_threads</c>) to the same value, for a process that shares the machine.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value below 1 or above 4096.</exception>
    public static void SetThreadCountEverywhere(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threads, 4096);
        ThreadCount = threads;
        TorchSharp.torch.set_num_threads(threads);
    }

    private static bool IsSetInNativeEnvironment(string name)
    {
        IntPtr value = LibC.getenv(name);
        return value != IntPtr.Zero && Marshal.ReadByte(value) != 0;
    }

    private static partial class LibC
    {
        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int setenv(string name, string value, int overwrite);

        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial IntPtr getenv(string name);
    }
}
