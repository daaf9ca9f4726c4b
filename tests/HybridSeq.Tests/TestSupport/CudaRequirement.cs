using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;

namespace HybridSeq.Tests.TestSupport;

/// <summary>Guards CUDA tests: without a usable GPU (in our library AND in TorchSharp) the test is reported as
/// Ignored (skipped), never as passed.</summary>
public static class CudaRequirement
{
    /// <summary>Calls Assert.Ignore with the reason unless both HybridSeq and TorchSharp see a CUDA device.</summary>
    public static void EnsureAvailable()
    {
        int devices = Native.CudaDeviceCount;
        if (devices == 0)
            Assert.Ignore($"No CUDA device for HybridSeq ({Native.VersionString}): {Native.CudaUnavailableReason}");
        bool torchCuda;
        try
        {
            torch.InitializeDeviceType(DeviceType.CUDA);
            torchCuda = torch.cuda.is_available();
        }
        catch (Exception e) when (e is not IgnoreException)
        {
            // The CPU-only libtorch package throws here; that means "no CUDA for TorchSharp", reported as the reason.
            Assert.Ignore($"HybridSeq sees {devices} CUDA device(s) but TorchSharp cannot use CUDA: {e.Message}");
            return;
        }
        if (!torchCuda)
            Assert.Ignore($"HybridSeq sees {devices} CUDA device(s) but torch.cuda.is_available() is false " +
                          "(a CPU-only libtorch is loaded).");
    }
}
