using System.ComponentModel;
using System.Globalization;
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
        [Description("Tasks scored by decoding. seq2seq: beam search with B beams instead of greedy decoding (default 1: greedy). Pointer tasks: after greedy decoding, again with beam search of width B under the task's constraint, never pointing twice and only valid continuations (default 5; 1: greedy only).")]
        public int? Beam { get; init; }

        public override ValidationResult Validate()
        {
            if (Beam is < 1 or > 256) return ValidationResult.Error($"--beam must be in [1, 256], got {Beam}.");
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
            if (settings.Beam is > 1 && task is ISequenceTask)
                throw new ArgumentException("--beam applies to tasks scored by decoding (seq2seq, pointer tasks); token tasks are scored at their answer positions.");
            // Pointer tasks: greedy first (the network alone), the constrained beam search after the summary.
            bool pointer = task.Kind == TaskKinds.Pointer;
            var sizes = evaluator.AllSizes(new EvaluationOptions(BeamSize: pointer ? 1 : settings.Beam ?? 1));
            if (pointer)
                console.MarkupLine("greedy decoding (unconstrained: what the network itself points at):");
            else if (settings.Beam is > 1)
                console.MarkupLineInterpolated($"decoding: beam search, {settings.Beam} beams");
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
            int pointerBeam = settings.Beam ?? 5;
            if (pointer && pointerBeam > 1)
            {
                // The paper's decoding: beam search restricted to valid outputs.
                console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"constrained beam search, width {pointerBeam}:");
                TrainCommand.WriteLengthTable(console, task, evaluator.AllSizes(new EvaluationOptions(BeamSize: pointerBeam)));
            }
            return HybridSeqApp.ExitSuccess;
        }
    }
}
