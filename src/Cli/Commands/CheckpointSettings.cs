using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>Options of the commands that read a trained checkpoint.</summary>
public class CheckpointSettings : CommandSettings
{
    [CommandOption("--checkpoint <FILE>")]
    [Description("A model.ckpt written by `hybridseq train` (any model family and task). Required.")]
    public string Checkpoint { get; init; } = "";

    [CommandOption("--device <DEVICE>")]
    [Description(DeviceOption.Description)]
    [DefaultValue("cpu")]
    public string Device { get; init; } = "cpu";

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Checkpoint))
            return ValidationResult.Error("--checkpoint <FILE> is required (the model.ckpt that `hybridseq train` wrote).");
        if (!File.Exists(Checkpoint))
            return ValidationResult.Error($"--checkpoint: no file at '{Checkpoint}'.");
        if (DeviceOption.Validate(Device) is string deviceError) return ValidationResult.Error(deviceError);
        return ValidationResult.Success();
    }
}
