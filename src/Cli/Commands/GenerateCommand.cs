using System.ComponentModel;
using HybridSeq.Models;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace HybridSeq.Cli.Commands;

/// <summary>
/// `hybridseq generate --checkpoint FILE`: draws a fresh example of the checkpoint's task, feeds it to the model
/// token by token (step mode, the recurrent path) and takes the arg-max at each answer position; prints input,
/// expected and produced answers. Loads the model only.
/// </summary>
public sealed class GenerateCommand(IAnsiConsole console) : Command<GenerateCommand.Settings>
{
    public sealed class Settings : CheckpointSettings
    {
        [CommandOption("--seed <N>")]
        [Description("Seed of the example. Default: a new one each run.")]
        public int? Seed { get; init; }

        [CommandOption("--length <N>")]
        [Description("Length of the example. Default: the task's training length.")]
        public int? Length { get; init; }

        public override ValidationResult Validate()
        {
            if (Length is <= 0) return ValidationResult.Error($"--length must be a positive integer, got {Length}.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var device = DeviceOption.Resolve(settings.Device);
        var (metadata, model) = RunCheckpoint.LoadModel(settings.Checkpoint, device);
        using (model)
        {
            if (metadata.ReadTask() is not ISequenceTask task || model is not LanguageModel languageModel)
                throw new InvalidOperationException(
                    $"generate decodes token tasks with a language model; the checkpoint {settings.Checkpoint} holds a {metadata.ModelFamily} model on {metadata.TaskName} ({metadata.TaskKind}): use eval.");
            int seed = settings.Seed ?? Random.Shared.Next();
            var example = task.SampleExamples(1, seed, settings.Length)[0];

            using var scope = NewDisposeScope();
            var inputs = tensor(example.Inputs, [1, example.Inputs.Length], ScalarType.Int64).to(device);
            long[] produced = task.DecodeAnswers(languageModel, inputs).cpu().data<long>().ToArray();
            int correct = example.Answer.Zip(produced).Count(pair => pair.First == pair.Second);

            var render = Renderer(task);
            console.MarkupLineInterpolated($"example seed {seed}, length {example.Inputs.Length}; {render.Legend}");
            console.MarkupLineInterpolated($"input:    {render.Render(example.Inputs)}");
            console.MarkupLineInterpolated($"expected: {render.Render(example.Answer)}");
            console.MarkupLineInterpolated($"produced: {render.Render(produced)}");
            console.MarkupLineInterpolated($"{correct}/{example.Answer.Length} answer tokens correct");
            return HybridSeqApp.ExitSuccess;
        }
    }

    private sealed record TokenRenderer(string Legend, Func<IEnumerable<long>, string> Render);

    /// <summary>One character per token where the vocabulary fits the alphabet, else space-separated ids.</summary>
    private static TokenRenderer Renderer(ISequenceTask task) => task switch
    {
        SelectiveCopyingTask copying => new("blank '.', marker '|', data tokens A, B, ...", tokens =>
        {
            bool letters = copying.DataVocabulary <= 26;
            return string.Join(letters ? "" : " ", tokens.Select(token =>
                token == SelectiveCopyingTask.BlankToken ? "."
                : token == copying.MarkerToken ? "|"
                : letters && token >= 1 && token <= copying.DataVocabulary ? ((char)('A' + token - 1)).ToString()
                : token.ToString()));
        }),
        InductionHeadsTask induction => new("trigger '|', other tokens a, b, ...", tokens =>
        {
            bool letters = induction.VocabularySize - 1 <= 26;
            return string.Join(letters ? "" : " ", tokens.Select(token =>
                token == induction.TriggerToken ? "|"
                : letters ? ((char)('a' + token)).ToString()
                : token.ToString()));
        }),
        _ => new("token ids", tokens => string.Join(" ", tokens)),
    };
}
