// Loads a trained Mamba checkpoint and generates step by step through the step contract (one token at a time, the
// recurrent path), checking at every answer position that the step-mode logits equal the full forward's. Built from
// the HybridSeq NuGet packages (samples/).
//
//   dotnet run --project samples/MambaGeneration -- --checkpoint runs/selective-copying/model.ckpt
//   dotnet run --project samples/MambaGeneration -- --out DIR [--steps N]
//
// With --checkpoint it loads that file (for example one that `hybridseq train` wrote). Without, it first trains a
// tiny Mamba on a small selective-copying task for --steps steps and saves it as DIR/model.ckpt, so it needs no
// artefact. The default 150 steps make a checkpoint to demonstrate loading and decoding with, not a model that
// solves the task (that takes thousands of steps; `hybridseq train` trains one and stops at 99%). It also writes
// DIR/example.json, one example and the next token the model predicts after it, which the prediction API's test
// (run-samples.sh) checks against.
// Exit codes: 0 success, 1 bad arguments or an error (a damaged checkpoint names the file), 3 step mode and full
// forward disagree.
using System.Text.Json;
using HybridSeq.Managed;
using HybridSeq.Models;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using static TorchSharp.torch;

CpuThreading.ApplyWaitPolicyDefault();  // first thing: bounds OpenMP spinning before libtorch loads its pool

string? checkpoint = null;
string outDirectory = Path.Combine(Path.GetTempPath(), "hybridseq-mamba-sample");
int steps = 150;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--checkpoint" when i + 1 < args.Length:
            checkpoint = args[++i];
            break;
        case "--out" when i + 1 < args.Length:
            outDirectory = args[++i];
            break;
        case "--steps" when i + 1 < args.Length && int.TryParse(args[i + 1], out int n) && n > 0:
            steps = n;
            i++;
            break;
        default:
            Console.Error.WriteLine(
                $"unknown or incomplete argument '{args[i]}'; usage: [--checkpoint FILE] [--out DIR] [--steps N (positive)]");
            return 1;
    }
}
Directory.CreateDirectory(outDirectory);

if (checkpoint is null)
{
    // A small selective-copying task (4 data tokens among 16 positions, 4 data symbols) and a tiny Mamba.
    var task = new SelectiveCopyingTask(RegionLength: 16, DataTokenCount: 4, DataVocabulary: 4);
    var config = new MambaConfig(task.VocabularySize, ModelDimension: 32, Layers: 2, StateDimension: 8);
    var options = new TrainingOptions(Steps: steps, BatchSize: 32, LearningRate: 5e-3, WarmupSteps: 20,
        EvalEvery: steps, EvalExamples: 256);
    checkpoint = RunCheckpoint.PathIn(outDirectory);
    using var trainer = new Trainer(config, task, options, CPU);
    Console.WriteLine($"no --checkpoint: training a tiny Mamba ({trainer.Model.parameters().Sum(p => p.numel())} " +
                      $"parameters) on selective copying for {steps} steps");
    var clock = System.Diagnostics.Stopwatch.StartNew();
    for (int step = 1; step <= steps; step++)
    {
        double loss = trainer.TrainStep();
        if (step % 100 == 0 || step == 1) Console.WriteLine($"step {step,4}: loss {loss:F4}");
    }
    Console.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F1} s; held-out token accuracy {trainer.EvaluateAccuracy():P1}");
    trainer.SaveCheckpoint(checkpoint);
    Console.WriteLine($"saved {checkpoint}");
}

try
{
    var (metadata, model) = RunCheckpoint.LoadLanguageModel(checkpoint, CPU);
    using (model)
    {
        if (metadata.ReadTask() is not ISequenceTask task)
            throw new InvalidDataException($"{checkpoint}: expected a token task, got {metadata.TaskName} ({metadata.TaskKind}).");
        Console.WriteLine($"loaded {checkpoint}: {metadata.ModelFamily} model, task {task.Name}, trained " +
                          $"{metadata.CompletedSteps} steps");
        var example = task.SampleExamples(1, seed: 2024)[0];
        int length = example.Inputs.Length, answers = example.Answer.Length;

        using var scope = NewDisposeScope();
        var inputs = tensor(example.Inputs, [1, length], ScalarType.Int64);
        Tensor fullLogits;
        using (no_grad()) fullLogits = model.forward(inputs);   // (1, L, V)

        // Step by step: one token per Step, each returning the next token's logits and a NEW state (the old one
        // stays valid until disposed; see IDecodingState).
        IDecodingState state = model.InitialState(1);
        var produced = new List<long>();
        double largestDifference = 0;
        long nextToken = -1;
        for (int t = 0; t < length; t++)
        {
            var (logits, next) = model.Step(inputs[.., t], state);
            state.Dispose();
            state = next;
            largestDifference = Math.Max(largestDifference, (logits - fullLogits[.., t]).abs().max().item<float>());
            long argmax = logits.argmax(-1).item<long>();
            if (t >= length - answers) produced.Add(argmax);
            if (t == length - 1) nextToken = argmax;
            Console.Write(t >= length - answers ? $"[{argmax}]" : $"{example.Inputs[t]} ");
        }
        state.Dispose();
        Console.WriteLine();
        int correct = produced.Zip(example.Answer).Count(pair => pair.First == pair.Second);
        Console.WriteLine($"expected answers: {string.Join(' ', example.Answer)}; produced: {string.Join(' ', produced)} " +
                          $"({correct}/{answers} correct)");
        Console.WriteLine($"largest |step-mode logits - full-forward logits|: {largestDifference:E2}");

        // The greedy decoder of the library gives the same continuation as the hand-written loop above.
        long greedy = GreedyDecoding.Generate(model, inputs, steps: 1)[0, 0].item<long>();
        if (largestDifference > 1e-3 || greedy != nextToken)
        {
            Console.Error.WriteLine($"FAILED: step mode and full forward disagree (difference {largestDifference}, " +
                                    $"greedy next token {greedy}, step loop {nextToken})");
            return 3;
        }
        string examplePath = Path.Combine(outDirectory, "example.json");
        File.WriteAllText(examplePath, JsonSerializer.Serialize(new { tokens = new[] { example.Inputs }, nextToken }));
        Console.WriteLine($"wrote {examplePath}");
        Console.WriteLine("OK: generated step by step; step mode equals the full forward");
        return 0;
    }
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
