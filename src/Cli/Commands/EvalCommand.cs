using System.Globalization;
using HybridSeq.Models.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>`hybridseq eval --checkpoint FILE`: held-out token accuracy of a trained model of any family on its task,
/// by the full forward and by step-mode greedy decoding, at every evaluation length of the task, on the held-out sets
/// the training run evaluated. Loads the model only (no trainer, no optimizer).</summary>
public sealed class EvalCommand(IAnsiConsole console) : Command<CheckpointSettings>
{
    public override int Execute(CommandContext context, CheckpointSettings settings, CancellationToken cancellationToken)
    {
        var device = DeviceOption.Resolve(settings.Device);
        var (metadata, model) = RunCheckpoint.LoadModel(settings.Checkpoint, device);
        using (model)
        {
            var task = metadata.ReadTask();
            var evaluator = new TaskEvaluator(model, task, metadata.Options, device);
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"checkpoint {settings.Checkpoint}: {TrainCommand.Describe(model.Config)}; step {metadata.CompletedSteps}");
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"{TrainCommand.Describe(task)}; {metadata.Options.EvalExamples} held-out examples of {task.AnswerLength} answer tokens at the training length");
            var lengths = evaluator.AllLengths();
            TrainCommand.WriteLengthTable(console, lengths, task.SequenceLength);
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"step-mode greedy decoding accuracy: {100 * lengths[0].StepMode:F1}%");
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"held-out token accuracy: {100 * lengths[0].FullForward:F1}%");
            return HybridSeqApp.ExitSuccess;
        }
    }
}
