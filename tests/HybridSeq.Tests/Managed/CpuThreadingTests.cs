using System.Runtime.InteropServices;
using HybridSeq.Managed;
using NUnit.Framework;

namespace HybridSeq.Tests.Managed;

/// <summary>The managed side of the CPU thread policy: the explicit count reaches the native kernels' policy and
/// comes back, bad counts are refused, and the loader leaves a bounded spin policy in the C environment (unless
/// the user chose one). The policy's rules themselves are tested natively (native/tests/test_thread_policy.cpp).
/// </summary>
[TestFixture]
[NonParallelizable]  // the explicit count is process-wide
public sealed partial class CpuThreadingTests
{
    [TearDown]
    public void BackToAutomatic() => CpuThreading.ThreadCount = 0;

    [Test]
    public void ExplicitCountWinsAndZeroReturnsToAutomatic()
    {
        int automatic = CpuThreading.ThreadCount;
        Assert.That(automatic, Is.InRange(1, 4096));
        CpuThreading.ThreadCount = 1;
        Assert.That(CpuThreading.ThreadCount, Is.EqualTo(1));
        CpuThreading.ThreadCount = 7;
        Assert.That(CpuThreading.ThreadCount, Is.EqualTo(7), "more threads than CPUs is the user's choice");
        CpuThreading.ThreadCount = 0;
        Assert.That(CpuThreading.ThreadCount, Is.EqualTo(automatic));
    }

    [Test]
    public void AutomaticCountRespectsTheProcessAffinity()
    {
        if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is { Length: > 0 } ||
            Environment.GetEnvironmentVariable(CpuThreading.ThreadsVariable) is { Length: > 0 } ||
            Environment.GetEnvironmentVariable("DOTNET_PROCESSOR_COUNT") is { Length: > 0 })
            Assert.Ignore("OMP_NUM_THREADS, HYBRIDSEQ_NUM_THREADS or DOTNET_PROCESSOR_COUNT is set");
        // .NET's ProcessorCount is the CPUs of the affinity mask (and of the cgroup quota).
        Assert.That(CpuThreading.ThreadCount, Is.InRange(1, Environment.ProcessorCount));
    }

    [Test]
    public void BadCountsAreRefusedWithTheirName()
    {
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => CpuThreading.ThreadCount = -1)!;
        Assert.That(negative.ParamName, Is.EqualTo(nameof(CpuThreading.ThreadCount)));
        Assert.That(negative.Message, Does.Contain("-1"));
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuThreading.ThreadCount = 5000);
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuThreading.SetThreadCountEverywhere(0));
        Assert.That(CpuThreading.ThreadCount, Is.GreaterThanOrEqualTo(1), "a refused value changes nothing");
    }

    [Test]
    public void LoaderLeavesABoundedSpinPolicyInTheNativeEnvironment()
    {
        Native.Load();
        // The managed environment is the one the process started with (on Unix .NET copies it at start-up and
        // never sees setenv), i.e. what the user chose.
        string? userSpin = Environment.GetEnvironmentVariable(CpuThreading.SpinCountVariable);
        string? userPolicy = Environment.GetEnvironmentVariable(CpuThreading.WaitPolicyVariable);
        string? nativeSpin = NativeGetenv(CpuThreading.SpinCountVariable);
        if (string.IsNullOrEmpty(userSpin) && string.IsNullOrEmpty(userPolicy))
            Assert.That(nativeSpin, Is.EqualTo(CpuThreading.DefaultSpinCount));
        else
            Assert.That(nativeSpin, Is.EqualTo(userSpin), "the user's choice is left alone");
        Assert.That(CpuThreading.ApplyWaitPolicyDefault(), Is.False, "applied once per process");
    }

    private static string? NativeGetenv(string name) => Marshal.PtrToStringUTF8(getenv(name));

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr getenv(string name);
}
