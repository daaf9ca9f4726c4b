using System.Reflection;
using HybridSeq.Managed;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;

namespace HybridSeq.Cli.Commands;

/// <summary>`hybridseq info`: what is installed and usable. Exit 1 when libhybridseq or libtorch cannot be loaded.</summary>
public sealed class InfoCommand(IAnsiConsole console) : Command<InfoCommand.Settings>
{
    public sealed class Settings : CommandSettings;

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var grid = new Grid().AddColumn().AddColumn();
        void Row(string name, string value) => grid.AddRow(new Text(name), new Text(value));

        Row("HybridSeq", InformationalVersion(typeof(InfoCommand).Assembly));
        int exitCode = HybridSeqApp.ExitSuccess;
        try
        {
            Row("native library", Native.VersionString);
            Row("native path", Native.LoadedPath ?? "");
            Row("CUDA compiled", Native.CudaCompiled ? "yes" : "no");
            int count = Native.CudaDeviceCount;
            Row("scan backends", count > 0 ? "cpu, cuda" : "cpu");
            Row("CUDA devices", count > 0 ? count.ToString() : $"0 ({Native.CudaUnavailableReason})");
            for (int i = 0; i < count; i++)
            {
                var device = Native.GetDeviceInfo(i);
                Row($"  device {i}", $"{device.Name}, sm_{device.ComputeMajor}{device.ComputeMinor}, " +
                    $"{device.MultiprocessorCount} SMs, {device.TotalMemoryBytes / (1L << 20)} MiB");
            }
        }
        catch (HybridSeqException e)
        {
            Row("native library", $"not loaded: {e.Message}");
            exitCode = HybridSeqApp.ExitError;
        }
        Row("TorchSharp", InformationalVersion(typeof(torch).Assembly));
        try
        {
            Row("torch.cuda.is_available()", torch.cuda.is_available() ? "true" : "false");
        }
        catch (TypeInitializationException e)
        {
            // libtorch / LibTorchSharp failed to load: show the loader's first line, not its multi-page trace.
            string reason = (e.InnerException ?? e).Message.Split('\n')[0];
            Row("torch.cuda.is_available()", $"unknown: TorchSharp's native libraries did not load ({reason})");
            exitCode = HybridSeqApp.ExitError;
        }
        console.Write(grid);
        return exitCode;
    }

    private static string InformationalVersion(Assembly assembly)
    {
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
        // Drop the "+<commit>" suffix that SourceLink appends; the version is what users compare.
        int plus = version.IndexOf('+');
        return plus < 0 ? version : version[..plus];
    }
}
