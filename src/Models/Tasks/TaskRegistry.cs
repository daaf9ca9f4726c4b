using System.Text.Json;
using HybridSeq.Models.Forecasting;
using HybridSeq.Models.Training;

namespace HybridSeq.Models.Tasks;

/// <summary>One task of the registry: its name, a one-line description, its default config, training options,
/// target of the primary metric (sized to learn within a few minutes on a 2-core CPU with the default model), the
/// family `train` uses without --model, and how to read its config back from a checkpoint's JSON.</summary>
/// <param name="Name">The registry name (the TASK argument of `hybridseq train`).</param>
/// <param name="Description">One line for `hybridseq tasks`.</param>
/// <param name="Default">The default config.</param>
/// <param name="DefaultOptions">The default training options.</param>
/// <param name="DefaultTargetAccuracy">The value of the primary metric (Default.Metrics[0]) a run must reach, in
/// its own unit (a fraction for accuracies).</param>
/// <param name="ReadConfig">Reads the task's config record from a checkpoint's JSON.</param>
/// <param name="DefaultModel">The model family of `hybridseq train TASK` without --model.</param>
public sealed record TaskDefinition(
    string Name,
    string Description,
    ITask Default,
    TrainingOptions DefaultOptions,
    double DefaultTargetAccuracy,
    Func<JsonElement, ITask?> ReadConfig,
    string DefaultModel = ModelFamilies.Mamba)
{
    /// <summary>The task kind (<see cref="ITask.Kind"/> of the default config).</summary>
    public string Kind => Default.Kind;
}

/// <summary>The registry of tasks, of every kind: selective-copying (the default) and induction-heads (token tasks),
/// and the tasks of the encoder-decoder families.</summary>
public static class TaskRegistry
{
    /// <summary>Every task, the default first.</summary>
    public static IReadOnlyList<TaskDefinition> All { get; } =
    [
        new(SelectiveCopyingTask.TaskName,
            "Mamba paper 4.1.1: copy the 8 data tokens scattered in a noisy region of 56, in order, at 8 markers",
            new SelectiveCopyingTask(), new TrainingOptions(), 0.90,
            json => json.Deserialize<SelectiveCopyingTask>()),
        new(InductionHeadsTask.TaskName,
            "Mamba paper 4.1.2: recall the token after the first trigger when the trigger recurs at the end; train at 64, evaluate at 64, 256 and 1024",
            new InductionHeadsTask(),
            new TrainingOptions(Steps: 1500, BatchSize: 32, LearningRate: 2e-3, WarmupSteps: 100, EvalEvery: 100,
                EvalExamples: 512),
            0.90,
            json => json.Deserialize<InductionHeadsTask>()),
        new(ReverseTask.TaskName,
            "Sutskever et al. style: write the 3..10 source digits in reverse order",
            new ReverseTask(), Seq2SeqOptions, 0.90, json => json.Deserialize<ReverseTask>(), ModelFamilies.Seq2Seq),
        new(SortTask.TaskName,
            "sort the 3..10 source digits (repeats allowed) in ascending order",
            new SortTask(), Seq2SeqOptions, 0.90, json => json.Deserialize<SortTask>(), ModelFamilies.Seq2Seq),
        new(AdditionTask.TaskName,
            "add two numbers of 1..5 decimal digits written as digit strings, 'a+b' -> digits of the sum",
            new AdditionTask(), Seq2SeqOptions, 0.90, json => json.Deserialize<AdditionTask>(), ModelFamilies.Seq2Seq),
        new(ArSyntheticTask.TaskName,
            "AR-Net paper 4: fit an AR(3) process (noise 1, sum |w| = 0.95) of 1000 samples with a model of order 20 (--lags); MSE on 1000 held-out values, sTPE of the coefficients",
            new ArSyntheticTask(),
            new TrainingOptions(Steps: 2000, BatchSize: 64, LearningRate: 0.01, MinimumLearningRate: 1e-4,
                WarmupSteps: 50, WeightDecay: 0, EvalEvery: 250, EvalExamples: 1000, EarlyStopAccuracy: 1e-9),
            1.2,
            json => json.Deserialize<ArSyntheticTask>(),
            ModelFamilies.ArNet),
        new(Pointer.ConvexHullTask.TaskName,
            "Pointer networks 4.2: the convex hull of n points in the unit square, vertices counter-clockwise from the lowest index; train on n in 5..10, evaluate at 5, 10, 20",
            new Pointer.ConvexHullTask(), PointerOptions, 0.5,
            json => json.Deserialize<Pointer.ConvexHullTask>(), Models.Pointer.PointerNetwork.PtrNetFamily),
        new(Pointer.DelaunayTask.TaskName,
            "Pointer networks 4.3: the Delaunay triangulation of n points, triangles as sorted triples in lexicographic order; train on n in 5..7, evaluate at 5, 7, 10",
            new Pointer.DelaunayTask(), PointerOptions, 0.2,
            json => json.Deserialize<Pointer.DelaunayTask>(), Models.Pointer.PointerNetwork.PtrNetFamily),
        new(Pointer.TspTask.TaskName,
            "Pointer networks 4.4: the shortest closed tour of n points from point 0 (Held-Karp optimum for n <= 12, 2-opt above); train on n in 5..8, evaluate at 5, 8, 10",
            new Pointer.TspTask(), PointerOptions, 0.2,
            json => json.Deserialize<Pointer.TspTask>(), Models.Pointer.PointerNetwork.PtrNetFamily),
        new(Pointer.SortNumbersTask.TaskName,
            "Order Matters 4.2: the indices of n numbers in [0, 1) in ascending order of value, read as a set (n = 5; --n-min / --n-max for 10, 15)",
            new Pointer.SortNumbersTask(), PointerOptions, 0.5,
            json => json.Deserialize<Pointer.SortNumbersTask>(), Models.Pointer.PointerNetwork.RpwFamily),
        new(Synthetic.AddingTask.TaskName,
            "TCN paper 4.2: sum the two marked values of a length-T sequence of (uniform value, marker) pairs (--length T, default 200); MSE, 0.1667 for always predicting 1",
            new Synthetic.AddingTask(),
            new TrainingOptions(Steps: 1000, BatchSize: 32, LearningRate: 2e-3, MinimumLearningRate: 1e-4, WarmupSteps: 50,
                WeightDecay: 0, EvalEvery: 100, EvalExamples: 1000, EarlyStopAccuracy: 1e-4),
            0.01,
            json => json.Deserialize<Synthetic.AddingTask>(), ModelFamilies.Tcn),
        new(Synthetic.CopyMemoryTask.TaskName,
            "TCN paper 4.3: 10 symbols of 1..8, T blanks, markers; repeat the 10 symbols at the end (--length T, default 100); accuracy on them, cross-entropy over every step",
            new Synthetic.CopyMemoryTask(),
            new TrainingOptions(Steps: 1000, BatchSize: 32, LearningRate: 2e-3, MinimumLearningRate: 1e-4, WarmupSteps: 50,
                WeightDecay: 0, EvalEvery: 100, EvalExamples: 512, EarlyStopAccuracy: 0.99),
            0.90,
            json => json.Deserialize<Synthetic.CopyMemoryTask>(), ModelFamilies.Tcn),
        new(VanillaCopyingTask.TaskName,
            "Mamba paper Figure 2 (left): copy the 8 data tokens at the start of a region of 56, in order, at 8 markers (a constant lag: LTI models solve it; compare selective-copying)",
            new VanillaCopyingTask(), new TrainingOptions(), 0.90,
            json => json.Deserialize<VanillaCopyingTask>()),
        new(ListOpsTask.TaskName,
            "Long Range Arena ListOps: the value (10 classes) of a nested MAX/MIN/MED/SM expression over digits, LRA's generator (depth 10, up to 10 arguments) at 64..256 tokens (LRA: 500..2000, --min-len / --seq-len)",
            new ListOpsTask(), ListOpsOptions, ListOpsTarget,
            json => json.Deserialize<ListOpsTask>()),
    ];

    /// <summary>ListOps' training defaults: minutes on a 2-core CPU at the default lengths.</summary>
    private static TrainingOptions ListOpsOptions => new(Steps: 1500, BatchSize: 32, LearningRate: 2e-3,
        WarmupSteps: 100, EvalEvery: 100, EvalExamples: 512);

    /// <summary>ListOps' target accuracy: above the majority class of the generator's values (about 1/4, MAX and MIN
    /// pull towards 9 and 0) by a margin a short CPU run can show; LRA's Transformer reached 36.4% at 2000 tokens.</summary>
    private const double ListOpsTarget = 0.35;

    /// <summary>The pointer tasks' training defaults: minutes on a 2-core CPU with the default pointer network.</summary>
    private static TrainingOptions PointerOptions => new(Steps: 2000, BatchSize: 128, LearningRate: 1e-3,
        MinimumLearningRate: 1e-4, WarmupSteps: 100, WeightDecay: 0.0, GradientClipNorm: 2.0, EvalEvery: 250,
        EvalExamples: 1000, EarlyStopAccuracy: 1.01);

    public static TaskDefinition Default => All[0];

    /// <summary>The seq2seq tasks' defaults: sized for a few minutes on a 2-core CPU.</summary>
    private static TrainingOptions Seq2SeqOptions => new(Steps: 1500, BatchSize: 64, LearningRate: 3e-3,
        WarmupSteps: 50, EvalEvery: 100, EvalExamples: 512);

    /// <summary>The task called <paramref name="name"/>; an <see cref="ArgumentException"/> listing the names when
    /// there is none.</summary>
    public static TaskDefinition Get(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException(
            $"task: expected one of {string.Join(", ", All.Select(t => t.Name))}, got '{name}'.", nameof(name));

    /// <summary>The task's config as JSON (its concrete record type), as stored in checkpoints.</summary>
    public static JsonElement ToJson(ITask task) => JsonSerializer.SerializeToElement(task, task.GetType());

    /// <summary>Reads the config of task <paramref name="name"/> from <paramref name="json"/> and validates it.</summary>
    public static ITask FromJson(string name, JsonElement json)
    {
        var task = Get(name).ReadConfig(json) ?? throw new InvalidDataException($"The {name} task config is empty.");
        task.Validate();
        return task;
    }
}
