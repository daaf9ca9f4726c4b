using System.ComponentModel;
using System.Globalization;
using HybridSeq.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>
/// `hybridseq train`: trains a Mamba language model on selective copying and prints its held-out token accuracy.
/// The defaults are sized to reach the target in a few minutes on a 2-core CPU.
/// </summary>
public sealed class TrainCommand(IAnsiConsole console) : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        private static readonly TrainingOptions DefaultTraining = new();
        private static readonly SelectiveCopyingTask DefaultTask = new();

        [CommandOption("--device <DEVICE>")]
        [Description(DeviceOption.Description)]
        [DefaultValue("cpu")]
        public string Device { get; init; } = "cpu";

        [CommandOption("--steps <N>")]
        [Description("Maximum optimizer steps.")]
        public int Steps { get; init; } = DefaultTraining.Steps;

        [CommandOption("--seed <N>")]
        [Description("Seeds the weights, the training batches and the held-out set.")]
        public int Seed { get; init; } = DefaultTraining.Seed;

        [CommandOption("--out <DIR>")]
        [Description("Folder for the checkpoint (model.ckpt) and the curve (training-curve.png).")]
        public string Out { get; init; } = Path.Combine(".", "runs", "selective-copying");

        [CommandOption("--layers <N>")]
        [Description("Mamba layers.")]
        public int Layers { get; init; } = 2;

        [CommandOption("--d-model <N>")]
        [Description("Model width d_model.")]
        public int DModel { get; init; } = 64;

        [CommandOption("--d-state <N>")]
        [Description("SSM state size N.")]
        public int DState { get; init; } = 16;

        [CommandOption("--seq-len <N>")]
        [Description("Tokens per example: noisy region + one marker per data token (the region is seq-len - data-tokens).")]
        public int SeqLen { get; init; } = DefaultTask.SequenceLength;

        [CommandOption("--data-tokens <N>")]
        [Description("Data tokens to copy per example (K).")]
        public int DataTokens { get; init; } = DefaultTask.DataTokenCount;

        [CommandOption("--data-vocab <N>")]
        [Description("Distinct data tokens.")]
        public int DataVocab { get; init; } = DefaultTask.DataVocabulary;

        [CommandOption("--batch-size <N>")]
        [Description("Examples per step.")]
        public int BatchSize { get; init; } = DefaultTraining.BatchSize;

        [CommandOption("--lr <RATE>")]
        [Description("Peak learning rate (AdamW).")]
        public double LearningRate { get; init; } = DefaultTraining.LearningRate;

        [CommandOption("--warmup <N>")]
        [Description("Linear warm-up steps.")]
        public int Warmup { get; init; } = DefaultTraining.WarmupSteps;

        [CommandOption("--eval-every <N>")]
        [Description("Evaluate and checkpoint every N steps.")]
        public int EvalEvery { get; init; } = DefaultTraining.EvalEvery;

        [CommandOption("--early-stop <PERCENT>")]
        [Description("Stop once held-out token accuracy reaches this percentage (above 100: never).")]
        public double EarlyStop { get; init; } = 100 * DefaultTraining.EarlyStopAccuracy;

        [CommandOption("--target <PERCENT>")]
        [Description("Accuracy the run must reach; below it the exit code is 2.")]
        public double Target { get; init; } = 90;

        public override ValidationResult Validate()
        {
            if (DeviceOption.Validate(Device) is string deviceError) return ValidationResult.Error(deviceError);
            (bool Ok, string Message)[] checks =
            [
                (Steps > 0, $"--steps must be a positive integer, got {Steps}."),
                (Layers > 0, $"--layers must be a positive integer, got {Layers}."),
                (DModel > 0, $"--d-model must be a positive integer, got {DModel}."),
                (DState > 0, $"--d-state must be a positive integer, got {DState}."),
                (DataTokens > 0, $"--data-tokens must be a positive integer, got {DataTokens}."),
                (DataVocab > 0, $"--data-vocab must be a positive integer, got {DataVocab}."),
                (SeqLen >= 2 * DataTokens,
                    $"--seq-len must be at least 2 x --data-tokens = {2 * DataTokens} (a region of at least K tokens, then K markers), got {SeqLen}."),
                (BatchSize > 0, $"--batch-size must be a positive integer, got {BatchSize}."),
                (LearningRate > 0 && double.IsFinite(LearningRate), $"--lr must be a positive number, got {LearningRate}."),
                (Warmup >= 0, $"--warmup must be zero or more, got {Warmup}."),
                (EvalEvery > 0, $"--eval-every must be a positive integer, got {EvalEvery}."),
                (EarlyStop > 0, $"--early-stop must be a positive percentage, got {EarlyStop}."),
                (Target >= 0 && Target <= 100, $"--target must be a percentage in [0, 100], got {Target}."),
            ];
            foreach (var (ok, message) in checks)
                if (!ok) return ValidationResult.Error(message);
            return ValidationResult.Success();
        }

        public SelectiveCopyingTask Task => new(SeqLen - DataTokens, DataTokens, DataVocab);

        public MambaConfig Model => new(Task.VocabularySize, DModel, Layers, DState);

        public TrainingOptions Training => DefaultTraining with
        {
            Steps = Steps,
            Seed = Seed,
            BatchSize = BatchSize,
            LearningRate = LearningRate,
            MinimumLearningRate = Math.Min(DefaultTraining.MinimumLearningRate, LearningRate),
            WarmupSteps = Warmup,
            EvalEvery = EvalEvery,
            EarlyStopAccuracy = EarlyStop / 100,
        };
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var device = DeviceOption.Resolve(settings.Device);
        var task = settings.Task;
        var options = settings.Training;
        using var trainer = new Trainer(settings.Model, task, options, device);
        long parameters = trainer.Model.parameters().Sum(p => p.numel());
        console.MarkupLineInterpolated(
            $"Mamba: {settings.Layers} layers, d_model {settings.DModel}, N {settings.DState}, {parameters:N0} parameters, on {device.type}");
        console.MarkupLineInterpolated(
            $"Selective copying: {task.DataTokenCount} data tokens (vocabulary {task.DataVocabulary}) in a region of {task.RegionLength}, sequence {task.SequenceLength}; batch {options.BatchSize}, up to {options.Steps} steps, seed {options.Seed}");

        TrainingResult result = null!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(), new ElapsedTimeColumn())
            .Start(progressContext =>
            {
                var bar = progressContext.AddTask("training", maxValue: options.Steps);
                result = trainer.Run(settings.Out, progress =>
                {
                    bar.Value = progress.Step;
                    bar.Description = string.Create(CultureInfo.InvariantCulture,
                        $"step {progress.Step}/{progress.TotalSteps}  loss {progress.Loss:F4}  {progress.TokensPerSecond / 1000:F1}k tok/s");
                    if (progress.EvalAccuracy is double accuracy)
                        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                            $"step {progress.Step,5}: loss {progress.Loss:F4}, lr {progress.LearningRate:E2}, held-out accuracy {100 * accuracy:F1}%");
                }, cancellationToken);
                bar.Value = bar.MaxValue;
            });

        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"{result.Steps} steps in {result.Elapsed.TotalSeconds:F0} s{(result.StoppedEarly ? " (stopped early)" : "")}; checkpoint {result.CheckpointPath}, curve {result.CurvePath}");
        bool reached = 100 * result.HeldOutAccuracy >= settings.Target;
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"held-out token accuracy: {100 * result.HeldOutAccuracy:F1}% (target {settings.Target:0.#}%)");
        return reached ? HybridSeqApp.ExitSuccess : HybridSeqApp.ExitBelowTarget;
    }
}
