using System.ComponentModel;
using HybridSeq.Models;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace HybridSeq.Cli.Commands;

/// <summary>
/// `hybridseq generate --checkpoint FILE`: draws a fresh selective-copying example, feeds it to the model token by
/// token (step mode, the recurrent path) and takes the arg-max at each marker; prints input, expected and produced
/// answers.
/// </summary>
public sealed class GenerateCommand(IAnsiConsole console) : Command<GenerateCommand.Settings>
{
    public sealed class Settings : CheckpointSettings
    {
        [CommandOption("--seed <N>")]
        [Description("Seed of the example (default: a new one each run).")]
        public int? Seed { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var trainer = Trainer.LoadCheckpoint(settings.Checkpoint, DeviceOption.Resolve(settings.Device));
        var task = trainer.Task;
        int seed = settings.Seed ?? Random.Shared.Next();
        var example = task.SampleExamples(1, seed)[0];

        using var scope = NewDisposeScope();
        var inputs = tensor(example.Inputs, [1, task.SequenceLength], ScalarType.Int64).to(trainer.Device);
        long[] produced = task.DecodeAnswers(trainer.Model, inputs).cpu().data<long>().ToArray();
        int correct = example.Answer.Zip(produced).Count(pair => pair.First == pair.Second);

        console.MarkupLineInterpolated($"example seed {seed}; blank '.', marker '|', data tokens A, B, ...");
        console.MarkupLineInterpolated($"input:    {Render(task, example.Inputs)}");
        console.MarkupLineInterpolated($"expected: {Render(task, example.Answer)}");
        console.MarkupLineInterpolated($"produced: {Render(task, produced)}");
        console.MarkupLineInterpolated($"{correct}/{example.Answer.Length} answer tokens correct");
        return HybridSeqApp.ExitSuccess;
    }

    /// <summary>One character per token when the data vocabulary fits the alphabet, else space-separated ids.</summary>
    private static string Render(SelectiveCopyingTask task, IEnumerable<long> tokens)
    {
        bool letters = task.DataVocabulary <= 26;
        return string.Join(letters ? "" : " ", tokens.Select(token =>
            token == SelectiveCopyingTask.BlankToken ? "."
            : token == task.MarkerToken ? "|"
            : letters && token >= 1 && token <= task.DataVocabulary ? ((char)('A' + token - 1)).ToString()
            : token.ToString()));
    }
}
