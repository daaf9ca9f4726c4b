using System.Text.RegularExpressions;
using HybridSeq.Bindings;
using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;

namespace HybridSeq.Tests.Managed.Interop;

[TestFixture]
public sealed class NativeLoadingTests
{
    [Test]
    public void LoadFindsTheLibraryAndItsApiVersionMatches()
    {
        Native.Load();
        Native.Load(); // cheap and harmless the second time
        Assert.That(Native.LoadedPath, Is.Not.Null.And.Not.Empty);
        Assert.That(Native.ApiVersion, Is.EqualTo((int)hs_constants.HS_API_VERSION));
    }

    [Test]
    public void VersionStringHasTheDocumentedForm()
    {
        Assert.That(Native.VersionString, Does.Match(@"^\d+\.\d+\.\d+ \((cpu|cuda [^)]+)\)$"));
        // The string says cuda exactly when the library says it was built with CUDA.
        Assert.That(Native.VersionString.Contains("(cuda"), Is.EqualTo(Native.CudaCompiled));
    }

    [Test]
    public void CudaQueriesAreConsistent()
    {
        int devices = Native.CudaDeviceCount;
        Assert.That(devices, Is.GreaterThanOrEqualTo(0));
        if (devices == 0)
            Assert.That(Native.CudaUnavailableReason, Is.Not.Empty, "no device, so a reason is expected");
        else
            Assert.That(Native.GetDeviceInfo(0).Name, Is.Not.Empty);
    }

    [Test]
    public void LoadingFromManyThreadsAtOnceIsSafe()
    {
        int[] versions = new int[8];
        Parallel.For(0, versions.Length, i => versions[i] = Native.ApiVersion);
        Assert.That(versions, Is.All.EqualTo((int)hs_constants.HS_API_VERSION));
    }

    /// <summary>The Debian 12 fix (build/TorchSharpGlibcxxFix.targets) lets libLibTorchSharp.so load here.</summary>
    [Test]
    public void TorchSharpLoadsAndComputes()
    {
        Assert.That(torch.ones(2).sum().item<float>(), Is.EqualTo(2f));
    }
}
