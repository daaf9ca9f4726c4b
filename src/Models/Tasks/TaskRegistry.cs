using System.Text.Json;
using HybridSeq.Models.Training;

namespace HybridSeq.Models.Tasks;

/// <summary>One task of the registry: its name, a one-line description, its default config, training options and
/// accuracy target (sized to learn within a few minutes on a 2-core CPU with the default Mamba), and how to read
/// its config back from a checkpoint's JSON.</summary>
public sealed record TaskDefinition(
    string Name,
    string Description,
    ISequenceTask Default,
    TrainingOptions DefaultOptions,
    double DefaultTargetAccuracy,
    Func<JsonElement, ISequenceTask?> ReadConfig);

/// <summary>The registry of tasks: selective-copying (the default) and induction-heads.</summary>
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
    ];

    public static TaskDefinition Default => All[0];

    /// <summary>The task called <paramref name="name"/>; an <see cref="ArgumentException"/> listing the names when
    /// there is none.</summary>
    public static TaskDefinition Get(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException(
            $"task: expected one of {string.Join(", ", All.Select(t => t.Name))}, got '{name}'.", nameof(name));

    /// <summary>The task's config as JSON (its concrete record type), as stored in checkpoints.</summary>
    public static JsonElement ToJson(ISequenceTask task) => JsonSerializer.SerializeToElement(task, task.GetType());

    /// <summary>Reads the config of task <paramref name="name"/> from <paramref name="json"/> and validates it.</summary>
    public static ISequenceTask FromJson(string name, JsonElement json)
    {
        var task = Get(name).ReadConfig(json) ?? throw new InvalidDataException($"The {name} task config is empty.");
        task.Validate();
        return task;
    }
}
