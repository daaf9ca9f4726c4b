using HybridSeq.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;

namespace HybridSeq.Cli;

/// <summary>
/// The `hybridseq` command line. Exit codes: 0 success, 1 error (bad option, missing file, no CUDA, ...),
/// 2 training finished below its accuracy target.
/// </summary>
public static class HybridSeqApp
{
    public const int ExitSuccess = 0;
    public const int ExitError = 1;
    public const int ExitBelowTarget = 2;

    /// <summary>Builds the app. <paramref name="console"/> receives all output (tests pass a recording one);
    /// null means the process console.</summary>
    public static CommandApp Create(IAnsiConsole? console = null)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("hybridseq");
            config.UseAssemblyInformationalVersion();
            // An unknown option (a typo such as --step for --steps) is an error, never silently ignored.
            config.UseStrictParsing();
            if (console is not null) config.ConfigureConsole(console);
            config.AddCommand<InfoCommand>("info")
                .WithDescription("Versions, native backend and CUDA devices.");
            config.AddCommand<TasksCommand>("tasks")
                .WithDescription("The tasks `train` accepts and the model families of --model, with their defaults.");
            config.AddCommand<TrainCommand>("train")
                .WithDescription("Train a model (default: a small Mamba) on a task (default: selective copying) and report held-out accuracy per length.")
                .WithExample("train")
                .WithExample("train", "induction-heads", "--model", "lstm")
                .WithExample("train", "--steps", "500", "--device", "cpu", "--out", "runs/quick")
                .WithExample("train", "--resume", "--out", "runs/quick");
            config.AddCommand<EvalCommand>("eval")
                .WithDescription("Held-out token accuracy of a checkpoint at every evaluation length of its task.")
                .WithExample("eval", "--checkpoint", "runs/selective-copying/model.ckpt");
            config.AddCommand<GenerateCommand>("generate")
                .WithDescription("Step-mode decoding of a fresh example of the checkpoint's task: greedy at the answer positions, or beam search, diverse beam search or sampling of a prompt's continuation.")
                .WithExample("generate", "--checkpoint", "runs/selective-copying/model.ckpt")
                .WithExample("generate", "--checkpoint", "runs/selective-copying/model.ckpt", "--beam", "5", "--n-best", "3")
                .WithExample("generate", "--checkpoint", "runs/selective-copying/model.ckpt", "--beam", "6", "--groups", "3", "--diversity", "0.5", "--n-best", "2")
                .WithExample("generate", "--checkpoint", "runs/selective-copying/model.ckpt", "--sample", "--temperature", "0.8", "--top-p", "0.9", "--seed", "1", "--n-best", "4");
            // Every failure (bad option value, missing file, CUDA unavailable, native error) ends here: one clear
            // line, no stack trace, a non-zero exit code.
            config.SetExceptionHandler((exception, _) =>
            {
                var target = console ?? AnsiConsole.Console;
                target.MarkupLineInterpolated($"[red]error:[/] {Describe(exception)}");
                return ExitError;
            });
        });
        return app;
    }

    /// <summary>The message of an exception and of its inner exceptions that add something.</summary>
    private static string Describe(Exception exception)
    {
        var messages = new List<string>();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (!messages.Any(m => m.Contains(e.Message, StringComparison.Ordinal))) messages.Add(e.Message);
        }
        return string.Join(" ", messages);
    }
}
