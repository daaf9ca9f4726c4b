using HybridSeq.Models;
using HybridSeq.Models.Tasks;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli.Commands;

/// <summary>`hybridseq tasks`: the tasks `train` accepts and the model families of `--model`, with their defaults.</summary>
public sealed class TasksCommand(IAnsiConsole console) : Command<TasksCommand.Settings>
{
    public sealed class Settings : CommandSettings;

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var tasks = new Table().AddColumn("task").AddColumn("description").AddColumn("defaults");
        foreach (var task in TaskRegistry.All)
            tasks.AddRow(new Text(task.Name + (task == TaskRegistry.Default ? " (default)" : "")),
                new Text(task.Description),
                new Text($"{TrainCommand.Describe(task.Default)}; {task.DefaultOptions.Steps} steps, batch {task.DefaultOptions.BatchSize}, lr {task.DefaultOptions.LearningRate}, target {TargetText(task)}, model {task.DefaultModel}"));
        console.Write(tasks);

        var models = new Table().AddColumn("model").AddColumn("tasks").AddColumn("description").AddColumn("defaults");
        foreach (var family in ModelFamilies.All)
        {
            // The defaults for the first registered task the family trains on (they depend on its vocabulary).
            var example = TaskRegistry.All.FirstOrDefault(t => family.Supports(t.Default));
            var trained = TaskRegistry.All.Where(t => family.Supports(t.Default)).Select(t => t.Name);
            models.AddRow(new Text(family.Name + (family.Name == ModelFamilies.Mamba ? " (default)" : "")),
                new Text(string.Join(", ", trained)), new Text(family.Description),
                new Text(example is null ? "" : $"{TrainCommand.Describe(family.DefaultConfig(example.Default))} (for {example.Name})"));
        }
        console.Write(models);
        return HybridSeqApp.ExitSuccess;
    }

    private static string TargetText(TaskDefinition task) => task.Default.Metrics[0].IsFraction
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{100 * task.DefaultTargetAccuracy:0.#}% {task.Default.Metrics[0].Description}")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{task.DefaultTargetAccuracy} {task.Default.Metrics[0].Description}");
}
