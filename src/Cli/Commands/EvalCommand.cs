using System.Globalization;
using HybridSeq.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>`hybridseq eval --checkpoint FILE`: held-out token accuracy of a trained model, by the full forward and
/// by step-mode greedy decoding, on the held-out set the training run evaluated.</summary>
public sealed class EvalCommand(IAnsiConsole console) : Command<CheckpointSettings>
{
    public override int Execute(CommandContext context, CheckpointSettings settings, CancellationToken cancellationToken)
    {
        using var trainer = Trainer.LoadCheckpoint(settings.Checkpoint, DeviceOption.Resolve(settings.Device));
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"checkpoint {settings.Checkpoint}: step {trainer.CompletedSteps}, {trainer.Options.EvalExamples} held-out examples of {trainer.Task.DataTokenCount} answer tokens");
        double fullForward = trainer.EvaluateAccuracy();
        double stepMode = trainer.EvaluateStepModeAccuracy();
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"step-mode greedy decoding accuracy: {100 * stepMode:F1}%");
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"held-out token accuracy: {100 * fullForward:F1}%");
        return HybridSeqApp.ExitSuccess;
    }
}
