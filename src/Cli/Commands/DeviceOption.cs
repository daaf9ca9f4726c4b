using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Cli.Commands;

/// <summary>Parses and checks the --device option shared by the commands.</summary>
internal static class DeviceOption
{
    public const string Description = "cpu or cuda";

    /// <summary>The error text for a value that is neither cpu nor cuda; null when the value is valid.</summary>
    public static string? Validate(string value) =>
        value is "cpu" or "cuda" ? null : $"--device must be 'cpu' or 'cuda', got '{value}'.";

    /// <summary>
    /// The torch device for a validated value. CUDA needs both a CUDA build of libhybridseq with a visible device
    /// (the scan kernels) and a CUDA build of libtorch (the rest of the model); a missing one is reported by name.
    /// </summary>
    public static Device Resolve(string value)
    {
        if (value == "cpu") return CPU;
        if (!Native.CudaCompiled)
            throw new InvalidOperationException(
                "--device cuda: this libhybridseq was built without CUDA kernels; use --device cpu or a CUDA build.");
        if (Native.CudaDeviceCount == 0)
            throw new InvalidOperationException(
                $"--device cuda: no usable CUDA device ({Native.CudaUnavailableReason}); use --device cpu.");
        if (!torch.cuda.is_available())
            throw new InvalidOperationException(
                "--device cuda: TorchSharp's libtorch has no CUDA support here (a CPU-only libtorch is loaded); use --device cpu.");
        return CUDA;
    }
}
