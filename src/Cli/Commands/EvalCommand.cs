using System.Globalization;
using HybridSeq.Models.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>`hybridseq eval --checkpoint FILE`: the held-out metrics of a trained model of any family on its task
/// (token tasks: token accuracy by the full forward and by step-mode greedy decoding), at every evaluation size of
/// the task, on the held-out sets the training run evaluated. Loads the model only (no trainer, no optimizer).</summary>
public sealed class EvalCommand(IAnsiConsole console) : Command<CheckpointSettings>
{
    public override int Execute(CommandContext context, CheckpointSettings settings, CancellationToken cancellationToken)
    {
        var device = DeviceOption.Resolve(settings.Device);
        var (metadata, model) = RunCheckpoint.LoadModel(settings.Checkpoint, device);
        using (model)
        {
            var task = metadata.ReadTask();
            var evaluator = new TaskEvaluator(model, task, metadata.Options);
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"checkpoint {settings.Checkpoint}: {TrainCommand.Describe(model.Config)}; step {metadata.CompletedSteps}");
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"{TrainCommand.Describe(task)}; {metadata.Options.EvalExamples} held-out examples{TrainCommand.DescribeAnswers(task)} at the training {task.SizeName}");
            var sizes = evaluator.AllSizes();
            TrainCommand.WriteLengthTable(console, task, sizes);
            // The other metrics first, the primary one last (token tasks: step-mode, then the held-out accuracy).
            for (int i = task.Metrics.Count - 1; i >= 0; i--)
            {
                int index = (i + 1) % task.Metrics.Count;
                var metric = task.Metrics[index];
                string prefix = index == 0 ? "held-out " : "";
                console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"{prefix}{metric.Description}: {metric.FormatValue(sizes[0].Value(metric.Name))}");
            }
            return HybridSeqApp.ExitSuccess;
        }
    }
}
