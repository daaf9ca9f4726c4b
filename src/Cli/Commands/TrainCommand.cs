using System.ComponentModel;
using System.Globalization;
using HybridSeq.Managed;
using HybridSeq.Models;
using HybridSeq.Models.Forecasting;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Pointer;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.Seq2Seq;
using HybridSeq.Models.StateSpace;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Tasks.Pointer;
using HybridSeq.Models.Tasks.Synthetic;
using HybridSeq.Models.Convolutional;
using HybridSeq.Models.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>
/// `hybridseq train [TASK] [--model FAMILY] ...`: trains a model of any family on any task of a kind the family
/// reads and prints the task's held-out metrics at every evaluation size of the task. The defaults of each task are sized to reach the
/// target in a few minutes on a 2-core CPU with the default Mamba. An output folder that already holds a checkpoint
/// is never overwritten silently: `--resume` continues that run, `--overwrite` replaces it.
/// </summary>
public sealed class TrainCommand(IAnsiConsole console) : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[TASK]")]
        [Description("The task: selective-copying, induction-heads, vanilla-copying (language models), reverse, sort, addition (seq2seq), ar-synthetic (arnet), convex-hull, delaunay, tsp, sort-numbers (pointer networks), adding, copy-memory, listops (every sequence family: mamba, lstm, gru, slstm, tcn, wavenet, tcnca, s4d, s4, lssl) (`hybridseq tasks` lists them). Default: selective-copying.")]
        public string? TaskName { get; init; }

        [CommandOption("--model <FAMILY>")]
        [Description("Model family: mamba, lstm, gru, slstm, tcn, wavenet, tcnca, s4d, s4 or lssl (token tasks), the same ten for adding, copy-memory and listops, seq2seq (reverse, sort, addition), ptrnet or rpw (pointer tasks). Default: mamba (token tasks, listops), seq2seq (reverse, sort, addition), ptrnet (convex-hull, delaunay, tsp), rpw (sort-numbers), tcn (adding, copy-memory).")]
        public string? Model { get; init; }

        [CommandOption("--device <DEVICE>")]
        [Description(DeviceOption.Description + ". Default: cpu.")]
        public string? Device { get; init; }

        [CommandOption("--steps <N>")]
        [Description("Maximum optimizer steps. Default: 2000 (selective-copying), 1500 (induction-heads), 1500 (reverse, sort, addition), 2000 (pointer tasks). With --resume: extends the run (the cosine schedule follows the new total).")]
        public int? Steps { get; init; }

        [CommandOption("--seed <N>")]
        [Description("Seeds the weights, the training batches and the held-out sets. Default: 1.")]
        public int? Seed { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Folder for the checkpoint (model.ckpt) and the curve (training-curve.png). Default: runs/<task> for mamba, runs/<task>-<model> otherwise.")]
        public string? Out { get; init; }

        [CommandOption("--resume")]
        [Description("Continue the run whose checkpoint is in --out (its model, task and options; same result as an uninterrupted run).")]
        public bool Resume { get; init; }

        [CommandOption("--overwrite")]
        [Description("Replace the checkpoint in --out by a new run (without it, an existing checkpoint is an error).")]
        public bool Overwrite { get; init; }

        [CommandOption("--layers <N>")]
        [Description("Layers (Mamba blocks, stacked RNN layers, S4 / S4D / LSSL residual blocks, ptrnet's encoder LSTM layers). Default: 2 (ptrnet: 1).")]
        public int? Layers { get; init; }

        [CommandOption("--d-model <N>")]
        [Description("Model width d_model (the RNNs' hidden size; seq2seq: the encoder's and decoder's hidden size; ptrnet / rpw: hidden and attention size). Default: 64; seq2seq, ptrnet, rpw 128.")]
        public int? DModel { get; init; }

        [CommandOption("--d-state <N>")]
        [Description("mamba, s4d, s4, lssl: SSM state size N (even for s4d and s4). Default: 16 (mamba), 64 (s4d), 32 (s4, lssl).")]
        public int? DState { get; init; }

        [CommandOption("--mixer <KIND>")]
        [Description("mamba only: the SSM inside the block: selective (Mamba's S6) or s4d (time-invariant S4D-Lin, the Mamba paper's LTI baseline; --d-state even). Default: selective.")]
        public string? Mixer { get; init; }

        [CommandOption("--heads <N>")]
        [Description("lstm, gru, slstm only: heads of the recurrent weights (must divide --d-model). Default: 1 (lstm, gru), 4 (slstm).")]
        public int? Heads { get; init; }

        [CommandOption("--seq-len <N>")]
        [Description("Training sequence length. selective-copying, vanilla-copying: region + one marker per data token, default 64; induction-heads: default 64; reverse, sort: the longest source, default 10; listops: the longest expression, default 256 (LRA: 1999).")]
        public int? SeqLen { get; init; }

        [CommandOption("--min-len <N>")]
        [Description("reverse, sort: the shortest source, default 3; listops: the shortest expression, default 64 (LRA: 501).")]
        public int? MinLen { get; init; }

        [CommandOption("--digits <N>")]
        [Description("addition only: the most digits of an operand (operands have 1..N digits). Default: 5.")]
        public int? Digits { get; init; }

        [CommandOption("--attention <KIND>")]
        [Description("seq2seq only: the decoder's attention over the encoder states: additive (Bahdanau), dot or general (Luong), none (Sutskever et al.). Default: additive.")]
        public string? Attention { get; init; }

        [CommandOption("--reverse-source")]
        [Description("seq2seq only: feed every source reversed (Sutskever et al.'s trick).")]
        public bool ReverseSource { get; init; }

        [CommandOption("--cell <CELL>")]
        [Description("seq2seq only: the encoder's and decoder's recurrent cell: lstm, gru or slstm. Default: lstm.")]
        public string? Cell { get; init; }

        [CommandOption("--data-tokens <N>")]
        [Description("selective-copying, vanilla-copying only: data tokens to copy per example (K). Default: 8.")]
        public int? DataTokens { get; init; }

        [CommandOption("--data-vocab <N>")]
        [Description("selective-copying, vanilla-copying only: distinct data tokens. Default: 8.")]
        public int? DataVocab { get; init; }

        [CommandOption("--max-depth <N>")]
        [Description("listops only: depth of the deepest digit of an expression tree (the root is depth 1). Default: 10 (LRA).")]
        public int? MaxDepth { get; init; }

        [CommandOption("--max-args <N>")]
        [Description("listops only: most arguments of one operator (2 or more). Default: 10 (LRA).")]
        public int? MaxArgs { get; init; }

        [CommandOption("--max-eval-len <N>")]
        [Description("induction-heads only: evaluate at seq-len, 4 x seq-len, 16 x seq-len, ... up to this length. Default: 1024.")]
        public int? MaxEvalLen { get; init; }

        [CommandOption("--lags <N>")]
        [Description("ar-synthetic only: the model's order P (known order: --lags = --ar-order; unknown: larger). Default: 20.")]
        public int? Lags { get; init; }

        [CommandOption("--ar-order <N>")]
        [Description("ar-synthetic only: the true order p of the generated AR process. Default: 3.")]
        public int? ArOrder { get; init; }

        [CommandOption("--samples <N>")]
        [Description("ar-synthetic only: training values of the generated series (the paper's small-data setting: 1000). Default: 1000.")]
        public int? Samples { get; init; }

        [CommandOption("--data-seed <N>")]
        [Description("ar-synthetic only: seeds the true coefficients and the noise of the series. Default: 0.")]
        public int? DataSeed { get; init; }

        [CommandOption("--sparsity <FRACTION>")]
        [Description("arnet only: expected fraction s of non-zero AR coefficients, 0 < s <= 1; turns on the sparse AR-Net regulariser (lambda = c * (1/s - 1), ramped in over the first half of the steps). Default: off.")]
        public double? Sparsity { get; init; }

        [CommandOption("--n-min <N>")]
        [Description("Pointer tasks only: smallest training set size n (sizes are drawn uniformly from [[--n-min, --n-max]]). Defaults: convex-hull 5, delaunay 5, tsp 5, sort-numbers 5.")]
        public int? NMin { get; init; }

        [CommandOption("--n-max <N>")]
        [Description("Pointer tasks only: largest training set size n. Defaults: convex-hull 10, delaunay 7, tsp 8, sort-numbers 5.")]
        public int? NMax { get; init; }

        [CommandOption("--eval-n <LIST>")]
        [Description("Pointer tasks only: comma-separated n evaluated on their own after training (inside and outside the training range), e.g. 5,10,20. Default: n-min, n-max and one larger n.")]
        public string? EvalN { get; init; }

        [CommandOption("--process-steps <P>")]
        [Description("rpw only: process steps P of read-process-write (0, 1, 5, 10 in the Order Matters paper). Default: 5.")]
        public int? ProcessSteps { get; init; }

        [CommandOption("--length <T>")]
        [Description("adding, copy-memory only: the sequence length T of the adding problem, the blank time T of copy memory (sequences of T + 20). Default: 200 (adding), 100 (copy-memory).")]
        public int? Length { get; init; }

        [CommandOption("--kernel-size <K>")]
        [Description("tcn, wavenet, tcnca only: the width K of the dilated causal convolutions. Default: 7 (tcn), 2 (wavenet), 4 (tcnca); without --layers, the layers are the fewest whose receptive field covers the sequence.")]
        public int? KernelSize { get; init; }

        [CommandOption("--dropout <P>")]
        [Description("tcn, wavenet, tcnca only: dropout after each convolution in training, in [[0, 1). Default: 0.")]
        public double? Dropout { get; init; }

        [CommandOption("--chunk-size <N>")]
        [Description("tcnca only: the attention chunk (a step attends to the earlier steps of its chunk). Default: 32.")]
        public int? ChunkSize { get; init; }

        [CommandOption("--batch-size <N>")]
        [Description("Examples per step. Default: 32 (token tasks), 64 (reverse, sort, addition), 128 (pointer tasks).")]
        public int? BatchSize { get; init; }

        [CommandOption("--lr <RATE>")]
        [Description("Peak learning rate (AdamW). Default: 0.005 (selective-copying), 0.002 (induction-heads), 0.003 (reverse, sort, addition), 0.001 (pointer tasks).")]
        public double? LearningRate { get; init; }

        [CommandOption("--warmup <N>")]
        [Description("Linear warm-up steps. Default: 100.")]
        public int? Warmup { get; init; }

        [CommandOption("--eval-every <N>")]
        [Description("Evaluate and checkpoint every N steps. Default: 100.")]
        public int? EvalEvery { get; init; }

        [CommandOption("--eval-examples <N>")]
        [Description("Held-out examples at the training size (fewer at larger sizes: as many elements, at least 128). Default: 512 (token and seq2seq tasks), 1000 (pointer tasks).")]
        public int? EvalExamples { get; init; }

        [CommandOption("--early-stop <PERCENT>")]
        [Description("Stop once the primary held-out metric (token tasks: token accuracy; seq2seq: exact-sequence accuracy) reaches this percentage (above 100: never). Default: 99.")]
        public double? EarlyStop { get; init; }

        [CommandOption("--target <PERCENT>")]
        [Description("The task's primary held-out metric the run must reach (token tasks: token accuracy, seq2seq: exact-sequence accuracy, in percent); below it the exit code is 2. Default: 90.")]
        public double? Target { get; init; }

        /// <summary>The options that describe a new run: with --resume the checkpoint's values hold, so giving one of
        /// these is an error instead of being ignored.</summary>
        private IEnumerable<(string Name, bool Given)> RunDefiningOptions() =>
        [
            ("--seed", Seed.HasValue), ("--layers", Layers.HasValue), ("--d-model", DModel.HasValue),
            ("--d-state", DState.HasValue), ("--mixer", Mixer is not null), ("--heads", Heads.HasValue), ("--seq-len", SeqLen.HasValue),
            ("--data-tokens", DataTokens.HasValue), ("--data-vocab", DataVocab.HasValue),
            ("--max-eval-len", MaxEvalLen.HasValue), ("--batch-size", BatchSize.HasValue),
            ("--lr", LearningRate.HasValue), ("--warmup", Warmup.HasValue), ("--eval-every", EvalEvery.HasValue),
            ("--early-stop", EarlyStop.HasValue), ("--eval-examples", EvalExamples.HasValue), ("--min-len", MinLen.HasValue), ("--digits", Digits.HasValue),
            ("--attention", Attention is not null), ("--reverse-source", ReverseSource), ("--cell", Cell is not null),
            ("--lags", Lags.HasValue), ("--ar-order", ArOrder.HasValue),
            ("--samples", Samples.HasValue), ("--data-seed", DataSeed.HasValue), ("--sparsity", Sparsity.HasValue),
            ("--n-min", NMin.HasValue), ("--n-max", NMax.HasValue), ("--max-depth", MaxDepth.HasValue),
            ("--max-args", MaxArgs.HasValue),
            ("--eval-n", EvalN is not null), ("--process-steps", ProcessSteps.HasValue),
            ("--length", Length.HasValue), ("--kernel-size", KernelSize.HasValue), ("--dropout", Dropout.HasValue),
            ("--chunk-size", ChunkSize.HasValue),
        ];

        /// <summary>--eval-n parsed: null when not given; an error message when malformed.</summary>
        private (int[]? Sizes, string? Error) ParsedEvalN()
        {
            if (EvalN is null) return (null, null);
            var parts = EvalN.Split(',', StringSplitOptions.TrimEntries);
            var sizes = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] < 1)
                    return (null, $"--eval-n must be comma-separated positive integers (e.g. 5,10,20), got '{EvalN}'.");
            return (sizes, null);
        }

        public override ValidationResult Validate()
        {
            if (Device is not null && DeviceOption.Validate(Device) is string deviceError)
                return ValidationResult.Error(deviceError);
            if (TaskName is not null && TaskRegistry.All.All(t => t.Name != TaskName))
                return ValidationResult.Error(
                    $"unknown task '{TaskName}'; expected one of {string.Join(", ", TaskRegistry.All.Select(t => t.Name))}.");
            if (Model is not null && ModelFamilies.All.All(f => f.Name != Model))
                return ValidationResult.Error(
                    $"--model must be one of {string.Join(", ", ModelFamilies.All.Select(f => f.Name))}, got '{Model}'.");
            if (!Resume && !ModelFamilies.Get(ResolvedFamily).Supports(TaskRegistry.Get(ResolvedTaskName).Default))
            {
                var definition = TaskRegistry.Get(ResolvedTaskName);
                return ValidationResult.Error(
                    $"--model {ResolvedFamily} does not train on {definition.Kind} tasks such as {definition.Name}; models for {definition.Name}: {string.Join(", ", ModelFamilies.Supporting(definition.Default).Select(f => f.Name))}.");
            }
            if (Resume && Overwrite)
                return ValidationResult.Error("--resume and --overwrite exclude each other: continue the run or replace it.");
            if (Resume && RunDefiningOptions().FirstOrDefault(o => o.Given) is { Name: string given })
                return ValidationResult.Error(
                    $"{given} cannot be combined with --resume: a resumed run keeps the checkpoint's model, task and options (only --steps, --device and --target may be given).");

            string task = ResolvedTaskName;
            string family = ResolvedFamily;
            (bool Ok, string Message)[] checks =
            [
                (Steps is null or > 0, $"--steps must be a positive integer, got {Steps}."),
                (Layers is null or > 0, $"--layers must be a positive integer, got {Layers}."),
                (DModel is null or > 0, $"--d-model must be a positive integer, got {DModel}."),
                (DState is null or > 0, $"--d-state must be a positive integer, got {DState}."),
                (Heads is null or > 0, $"--heads must be a positive integer, got {Heads}."),
                (DataTokens is null or > 0, $"--data-tokens must be a positive integer, got {DataTokens}."),
                (DataVocab is null or > 0, $"--data-vocab must be a positive integer, got {DataVocab}."),
                (BatchSize is null or > 0, $"--batch-size must be a positive integer, got {BatchSize}."),
                (LearningRate is null || (LearningRate > 0 && double.IsFinite(LearningRate.Value)),
                    $"--lr must be a positive number, got {LearningRate}."),
                (Warmup is null or >= 0, $"--warmup must be zero or more, got {Warmup}."),
                (EvalEvery is null or > 0, $"--eval-every must be a positive integer, got {EvalEvery}."),
                (EvalExamples is null or > 0, $"--eval-examples must be a positive integer, got {EvalExamples}."),
                (EarlyStop is null or > 0, $"--early-stop must be a positive percentage, got {EarlyStop}."),
                (Target is null || !TaskRegistry.Get(task).Default.Metrics[0].IsFraction || Target is >= 0 and <= 100,
                    $"--target must be a percentage in [0, 100], got {Target}."),
                (DState is null || family is ModelFamilies.Mamba or ModelFamilies.S4D or ModelFamilies.S4 or ModelFamilies.Lssl,
                    $"--d-state applies to the state-space families (mamba, s4d, s4, lssl) only, not {family}."),
                (Mixer is null || family == ModelFamilies.Mamba, $"--mixer applies to the mamba family only, not {family}."),
                (Mixer is null or "selective" or "s4d", $"--mixer must be selective or s4d, got '{Mixer}'."),
                (DState is null || DState % 2 == 0 || Mixer != "s4d", $"--d-state must be even with --mixer s4d (N/2 conjugate pairs), got {DState}."),
                (DState is null || DState % 2 == 0 || family is not (ModelFamilies.S4D or ModelFamilies.S4),
                    $"--d-state must be even for {family} (N/2 conjugate pairs), got {DState}."),
                (Heads is null || family is ModelFamilies.Lstm or ModelFamilies.Gru or ModelFamilies.Slstm or ModelFamilies.TcnCa,
                    $"--heads applies to the recurrent families (lstm, gru, slstm) and tcnca, not {family}."),
                (Length is null || task is AddingTask.TaskName or CopyMemoryTask.TaskName,
                    $"--length applies to adding and copy-memory only, not {task}."),
                (Length is null or > 0, $"--length must be a positive integer, got {Length}."),
                (Length is null || task != AddingTask.TaskName || Length >= 2,
                    $"--length must be at least 2 for adding (one marked step in each half), got {Length}."),
                (KernelSize is null && Dropout is null || BackboneConfig.ConvolutionalFamilies.Contains(family),
                    $"--kernel-size and --dropout apply to the convolutional families (tcn, wavenet, tcnca), not {family}."),
                (KernelSize is null or > 0, $"--kernel-size must be a positive integer, got {KernelSize}."),
                (Dropout is null or >= 0 and < 1, $"--dropout must be in [0, 1), got {Dropout}."),
                (ChunkSize is null || family == ModelFamilies.TcnCa, $"--chunk-size applies to the tcnca family only, not {family}."),
                (ChunkSize is null or > 0, $"--chunk-size must be a positive integer, got {ChunkSize}."),
                (DataTokens is null && DataVocab is null || IsCopying(task),
                    $"--data-tokens and --data-vocab apply to selective-copying and vanilla-copying only, not {task}."),
                (MaxDepth is null && MaxArgs is null || task == ListOpsTask.TaskName,
                    $"--max-depth and --max-args apply to listops only, not {task}."),
                (MaxEvalLen is null || task == InductionHeadsTask.TaskName,
                    $"--max-eval-len applies to induction-heads only, not {task}."),
                (MinLen is null || task is ReverseTask.TaskName or SortTask.TaskName or ListOpsTask.TaskName,
                    $"--min-len applies to reverse, sort and listops only, not {task}."),
                (Digits is null || task == AdditionTask.TaskName, $"--digits applies to addition only, not {task}."),
                (SeqLen is null || task != AdditionTask.TaskName, "--seq-len does not apply to addition (its size is --digits)."),
                (SeqLen is null || task is not (AddingTask.TaskName or CopyMemoryTask.TaskName),
                    $"--seq-len does not apply to {task} (its size is --length T)."),
                (Attention is null && !ReverseSource && Cell is null || family == ModelFamilies.Seq2Seq,
                    $"--attention, --reverse-source and --cell apply to the seq2seq family only, not {family}."),
                (Attention is null || ParseAttention(Attention) is not null,
                    $"--attention must be additive, dot, general or none, got '{Attention}'."),
                (Cell is null || ParseCell(Cell) is not null, $"--cell must be lstm, gru or slstm, got '{Cell}'."),
                (MinLen is null or > 0, $"--min-len must be a positive integer, got {MinLen}."),
                (Digits is null or > 0, $"--digits must be a positive integer, got {Digits}."),
                (Lags is null && ArOrder is null && Samples is null && DataSeed is null || task == ArSyntheticTask.TaskName,
                    $"--lags, --ar-order, --samples and --data-seed apply to ar-synthetic only, not {task}."),
                (Lags is null or > 0, $"--lags must be a positive integer, got {Lags}."),
                (ArOrder is null or > 0, $"--ar-order must be a positive integer, got {ArOrder}."),
                (Samples is null or > 0, $"--samples must be a positive integer, got {Samples}."),
                (Sparsity is null || family == ModelFamilies.ArNet, $"--sparsity applies to the arnet family only, not {family}."),
                (Sparsity is null or > 0 and <= 1, $"--sparsity must be a fraction in (0, 1], got {Sparsity}."),
                (NMin is null && NMax is null && EvalN is null || TaskRegistry.Get(task).Kind == TaskKinds.Pointer,
                    $"--n-min, --n-max and --eval-n apply to the pointer tasks (convex-hull, delaunay, tsp, sort-numbers), not {task}."),
                (ProcessSteps is null || family == PointerNetwork.RpwFamily,
                    $"--process-steps applies to the rpw family only, not {family}."),
                (ProcessSteps is null or >= 0, $"--process-steps must be zero or more, got {ProcessSteps}."),
                (NMin is null or > 0, $"--n-min must be a positive integer, got {NMin}."),
                (NMax is null or > 0, $"--n-max must be a positive integer, got {NMax}."),
            ];
            foreach (var (ok, message) in checks)
                if (!ok) return ValidationResult.Error(message);
            if (IsCopying(task))
            {
                int k = DataTokens ?? new SelectiveCopyingTask().DataTokenCount;
                int length = SeqLen ?? new SelectiveCopyingTask().SequenceLength;
                if (length < 2 * k)
                    return ValidationResult.Error(
                        $"--seq-len must be at least 2 x --data-tokens = {2 * k} (a region of at least K tokens, then K markers), got {length}.");
            }
            else if (task is ReverseTask.TaskName or SortTask.TaskName)
            {
                int min = MinLen ?? new ReverseTask().MinLength, max = SeqLen ?? new ReverseTask().MaxLength;
                if (max < min)
                    return ValidationResult.Error($"--seq-len (the longest source) must be at least --min-len = {min}, got {max}.");
            }
            else if (task == AdditionTask.TaskName)
            {
                if (Digits is int digits && digits > 17)
                    return ValidationResult.Error($"--digits must be at most 17 (the sum must fit 64-bit integers), got {digits}.");
            }
            else if (task == InductionHeadsTask.TaskName)
            {
                int length = SeqLen ?? new InductionHeadsTask().SequenceLength;
                if (length < 3)
                    return ValidationResult.Error($"--seq-len must be at least 3 for induction-heads (trigger, answer, final trigger), got {length}.");
                if (MaxEvalLen is int max && max < length)
                    return ValidationResult.Error($"--max-eval-len must be at least --seq-len = {length}, got {max}.");
            }
            if (ParsedEvalN().Error is string evalError) return ValidationResult.Error(evalError);
            if (!Resume && TaskRegistry.Get(task).Default is IPointerTask or ListOpsTask)
            {
                // The task's own range checks (n too small or too large for the label generator, a ListOps length
                // window its trees cannot reach), as CLI errors.
                try
                {
                    BuildTask().Validate();
                }
                catch (ArgumentOutOfRangeException e)
                {
                    string prefix = task == ListOpsTask.TaskName ? "listops: " : "";
                    return ValidationResult.Error(prefix + e.Message.Split(Environment.NewLine)[0]);
                }
            }
            return ValidationResult.Success();
        }

        public string ResolvedTaskName => TaskName ?? TaskRegistry.Default.Name;

        /// <summary>Whether <paramref name="task"/> is one of the copying tasks (same layout, same options).</summary>
        private static bool IsCopying(string task) => task is SelectiveCopyingTask.TaskName or VanillaCopyingTask.TaskName;

        /// <summary>--model, else the task's default family (mamba for the token tasks).</summary>
        public string ResolvedFamily => Model ?? TaskRegistry.Get(ResolvedTaskName).DefaultModel;

        public string ResolvedOut => Out ?? Path.Combine(".", "runs",
            ResolvedFamily == TaskRegistry.Get(ResolvedTaskName).DefaultModel
                ? ResolvedTaskName
                : $"{ResolvedTaskName}-{ResolvedFamily}");

        /// <summary>The target of the task's primary metric: --target in percent for accuracies (as is otherwise),
        /// else the task's default.</summary>
        public double ResolvedTarget(ITask task)
        {
            if (Target is not double given) return TaskRegistry.Get(task.Name).DefaultTargetAccuracy;
            return task.Metrics[0].IsFraction ? given / 100 : given;
        }

        /// <summary>The task of a new run: the registry's default with the options given.</summary>
        public ITask BuildTask()
        {
            var definition = TaskRegistry.Get(ResolvedTaskName);
            switch (definition.Default)
            {
                case AddingTask adding:
                    return adding with { Length = Length ?? adding.Length };
                case CopyMemoryTask copyMemory:
                    return copyMemory with { Length = Length ?? copyMemory.Length };
                case SelectiveCopyingTask copying:
                    int k = DataTokens ?? copying.DataTokenCount;
                    return new SelectiveCopyingTask((SeqLen ?? copying.SequenceLength) - k, k,
                        DataVocab ?? copying.DataVocabulary);
                case VanillaCopyingTask vanilla:
                    int tokens = DataTokens ?? vanilla.DataTokenCount;
                    return new VanillaCopyingTask((SeqLen ?? vanilla.SequenceLength) - tokens, tokens,
                        DataVocab ?? vanilla.DataVocabulary);
                case ListOpsTask listOps:
                    return listOps with
                    {
                        MinLength = MinLen ?? listOps.MinLength,
                        MaxLength = SeqLen ?? listOps.MaxLength,
                        MaxDepth = MaxDepth ?? listOps.MaxDepth,
                        MaxArguments = MaxArgs ?? listOps.MaxArguments,
                    };
                case InductionHeadsTask induction:
                    int length = SeqLen ?? induction.SequenceLength;
                    return induction with
                    {
                        SequenceLength = length,
                        MaxEvaluationLength = MaxEvalLen ?? Math.Max(length, induction.MaxEvaluationLength),
                    };
                case ReverseTask reverse:
                    return reverse with { MinLength = MinLen ?? reverse.MinLength, MaxLength = SeqLen ?? reverse.MaxLength };
                case SortTask sort:
                    return sort with { MinLength = MinLen ?? sort.MinLength, MaxLength = SeqLen ?? sort.MaxLength };
                case AdditionTask addition:
                    return addition with
                    {
                        MaxDigits = Digits ?? addition.MaxDigits,
                        MinDigits = Math.Min(addition.MinDigits, Digits ?? addition.MaxDigits),
                    };
                case ArSyntheticTask synthetic:
                    var task = synthetic with
                    {
                        Lags = Lags ?? synthetic.Lags,
                        TrueOrder = ArOrder ?? synthetic.TrueOrder,
                        Samples = Samples ?? synthetic.Samples,
                        DataSeed = DataSeed ?? synthetic.DataSeed,
                    };
                    try
                    {
                        task.Validate();
                    }
                    catch (ArgumentOutOfRangeException e)
                    {
                        throw new ArgumentException($"ar-synthetic: {e.Message}", e);
                    }
                    return task;
                case ConvexHullTask hull:
                    return hull with
                    {
                        MinSize = NMin ?? Math.Min(hull.MinSize, NMax ?? hull.MinSize), MaxSize = NMax ?? Math.Max(hull.MaxSize, NMin ?? 0),
                        EvaluateAt = ParsedEvalN().Sizes ?? hull.EvaluateAt,
                    };
                case DelaunayTask delaunay:
                    return delaunay with
                    {
                        MinSize = NMin ?? Math.Min(delaunay.MinSize, NMax ?? delaunay.MinSize), MaxSize = NMax ?? Math.Max(delaunay.MaxSize, NMin ?? 0),
                        EvaluateAt = ParsedEvalN().Sizes ?? delaunay.EvaluateAt,
                    };
                case TspTask tsp:
                    return tsp with
                    {
                        MinSize = NMin ?? Math.Min(tsp.MinSize, NMax ?? tsp.MinSize), MaxSize = NMax ?? Math.Max(tsp.MaxSize, NMin ?? 0),
                        EvaluateAt = ParsedEvalN().Sizes ?? tsp.EvaluateAt,
                    };
                case SortNumbersTask sort:
                    return sort with
                    {
                        MinSize = NMin ?? Math.Min(sort.MinSize, NMax ?? sort.MinSize), MaxSize = NMax ?? Math.Max(sort.MaxSize, NMin ?? 0),
                        EvaluateAt = ParsedEvalN().Sizes ?? sort.EvaluateAt,
                    };
                default:
                    return definition.Default;
            }
        }

        internal static Seq2SeqAttention? ParseAttention(string value) => value switch
        {
            "additive" => Seq2SeqAttention.Additive,
            "dot" => Seq2SeqAttention.Dot,
            "general" => Seq2SeqAttention.General,
            "none" => Seq2SeqAttention.None,
            _ => null,
        };

        internal static RnnCell? ParseCell(string value) => value switch
        {
            "lstm" => RnnCell.Lstm,
            "gru" => RnnCell.Gru,
            "slstm" => RnnCell.Slstm,
            _ => null,
        };

        /// <summary>The model config of a new run: the family's default for the task's vocabulary with the options given.</summary>
        public IModelConfig BuildModel(ITask task) =>
            ModelFamilies.Get(ResolvedFamily).DefaultConfig(task) switch
            {
                MambaConfig mamba => mamba with
                {
                    ModelDimension = DModel ?? mamba.ModelDimension,
                    Layers = Layers ?? mamba.Layers,
                    StateDimension = DState ?? mamba.StateDimension,
                    Mixer = Mixer == "s4d" ? MambaMixer.S4D : mamba.Mixer,
                },
                StateSpaceConfig stateSpace => stateSpace with
                {
                    ModelDimension = DModel ?? stateSpace.ModelDimension,
                    Layers = Layers ?? stateSpace.Layers,
                    StateDimension = DState ?? stateSpace.StateDimension,
                },
                RecurrentConfig recurrent => recurrent with
                {
                    ModelDimension = DModel ?? recurrent.ModelDimension,
                    Layers = Layers ?? recurrent.Layers,
                    Heads = Heads ?? recurrent.Heads,
                },
                Seq2SeqConfig seq2seq => seq2seq with
                {
                    HiddenSize = DModel ?? seq2seq.HiddenSize,
                    Layers = Layers ?? seq2seq.Layers,
                    Attention = Attention is string attention ? ParseAttention(attention)!.Value : seq2seq.Attention,
                    ReverseSource = ReverseSource || seq2seq.ReverseSource,
                    Cell = Cell is string cell ? ParseCell(cell)!.Value : seq2seq.Cell,
                },
                SequenceModelConfig sequence => sequence with
                {
                    Network = AdjustBackbone(sequence.Network, ((IBackboneTask)task).SequenceLength),
                },
                ConvLanguageModelConfig conv => conv with
                {
                    Network = AdjustBackbone(conv.Network, ((ISequenceTask)task).EvaluationLengths.Max()),
                },
                SequenceForecasterConfig forecaster => forecaster with
                {
                    ModelDimension = DModel ?? forecaster.ModelDimension,
                    Layers = Layers ?? forecaster.Layers,
                    StateDimension = DState ?? forecaster.StateDimension,
                },
                ArNetConfig arNet => arNet with
                {
                    Sparsity = Sparsity,
                    RampSteps = (Steps ?? TaskRegistry.Get(ResolvedTaskName).DefaultOptions.Steps) / 2,
                },
                PointerNetworkConfig pointer => pointer with
                {
                    HiddenSize = DModel ?? pointer.HiddenSize,
                    AttentionSize = DModel ?? pointer.AttentionSize,
                    EncoderLayers = Layers ?? pointer.EncoderLayers,
                    ProcessSteps = ProcessSteps ?? pointer.ProcessSteps,
                },
                var other => other,
            };

        /// <summary>A default backbone with the options given; a convolutional one given --kernel-size but not --layers
        /// gets the fewest layers that cover <paramref name="length"/> steps with that kernel.</summary>
        private BackboneConfig AdjustBackbone(BackboneConfig network, int length)
        {
            var adjusted = network with
            {
                ModelDimension = DModel ?? network.ModelDimension,
                StateDimension = DState ?? network.StateDimension,
                Heads = Heads ?? network.Heads,
                KernelSize = KernelSize ?? network.KernelSize,
                Dropout = Dropout ?? network.Dropout,
                ChunkSize = ChunkSize ?? network.ChunkSize,
            };
            if (Layers is int layers) return adjusted with { Layers = layers };
            return KernelSize is null ? adjusted : adjusted.Covering(length);
        }

        /// <summary>The training options of a new run: the task's defaults with the options given.</summary>
        public TrainingOptions BuildOptions()
        {
            var defaults = TaskRegistry.Get(ResolvedTaskName).DefaultOptions;
            double learningRate = LearningRate ?? defaults.LearningRate;
            return defaults with
            {
                Steps = Steps ?? defaults.Steps,
                Seed = Seed ?? defaults.Seed,
                BatchSize = BatchSize ?? defaults.BatchSize,
                LearningRate = learningRate,
                MinimumLearningRate = Math.Min(defaults.MinimumLearningRate, learningRate),
                WarmupSteps = Warmup ?? defaults.WarmupSteps,
                EvalEvery = EvalEvery ?? defaults.EvalEvery,
                EvalExamples = EvalExamples ?? defaults.EvalExamples,
                EarlyStopAccuracy = EarlyStop is double percent ? percent / 100 : defaults.EarlyStopAccuracy,
            };
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string outputDirectory = settings.ResolvedOut;
        string checkpointPath = RunCheckpoint.PathIn(outputDirectory);
        bool hasCheckpoint = File.Exists(checkpointPath);
        // Checked before anything is built or written: a typo'd or repeated command must not cost an earlier run.
        if (hasCheckpoint && !settings.Resume && !settings.Overwrite)
            throw new InvalidOperationException(
                $"--out '{outputDirectory}' already holds a checkpoint ({checkpointPath}); pass --resume to continue that run, --overwrite to replace it, or another --out.");
        if (settings.Resume && !hasCheckpoint)
            throw new InvalidOperationException($"--resume: no checkpoint to continue in '{outputDirectory}' (expected {checkpointPath}).");

        var device = DeviceOption.Resolve(settings.Device ?? "cpu");
        using var trainer = settings.Resume ? Resume(settings, checkpointPath, device) : NewRun(settings, device);
        var task = trainer.Task;
        var options = trainer.Options;
        long parameters = trainer.Model.parameters().Sum(p => p.numel());
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"{Describe(trainer.Model.Config)}, {parameters:N0} parameters, on {device.type}");
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"{Describe(task)}; batch {options.BatchSize}, up to {options.Steps} steps, seed {options.Seed}");
        if (settings.Resume)
            console.MarkupLineInterpolated($"resuming {checkpointPath} at step {trainer.CompletedSteps}");

        string curvePath = Path.Combine(outputDirectory, TrainingCurvePlot.FileName);
        string title = $"{trainer.Model.Family} on {task.Name}";
        var primary = task.Metrics[0];
        TrainingResult result = null!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(), new ElapsedTimeColumn())
            .Start(progressContext =>
            {
                var bar = progressContext.AddTask("training", maxValue: options.Steps);
                bar.Value = trainer.CompletedSteps;
                result = trainer.Run(outputDirectory, progress =>
                {
                    bar.Value = progress.Step;
                    bar.Description = string.Create(CultureInfo.InvariantCulture,
                        $"step {progress.Step}/{progress.TotalSteps}  loss {progress.Loss:F4}  {progress.TokensPerSecond / 1000:F1}k tok/s");
                    if (progress.EvalAccuracy is double accuracy)
                    {
                        TrainingCurvePlot.WritePng(curvePath, title, trainer.LossHistory, trainer.EvalHistory);
                        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                            $"step {progress.Step,5}: loss {progress.Loss:F4}, lr {progress.LearningRate:E2}, held-out {primary.Name} {primary.FormatValue(accuracy)}");
                    }
                }, cancellationToken);
                bar.Value = bar.MaxValue;
            });
        TrainingCurvePlot.WritePng(curvePath, title, trainer.LossHistory, trainer.EvalHistory);

        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"{result.Steps} steps in {result.Elapsed.TotalSeconds:F0} s{(result.StoppedEarly ? " (stopped early)" : "")}; checkpoint {result.CheckpointPath}, curve {curvePath}");
        WriteLengthTable(console, task, result.Lengths);
        if (task is ArSyntheticTask synthetic) WriteLeastSquaresComparison(console, synthetic, result.Lengths);
        double target = settings.ResolvedTarget(task);
        bool reached = primary.Reaches(result.HeldOutAccuracy, target);
        string targetText = primary.IsFraction
            ? string.Create(CultureInfo.InvariantCulture, $"{100 * target:0.#}%")
            : target.ToString(CultureInfo.InvariantCulture);
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"held-out {primary.Description}: {primary.FormatValue(result.HeldOutAccuracy)} (target {targetText})");
        return reached ? HybridSeqApp.ExitSuccess : HybridSeqApp.ExitBelowTarget;
    }

    private static Trainer NewRun(Settings settings, TorchSharp.torch.Device device)
    {
        var task = settings.BuildTask();
        return new Trainer(settings.BuildModel(task), task, settings.BuildOptions(), device);
    }

    private static Trainer Resume(Settings settings, string checkpointPath, TorchSharp.torch.Device device)
    {
        var metadata = RunCheckpoint.ReadMetadata(checkpointPath);
        if (settings.TaskName is string task && task != metadata.TaskName)
            throw new InvalidOperationException(
                $"--resume: the checkpoint {checkpointPath} is a {metadata.TaskName} run, not {task}.");
        if (settings.Model is string family && family != metadata.ModelFamily)
            throw new InvalidOperationException(
                $"--resume: the checkpoint {checkpointPath} holds a {metadata.ModelFamily} model, not {family}.");
        return Trainer.LoadCheckpoint(checkpointPath, device, settings.Steps);
    }

    /// <summary>One line per evaluation size, the training distribution first: every metric of the task in its
    /// format (token tasks: "length 64 (training): accuracy 99.0% full forward, 99.0% step-mode decoding, ...").</summary>
    internal static void WriteLengthTable(IAnsiConsole console, ITask task, IReadOnlyList<EvaluationResult> sizes)
    {
        for (int i = 0; i < sizes.Count; i++)
        {
            var size = sizes[i];
            double trainingSize = sizes[0].Size;
            string label = i == 0 ? " (training)" : string.Create(CultureInfo.InvariantCulture, $" ({size.Size / trainingSize:0.#}x)");
            string metrics = string.Join(", ", task.Metrics.Select(m =>
                string.Format(CultureInfo.InvariantCulture, m.Format, m.FormatValue(size.Value(m.Name)))));
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"{task.SizeName} {size.Size,5}{label}: {metrics}, {size.Examples} examples");
        }
    }

    /// <summary>The least-squares AR fit of the same training values, on the same held-out values: the baseline the
    /// AR-Net paper's figures compare against.</summary>
    internal static void WriteLeastSquaresComparison(IAnsiConsole console, ArSyntheticTask task,
        IReadOnlyList<EvaluationResult> sizes)
    {
        var fit = LeastSquaresAr.Fit(task);
        var totals = fit.Evaluate(task, task.Windows(ForecastSplit.Validation));
        var values = totals.Values(task);
        string metrics = string.Join(", ", task.Metrics.Select((m, i) =>
            string.Format(CultureInfo.InvariantCulture, m.Format, m.FormatValue(values[i].Value))));
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"least squares AR({task.Lags}): {metrics}");
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"true coefficients w_1..w_{task.TrueOrder}: {string.Join(", ", task.Coefficients.Select(w => w.ToString("F3", CultureInfo.InvariantCulture)))}");
    }

    internal static string Describe(IModelConfig config) => config switch
    {
        SequenceModelConfig q =>
            $"{Describe(q.Network)}; {(q.InputVocabulary > 0 ? $"{q.InputVocabulary} token ids embedded" : $"{q.InputChannels} input channel(s) projected")}, linear head at {(q.Readout switch { SequenceReadout.LastStep => "the last step", SequenceReadout.MeanPool => "the mean over each sequence", _ => "every step" })} ({q.Outputs} output(s))",
        ConvLanguageModelConfig c => $"{Describe(c.Network)}; embedding + RMSNorm + tied head (vocabulary {c.VocabularySize})",
        ArNetConfig a =>
            $"arnet: {a.Lags} lags -> {a.Horizon} step(s){(a.Hidden is { Length: > 0 } h ? $", hidden {string.Join("x", h)}" : ", linear")}{(a.Sparsity is double s ? $", sparsity {s} (lambda {a.Lambda:G3})" : "")}",
        SequenceForecasterConfig f =>
            $"{f.Backbone} forecaster: {f.Layers} layer(s), width {f.ModelDimension}, {f.Lags} lags -> {f.Horizon} step(s)",
        MambaConfig m => $"mamba: {m.Layers} layers, d_model {m.ModelDimension}, N {m.StateDimension}{(m.Mixer == MambaMixer.S4D ? ", S4D mixer (LTI)" : "")}",
        RecurrentConfig r => $"{r.Family}: {r.Layers} layers, hidden {r.ModelDimension}, {r.Heads} head(s)",
        StateSpaceConfig s => s.Kind == StateSpaceKind.S4D
            ? $"s4d: {s.Layers} layers, d_model {s.ModelDimension}, N {s.StateDimension}, S4D-{s.Init}, {s.Discretization.ToString().ToUpperInvariant()}"
            : $"{s.Family}: {s.Layers} layers, d_model {s.ModelDimension}, N {s.StateDimension}, bilinear",
        Seq2SeqConfig q =>
            $"seq2seq: {q.Cell.ToString().ToLowerInvariant()} encoder and decoder, {q.Layers} layers, hidden {q.HiddenSize}, embedding {q.EmbeddingDimension}, attention {q.Attention.ToString().ToLowerInvariant()}, source {(q.ReverseSource ? "reversed" : "in order")}",
        PointerNetworkConfig { Encoder: PointerEncoder.Lstm } p =>
            $"ptrnet: LSTM encoder of {p.EncoderLayers} layer(s), hidden {p.HiddenSize}, attention {p.AttentionSize}",
        PointerNetworkConfig p => $"rpw: read-process-write, {p.ProcessSteps} process steps, hidden {p.HiddenSize}, attention {p.AttentionSize}",
        _ => config.Family,
    };

    /// <summary>A backbone in words, with the receptive field of the convolutional ones.</summary>
    internal static string Describe(BackboneConfig n) => n.Family switch
    {
        ModelFamilies.Mamba => $"mamba: {n.Layers} layers, d_model {n.ModelDimension}, N {n.StateDimension}",
        ModelFamilies.S4D or ModelFamilies.S4 or ModelFamilies.Lssl =>
            $"{n.Family}: {n.Layers} layers, d_model {n.ModelDimension}, N {n.StateDimension}",
        BackboneConfig.Tcn => $"tcn: {n.Layers} levels of temporal blocks, {n.ModelDimension} channels, kernel {n.KernelSize}, dropout {n.Dropout}, receptive field {n.ReceptiveField}",
        BackboneConfig.WaveNet => $"wavenet: {n.Layers} gated layers, {n.ModelDimension} channels, kernel {n.KernelSize}, dilation cycle {(n.DilationCycle == 0 ? "none" : n.DilationCycle.ToString(CultureInfo.InvariantCulture))}, receptive field {n.ReceptiveField}",
        BackboneConfig.TcnCa => $"tcnca: {n.Layers} layers, width {n.ModelDimension}, kernel {n.KernelSize}, {n.Heads} heads, chunk {n.ChunkSize}, receptive field up to {n.ReceptiveField}",
        _ => $"{n.Family}: {n.Layers} layers, hidden {n.ModelDimension}, {n.Heads} head(s)",
    };

    /// <summary>" of K answer tokens" for token tasks, empty otherwise (the eval header).</summary>
    internal static string DescribeAnswers(ITask task) =>
        task is ISequenceTask sequenceTask ? $" of {sequenceTask.AnswerLength} answer tokens" : "";

    internal static string Describe(ITask task) => task switch
    {
        SelectiveCopyingTask s =>
            $"selective-copying: {s.DataTokenCount} data tokens (vocabulary {s.DataVocabulary}) in a region of {s.RegionLength}, sequence {s.SequenceLength}",
        VanillaCopyingTask v =>
            $"vanilla-copying: {v.DataTokenCount} data tokens (vocabulary {v.DataVocabulary}) at the start of a region of {v.RegionLength}, sequence {v.SequenceLength}",
        ListOpsTask l =>
            $"listops: expressions of {l.MinLength}..{l.MaxLength} tokens, depth up to {l.MaxDepth}, up to {l.MaxArguments} arguments, 10 classes",
        InductionHeadsTask i =>
            $"induction-heads: vocabulary {i.VocabularySize}, training length {i.SequenceLength}, evaluated at {string.Join(", ", i.EvaluationLengths)}",
        ReverseTask r => $"reverse: sources of {r.MinLength}..{r.MaxLength} digits (base {r.Base})",
        SortTask o => $"sort: sources of {o.MinLength}..{o.MaxLength} digits (base {o.Base})",
        AdditionTask a => $"addition: operands of {a.MinDigits}..{a.MaxDigits} digits (base {a.Base})",
        AddingTask a => $"adding: T = {a.Length}, 2 channels (uniform value, marker), the sum of the 2 marked values at the last step; predicting 1 scores MSE {AddingTask.PredictOneMse:F4}",
        CopyMemoryTask c =>
            $"copy-memory: T = {c.Length} blanks, {c.MemoryLength} symbols to repeat, sequences of {c.SequenceLength}; the paper's baseline loss 10 ln 8 / (T + 20) = {c.BaselineLoss():F4}",
        ArSyntheticTask a =>
            $"ar-synthetic: AR({a.TrueOrder}) process, noise {a.Noise}, {a.Samples} training and {a.HeldOutSamples} held-out values, model order {a.Lags}, data seed {a.DataSeed}",
        IPointerTask p when p.EvaluationSizes.Count == 1 =>
            $"{p.Name}: n in [{p.MinSize}, {p.MaxSize}] for training, evaluated on the training range",
        IPointerTask p =>
            $"{p.Name}: n in [{p.MinSize}, {p.MaxSize}] for training, evaluated at n = {string.Join(", ", p.EvaluationSizes.Skip(1))} (first row: the training range)",
        _ => task.Name,
    };
}
