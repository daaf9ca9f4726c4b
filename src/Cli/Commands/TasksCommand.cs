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
                new Text($"{TrainCommand.Describe(task.Default)}; {task.DefaultOptions.Steps} steps, batch {task.DefaultOptions.BatchSize}, lr {task.DefaultOptions.LearningRate}, target {100 * task.DefaultTargetAccuracy:0.#}%"));
        console.Write(tasks);

        var models = new Table().AddColumn("model").AddColumn("description").AddColumn("defaults");
        foreach (var family in ModelFamilies.All)
            models.AddRow(new Text(family.Name + (family.Name == ModelFamilies.Mamba ? " (default)" : "")),
                new Text(family.Description), new Text(TrainCommand.Describe(family.DefaultConfig(16))));
        console.Write(models);
        return HybridSeqApp.ExitSuccess;
    }
}
