using System.Globalization;
using System.ComponentModel;
using HybridSeq.Models;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>`hybridseq eval --checkpoint FILE`: the held-out metrics of a trained model of any family on its task
/// (token tasks: token accuracy by the full forward and by step-mode greedy decoding), at every evaluation size of
/// the task, on the held-out sets the training run evaluated. Loads the model only (no trainer, no optimizer).</summary>
public sealed class EvalCommand(IAnsiConsole console) : Command<EvalCommand.Settings>
{
    public sealed class Settings : CheckpointSettings
    {
        [CommandOption("--beam <B>")]
        [Description("Pointer and seq2seq tasks: after greedy decoding, evaluate again with beam search of width B (pointer tasks: under the task's constraint, never point twice, only valid continuations); 1: greedy only.")]
        [DefaultValue(5)]
        public int Beam { get; init; } = 5;

        public override ValidationResult Validate()
        {
            if (Beam < 1) return ValidationResult.Error($"--beam must be a positive integer, got {Beam}.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
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
                $"{TrainCommand.Describe(task)}; {metadata.Options.EvalExamples} held-out examples{TrainCommand.DescribeAnswers(task)} {(task is ISequenceTask ? "at the training length" : "of the training distribution")}");
            var sizes = evaluator.AllSizes();
            if (task.Kind == TaskKinds.Pointer)
                console.MarkupLine("greedy decoding (unconstrained: what the network itself points at):");
            TrainCommand.WriteLengthTable(console, task, sizes);
            // The other metrics first, the primary one last (token tasks: step-mode, then the held-out accuracy).
            for (int i = 1; i <= task.Metrics.Count; i++)
            {
                int index = i % task.Metrics.Count;
                var metric = task.Metrics[index];
                string prefix = index == 0 ? "held-out " : "";
                console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"{prefix}{metric.Description}: {metric.FormatValue(sizes[0].Value(metric.Name))}");
            }
            if (task.Kind is TaskKinds.Pointer or TaskKinds.Seq2Seq && settings.Beam > 1)
            {
                // The papers' decoding: beam search (restricted to valid outputs for pointer tasks).
                console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"{(task.Kind == TaskKinds.Pointer ? "constrained " : "")}beam search, width {settings.Beam}:");
                TrainCommand.WriteLengthTable(console, task, evaluator.AllSizes(new EvaluationOptions(BeamSize: settings.Beam)));
            }
            return HybridSeqApp.ExitSuccess;
        }
    }
}
