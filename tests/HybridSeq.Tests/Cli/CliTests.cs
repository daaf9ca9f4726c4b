using HybridSeq.Cli;
using HybridSeq.Managed;
using HybridSeq.Models;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using NUnit.Framework;
using Spectre.Console;

namespace HybridSeq.Tests.Cli;

/// <summary>The `hybridseq` command line, run in-process through the Spectre CommandApp with a recording console.</summary>
[TestFixture]
public sealed class CliTests
{
    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        // Wide enough that no message is wrapped: assertions look for whole sentences.
        console.Profile.Width = 400;
        int exitCode = HybridSeqApp.Create(console).Run(args);
        return (exitCode, writer.ToString());
    }

    [Test]
    public void InfoPrintsTheNativeVersionAndTorchSharp()
    {
        var (exitCode, output) = Run("info");
        Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
        Assert.That(output, Does.Contain(Native.VersionString));
        Assert.That(output, Does.Contain("CUDA compiled").And.Contain("TorchSharp").And.Contain("torch.cuda.is_available()"));
    }

    [TestCase(new[] { "train", "--steps", "0" }, "--steps must be a positive integer, got 0.")]
    [TestCase(new[] { "train", "--device", "gpu" }, "--device must be 'cpu' or 'cuda', got 'gpu'.")]
    [TestCase(new[] { "train", "--seq-len", "15", "--data-tokens", "8" }, "--seq-len must be at least 2 x --data-tokens = 16")]
    [TestCase(new[] { "train", "--lr", "-1" }, "--lr must be a positive number, got -1.")]
    [TestCase(new[] { "train", "--steps", "many" }, "many")]
    [TestCase(new[] { "eval" }, "--checkpoint <FILE> is required")]
    [TestCase(new[] { "eval", "--checkpoint", "/nonexistent/model.ckpt" }, "--checkpoint: no file at '/nonexistent/model.ckpt'.")]
    [TestCase(new[] { "frobnicate" }, "frobnicate")]
    [TestCase(new[] { "train", "copying" }, "unknown task 'copying'; expected one of selective-copying, induction-heads, reverse, sort, addition, ar-synthetic, convex-hull, delaunay, tsp, sort-numbers, adding, copy-memory, vanilla-copying, listops.")]
    [TestCase(new[] { "train", "--model", "transformer" }, "--model must be one of mamba, lstm, gru, slstm, seq2seq, arnet, ptrnet, rpw, tcn, wavenet, tcnca, s4d, s4, lssl, got 'transformer'.")]
    [TestCase(new[] { "train", "reverse", "--model", "mamba" }, "--model mamba does not train on seq2seq tasks such as reverse; models for reverse: seq2seq.")]
    [TestCase(new[] { "train", "--model", "seq2seq" }, "--model seq2seq does not train on tokens tasks such as selective-copying; models for selective-copying: mamba, lstm, gru, slstm, tcn, wavenet, tcnca, s4d, s4, lssl.")]
    [TestCase(new[] { "train", "sort", "--attention", "cosine" }, "--attention must be additive, dot, general or none, got 'cosine'.")]
    [TestCase(new[] { "train", "induction-heads", "--model", "lstm", "--reverse-source" }, "--attention, --reverse-source and --cell apply to the seq2seq family only, not lstm.")]
    [TestCase(new[] { "train", "addition", "--seq-len", "8" }, "--seq-len does not apply to addition")]
    [TestCase(new[] { "train", "reverse", "--min-len", "6", "--seq-len", "5" }, "--seq-len (the longest source) must be at least --min-len = 6, got 5.")]
    [TestCase(new[] { "train", "addition", "--digits", "18" }, "--digits must be at most 17")]
    [TestCase(new[] { "train", "reverse", "--heads", "2" }, "--heads applies to the recurrent families (lstm, gru, slstm) and tcnca, not seq2seq.")]
    [TestCase(new[] { "train", "--model", "lstm", "--d-state", "8" }, "--d-state applies to the state-space families (mamba, s4d, s4, lssl) only, not lstm.")]
    [TestCase(new[] { "train", "--model", "s4d", "--d-state", "7" }, "--d-state must be even for s4d (N/2 conjugate pairs), got 7.")]
    [TestCase(new[] { "train", "--model", "lstm", "--mixer", "s4d" }, "--mixer applies to the mamba family only, not lstm.")]
    [TestCase(new[] { "train", "--mixer", "s6" }, "--mixer must be selective or s4d, got 's6'.")]
    [TestCase(new[] { "train", "--mixer", "s4d", "--d-state", "5" }, "--d-state must be even with --mixer s4d (N/2 conjugate pairs), got 5.")]
    [TestCase(new[] { "train", "--heads", "2" }, "--heads applies to the recurrent families")]
    [TestCase(new[] { "train", "induction-heads", "--data-tokens", "4" }, "--data-tokens and --data-vocab apply to selective-copying and vanilla-copying only, not induction-heads.")]
    [TestCase(new[] { "train", "vanilla-copying", "--seq-len", "15", "--data-tokens", "8" }, "--seq-len must be at least 2 x --data-tokens = 16")]
    [TestCase(new[] { "train", "reverse", "--max-depth", "5" }, "--max-depth and --max-args apply to listops only, not reverse.")]
    [TestCase(new[] { "train", "listops", "--min-len", "300" }, "listops: MaxLength must be at least MinLength = 300, got 256.")]
    [TestCase(new[] { "train", "listops", "--max-depth", "3", "--max-args", "2", "--min-len", "20" }, "listops: MinLength must be at most 10, the longest expression of depth 3 with at most 2 arguments, got 20.")]
    [TestCase(new[] { "train", "listops", "--max-args", "1" }, "listops: MaxArguments must be at least 2")]
    [TestCase(new[] { "train", "listops", "--model", "seq2seq" }, "--model seq2seq does not train on classification tasks such as listops; models for listops: mamba, lstm, gru, slstm, tcn, wavenet, tcnca, s4d, s4, lssl.")]
    [TestCase(new[] { "train", "--max-eval-len", "256" }, "--max-eval-len applies to induction-heads only")]
    [TestCase(new[] { "train", "--model", "lstm", "--d-model", "10", "--heads", "4" }, "Heads must divide ModelDimension = 10, got 4.")]
    [TestCase(new[] { "train", "--resume", "--overwrite" }, "--resume and --overwrite exclude each other")]
    [TestCase(new[] { "train", "--resume", "--lr", "0.1" }, "--lr cannot be combined with --resume")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "2", "--sample" }, "--beam and --sample exclude each other")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "0" }, "--beam must be a positive integer, got 0.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--top-p", "0.9" }, "--top-p applies to --sample only.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--groups", "2" }, "--groups applies to --beam only.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--n-best", "2" }, "--n-best applies to --beam or --sample only.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "4", "--groups", "3" }, "--groups must divide --beam = 4, got 3.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "4", "--n-best", "5" }, "--n-best must be at most the beams per group (4), got 5.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "4", "--diversity", "-1" }, "--diversity must be a finite number >= 0, got -1.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "4", "--diversity-kind", "jaccard" }, "--diversity-kind must be 'hamming' or 'cumulative', got 'jaccard'.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--sample", "--top-p", "1.5" }, "--top-p must be in (0, 1], got 1.5.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--sample", "--temperature", "0" }, "--temperature must be a finite number > 0, got 0.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "2", "--prompt", "1 x" }, "--prompt must be token ids (non-negative integers) separated by spaces or commas, got 'x' in '1 x'.")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "2", "--min-tokens", "1" }, "--min-tokens needs --end-token")]
    [TestCase(new[] { "generate", "--checkpoint", "m.ckpt", "--beam", "2", "--temprature", "1" }, "temprature")]
    [TestCase(new[] { "train", "--n-max", "9" }, "--n-min, --n-max and --eval-n apply to the pointer tasks")]
    [TestCase(new[] { "train", "--eval-examples", "0" }, "--eval-examples must be a positive integer, got 0.")]
    [TestCase(new[] { "train", "tsp", "--process-steps", "3" }, "--process-steps applies to the rpw family only, not ptrnet.")]
    [TestCase(new[] { "train", "sort-numbers", "--process-steps", "-1" }, "--process-steps must be zero or more, got -1.")]
    [TestCase(new[] { "train", "tsp", "--eval-n", "5,x" }, "--eval-n must be comma-separated positive integers (e.g. 5,10,20), got '5,x'.")]
    [TestCase(new[] { "train", "tsp", "--n-max", "60" }, "tsp: MaxSize must be in [MinSize = 5, 50], got 60.")]
    [TestCase(new[] { "train", "convex-hull", "--model", "lstm" }, "--model lstm does not train on pointer tasks such as convex-hull; models for convex-hull: ptrnet, rpw.")]
    [TestCase(new[] { "train", "--model", "rpw" }, "--model rpw does not train on tokens tasks such as selective-copying")]
    [TestCase(new[] { "train", "adding", "--length", "1" }, "--length must be at least 2 for adding (one marked step in each half), got 1.")]
    [TestCase(new[] { "train", "copy-memory", "--length", "0" }, "--length must be a positive integer, got 0.")]
    [TestCase(new[] { "train", "--length", "100" }, "--length applies to adding and copy-memory only, not selective-copying.")]
    [TestCase(new[] { "train", "adding", "--seq-len", "100" }, "--seq-len does not apply to adding (its size is --length T).")]
    [TestCase(new[] { "train", "adding", "--model", "lstm", "--kernel-size", "3" }, "--kernel-size and --dropout apply to the convolutional families (tcn, wavenet, tcnca), not lstm.")]
    [TestCase(new[] { "train", "adding", "--kernel-size", "0" }, "--kernel-size must be a positive integer, got 0.")]
    [TestCase(new[] { "train", "adding", "--dropout", "1" }, "--dropout must be in [0, 1), got 1.")]
    [TestCase(new[] { "train", "copy-memory", "--chunk-size", "8" }, "--chunk-size applies to the tcnca family only, not tcn.")]
    [TestCase(new[] { "train", "adding", "--model", "tcnca", "--chunk-size", "0" }, "--chunk-size must be a positive integer, got 0.")]
    [TestCase(new[] { "train", "adding", "--model", "seq2seq" }, "--model seq2seq does not train on regression tasks such as adding; models for adding: mamba, lstm, gru, slstm, tcn, wavenet, tcnca, s4d, s4, lssl.")]
    [TestCase(new[] { "train", "copy-memory", "--model", "tcnca", "--d-model", "10", "--heads", "4" }, "Heads must be at least 1 and divide ModelDimension = 10, got 4.")]
    public void BadArgumentsGiveAClearErrorAndANonZeroExit(string[] args, string expectedMessage)
    {
        var (exitCode, output) = Run(args);
        Assert.That(exitCode, Is.Not.EqualTo(HybridSeqApp.ExitSuccess), output);
        Assert.That(output, Does.Contain("error").IgnoreCase.And.Contain(expectedMessage));
        Assert.That(output, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void CudaWithoutAGpuFailsWithTheReason()
    {
        if (Native.CudaCompiled && Native.CudaDeviceCount > 0 && TorchSharp.torch.cuda.is_available())
            Assert.Ignore("A CUDA device is usable here; this test covers machines without one.");
        var (exitCode, output) = Run("train", "--device", "cuda", "--steps", "1");
        Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitError), output);
        Assert.That(output, Does.Contain("--device cuda:").And.Contain("use --device cpu"));
        Assert.That(output, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void TrainEvalAndGenerateRunEndToEnd()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var (trainExit, trainOutput) = Run("train", "--steps", "6", "--eval-every", "3", "--seq-len", "12",
                "--data-tokens", "2", "--data-vocab", "3", "--d-model", "8", "--layers", "1", "--d-state", "4",
                "--batch-size", "4", "--target", "0", "--out", directory);
            Assert.That(trainExit, Is.EqualTo(HybridSeqApp.ExitSuccess), trainOutput);
            Assert.That(trainOutput, Does.Match(@"held-out token accuracy: \d+\.\d% \(target 0%\)"));
            string checkpoint = Path.Combine(directory, "model.ckpt");
            Assert.That(File.Exists(checkpoint), Is.True, trainOutput);
            // The CLI draws the curve (the library keeps the data only): a PNG, without temporary files beside it.
            byte[] png = File.ReadAllBytes(Path.Combine(directory, "training-curve.png"));
            Assert.That(png[..4], Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
            Assert.That(Directory.GetFiles(directory).Select(Path.GetFileName),
                Is.EquivalentTo(new[] { "model.ckpt", "training-curve.png" }));

            var (evalExit, evalOutput) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(evalExit, Is.EqualTo(HybridSeqApp.ExitSuccess), evalOutput);
            Assert.That(evalOutput, Does.Contain("step 6").And.Match(@"held-out token accuracy: \d+\.\d%"));

            var (generateExit, generateOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "4");
            Assert.That(generateExit, Is.EqualTo(HybridSeqApp.ExitSuccess), generateOutput);
            // Region of 10 + 2 markers, rendered one character per token; answers of 2 tokens.
            Assert.That(generateOutput, Does.Match(@"input:    [.A-C]{10}\|\|\s").And.Match(@"expected: [A-C]{2}\s")
                .And.Match(@"produced: [.A-C|]{2}\s").And.Match(@"[0-2]/2 answer tokens correct"));
            AssertSearchesRun(checkpoint);

            var (belowExit, belowOutput) = Run("train", "--steps", "2", "--eval-every", "2", "--seq-len", "12",
                "--data-tokens", "2", "--d-model", "8", "--layers", "1", "--batch-size", "2", "--target", "100",
                "--overwrite", "--out", directory);
            Assert.That(belowExit, Is.EqualTo(HybridSeqApp.ExitBelowTarget), belowOutput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>`generate` with beam search, diverse beam search and sampling on a trained checkpoint (vocabulary 5:
    /// blank, data A-C, marker): the prompt is the example up to its first marker, the hypotheses are listed with
    /// scores; a value outside the model's vocabulary is a clear error.</summary>
    private static void AssertSearchesRun(string checkpoint)
    {
        const string line = @"\s+\d\. [.A-C|]{1,4}  \((group \d, )?score -?\d+\.\d{4}, log p -?\d+\.\d{4}, \d tokens, (end token|max tokens)\)";
        var (beamExit, beamOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "4", "--beam", "3", "--n-best", "3",
            "--max-tokens", "4", "--end-token", "4", "--min-tokens", "1");
        Assert.That(beamExit, Is.EqualTo(HybridSeqApp.ExitSuccess), beamOutput);
        Assert.That(beamOutput, Does.Match(@"prompt:   [.A-C]{10}\| \(11 tokens\)").And.Contain("beam search: 3 beams, length penalty α = 1; at most 4 tokens"));
        Assert.That(System.Text.RegularExpressions.Regex.Matches(beamOutput, line), Has.Count.EqualTo(3), beamOutput);

        var (diverseExit, diverseOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "4", "--beam", "4", "--groups", "2",
            "--diversity", "0.5", "--diversity-kind", "cumulative", "--n-best", "2", "--prompt", "1,2 3");
        Assert.That(diverseExit, Is.EqualTo(HybridSeqApp.ExitSuccess), diverseOutput);
        Assert.That(diverseOutput, Does.Contain("prompt:   ABC (3 tokens)").And.Contain("diverse beam search: 4 beams in 2 groups, cumulative diversity λ = 0.5"));
        Assert.That(System.Text.RegularExpressions.Regex.Matches(diverseOutput, line), Has.Count.EqualTo(4), diverseOutput);
        Assert.That(diverseOutput, Does.Contain("(group 0, ").And.Contain("(group 1, "));

        var (sampleExit, sampleOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "4", "--sample", "--temperature", "0.8",
            "--top-k", "3", "--top-p", "0.9", "--n-best", "5", "--max-tokens", "3");
        var (againExit, againOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "4", "--sample", "--temperature", "0.8",
            "--top-k", "3", "--top-p", "0.9", "--n-best", "5", "--max-tokens", "3");
        Assert.That(sampleExit, Is.EqualTo(HybridSeqApp.ExitSuccess), sampleOutput);
        Assert.That(againExit, Is.EqualTo(HybridSeqApp.ExitSuccess), againOutput);
        Assert.That(sampleOutput, Does.Contain("sampling: temperature 0.8, top-k 3, top-p 0.9, repetition penalty 1, seed 4"));
        Assert.That(System.Text.RegularExpressions.Regex.Matches(sampleOutput, line), Has.Count.EqualTo(5), sampleOutput);
        Assert.That(againOutput, Is.EqualTo(sampleOutput), "the same seed draws the same samples");

        var (badExit, badOutput) = Run("generate", "--checkpoint", checkpoint, "--beam", "2", "--end-token", "9");
        Assert.That(badExit, Is.EqualTo(HybridSeqApp.ExitError), badOutput);
        Assert.That(badOutput, Does.Contain("--end-token must be a token id in [0, 5) (the model's vocabulary), got 9."));
        var (badPromptExit, badPromptOutput) = Run("generate", "--checkpoint", checkpoint, "--sample", "--prompt", "1 7");
        Assert.That(badPromptExit, Is.EqualTo(HybridSeqApp.ExitError), badPromptOutput);
        Assert.That(badPromptOutput, Does.Contain("--prompt: token ids must be in [0, 5) (the model's vocabulary), got 7."));
    }

    /// <summary>A typo'd option is an error naming it, and nothing is written (strict parsing).</summary>
    [Test]
    public void AnUnknownOptionIsAnErrorAndWritesNothing()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            string output = Path.Combine(directory, "run");
            var (exitCode, text) = Run("train", "--step", "200", "--out", output);
            Assert.That(exitCode, Is.Not.EqualTo(HybridSeqApp.ExitSuccess), text);
            Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitError), text);
            Assert.That(text, Does.Contain("error").IgnoreCase.And.Contain("'step'"));
            Assert.That(Directory.Exists(output), Is.False, "no output folder was created");
            Assert.That(Directory.GetFileSystemEntries(directory), Is.Empty);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The S4 family trains on a token task, and its checkpoint evaluates and generates through the step
    /// contract (arg-max answers and beam search).</summary>
    [TestCase("s4d", "4")]
    [TestCase("s4", "4")]
    [TestCase("lssl", "3")]
    public void StateSpaceFamiliesTrainEvalAndGenerate(string family, string stateSize)
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var (trainExit, trainOutput) = Run("train", "selective-copying", "--model", family, "--steps", "4",
                "--eval-every", "2", "--seq-len", "12", "--data-tokens", "2", "--data-vocab", "3", "--d-model", "8",
                "--layers", "1", "--d-state", stateSize, "--batch-size", "4", "--target", "0", "--out", directory);
            Assert.That(trainExit, Is.EqualTo(HybridSeqApp.ExitSuccess), trainOutput);
            Assert.That(trainOutput, Does.Contain($"{family}: 1 layers, d_model 8, N {stateSize}")
                .And.Match(@"held-out token accuracy: \d+\.\d% \(target 0%\)"));
            string checkpoint = Path.Combine(directory, "model.ckpt");
            Assert.That(RunCheckpoint.ReadMetadata(checkpoint).ModelFamily, Is.EqualTo(family));

            var (evalExit, evalOutput) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(evalExit, Is.EqualTo(HybridSeqApp.ExitSuccess), evalOutput);
            Assert.That(evalOutput, Does.Contain("step 4").And.Match(@"held-out token accuracy: \d+\.\d%"));

            var (generateExit, generateOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "4");
            Assert.That(generateExit, Is.EqualTo(HybridSeqApp.ExitSuccess), generateOutput);
            Assert.That(generateOutput, Does.Match(@"[0-2]/2 answer tokens correct"));
            var (beamExit, beamOutput) = Run("generate", "--checkpoint", checkpoint, "--beam", "3", "--seed", "4");
            Assert.That(beamExit, Is.EqualTo(HybridSeqApp.ExitSuccess), beamOutput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static readonly string[] TinyRun =
    [
        "train", "--steps", "6", "--eval-every", "3", "--seq-len", "12", "--data-tokens", "2", "--data-vocab", "3",
        "--d-model", "8", "--layers", "1", "--d-state", "4", "--batch-size", "4", "--target", "0",
    ];

    /// <summary>A second `train` into a folder with a checkpoint refuses (exit 1, the checkpoint's bytes unchanged)
    /// unless --overwrite or --resume says what to do.</summary>
    [Test]
    public void TrainNeverReplacesAnExistingCheckpointSilently()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var (firstExit, firstOutput) = Run([.. TinyRun, "--out", directory]);
            Assert.That(firstExit, Is.EqualTo(HybridSeqApp.ExitSuccess), firstOutput);
            string checkpoint = Path.Combine(directory, "model.ckpt");
            byte[] before = File.ReadAllBytes(checkpoint);
            DateTime writtenAt = File.GetLastWriteTimeUtc(checkpoint);

            var (refusedExit, refusedOutput) = Run([.. TinyRun, "--seed", "9", "--out", directory]);
            Assert.That(refusedExit, Is.EqualTo(HybridSeqApp.ExitError), refusedOutput);
            Assert.That(refusedOutput, Does.Contain("already holds a checkpoint").And.Contain("--resume").And.Contain("--overwrite"));
            Assert.That(File.ReadAllBytes(checkpoint), Is.EqualTo(before), "the earlier checkpoint is untouched");
            Assert.That(File.GetLastWriteTimeUtc(checkpoint), Is.EqualTo(writtenAt));

            var (overwriteExit, overwriteOutput) = Run([.. TinyRun, "--seed", "9", "--overwrite", "--out", directory]);
            Assert.That(overwriteExit, Is.EqualTo(HybridSeqApp.ExitSuccess), overwriteOutput);
            Assert.That(RunCheckpoint.ReadMetadata(checkpoint).Options.Seed, Is.EqualTo(9), "replaced by the new run");

            var (missingExit, missingOutput) = Run("train", "--resume", "--out", Path.Combine(directory, "empty"));
            Assert.That(missingExit, Is.EqualTo(HybridSeqApp.ExitError), missingOutput);
            Assert.That(missingOutput, Does.Contain("--resume: no checkpoint to continue"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>`train --resume` continues an interrupted run to the same checkpoint as the uninterrupted run.</summary>
    [Test]
    public void ResumeContinuesAnInterruptedRunToTheSameResult()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            string straight = Path.Combine(directory, "straight"), interrupted = Path.Combine(directory, "interrupted");
            var (straightExit, straightOutput) = Run([.. TinyRun, "--out", straight]);
            Assert.That(straightExit, Is.EqualTo(HybridSeqApp.ExitSuccess), straightOutput);

            // The same run stopped after 4 of its 6 steps, as a Ctrl-C after the checkpoint would leave it.
            var task = new SelectiveCopyingTask(10, 2, 3);
            var options = TaskRegistry.Default.DefaultOptions with
            {
                Steps = 6, EvalEvery = 3, BatchSize = 4, MinimumLearningRate = 1e-4,
            };
            using (var trainer = new Trainer(new MambaConfig(task.VocabularySize, 8, 1, 4), task, options, TorchSharp.torch.CPU))
                Assert.That(trainer.Run(interrupted, stopAtStep: 4).Paused, Is.True);

            var (resumeExit, resumeOutput) = Run("train", "--resume", "--target", "0", "--out", interrupted);
            Assert.That(resumeExit, Is.EqualTo(HybridSeqApp.ExitSuccess), resumeOutput);
            Assert.That(resumeOutput, Does.Contain("at step 4").And.Contain("6 steps in"));

            var expected = RunCheckpoint.ReadMetadata(Path.Combine(straight, "model.ckpt"));
            var actual = RunCheckpoint.ReadMetadata(Path.Combine(interrupted, "model.ckpt"));
            Assert.That(actual.Options, Is.EqualTo(expected.Options), "the CLI's run and the interrupted run are the same run");
            Assert.That(actual.Losses, Is.EqualTo(expected.Losses));
            Assert.That(actual.Accuracies, Is.EqualTo(expected.Accuracies));
            Assert.That(File.ReadAllBytes(Path.Combine(interrupted, "model.ckpt")),
                Is.EqualTo(File.ReadAllBytes(Path.Combine(straight, "model.ckpt"))), "bit-identical checkpoints");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>`eval` of a damaged checkpoint: exit 1 and the store's message naming the file (checksum mismatch or
    /// truncation), no stack trace.</summary>
    [TestCase("corrupt")]
    [TestCase("truncated")]
    public void EvalOfADamagedCheckpointFailsNamingTheFile(string damage)
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var task = new SelectiveCopyingTask(10, 2, 3);
            var options = new TrainingOptions(Steps: 2, BatchSize: 2, WarmupSteps: 1, EvalEvery: 2, EvalExamples: 4);
            using (var trainer = new Trainer(new MambaConfig(task.VocabularySize, 8, 1, 4), task, options, TorchSharp.torch.CPU))
                trainer.Run(directory);
            string checkpoint = Path.Combine(directory, "model.ckpt");
            var (goodExit, goodOutput) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(goodExit, Is.EqualTo(HybridSeqApp.ExitSuccess), goodOutput);

            byte[] bytes = File.ReadAllBytes(checkpoint);
            if (damage == "corrupt")
                for (int i = bytes.Length / 2; i < bytes.Length / 2 + 4; i++) bytes[i] ^= 0xFF;
            else
                bytes = bytes[..(bytes.Length / 2)];
            File.WriteAllBytes(checkpoint, bytes);

            var (exitCode, output) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitError), output);
            Assert.That(output, Does.Contain("error:").And.Contain($"'{checkpoint}' is {damage}"));
            Assert.That(output, Does.Not.Contain("   at "), "no stack trace");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void InductionHeadsTrainsWithAnRnnAndReportsEveryLength()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var (exit, output) = Run("train", "induction-heads", "--model", "gru", "--steps", "2", "--eval-every", "2",
                "--seq-len", "8", "--max-eval-len", "32", "--d-model", "8", "--layers", "1", "--batch-size", "4",
                "--target", "0", "--out", directory);
            Assert.That(exit, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
            Assert.That(output, Does.Contain("gru: 1 layers, hidden 8").And.Contain("evaluated at 8, 32"));
            Assert.That(output, Does.Match(@"length     8 \(training\): accuracy \d+\.\d% full forward, \d+\.\d% step-mode decoding")
                .And.Match(@"length    32 \(4x\): accuracy \d+\.\d% full forward"));

            string checkpoint = Path.Combine(directory, "model.ckpt");
            var (evalExit, evalOutput) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(evalExit, Is.EqualTo(HybridSeqApp.ExitSuccess), evalOutput);
            Assert.That(evalOutput, Does.Contain("gru").And.Contain("step 2").And.Contain("length    32 (4x)"));

            var (generateExit, generateOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "3", "--length", "20");
            Assert.That(generateExit, Is.EqualTo(HybridSeqApp.ExitSuccess), generateOutput);
            // 20 tokens of the default vocabulary of 16: letters a-o, the trigger '|' once inside and once at the
            // end; one answer letter.
            Assert.That(generateOutput, Does.Match(@"input:    [a-o]*\|[a-o][a-o]*\|\s").And.Match(@"expected: [a-o]\s")
                .And.Match(@"produced: [a-o|]\s").And.Match(@"[01]/1 answer tokens correct"));
            Assert.That(generateOutput, Does.Match(@"input:    .{20}\s"), "20 tokens");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>ListOps (a classification task) through the CLI: train a tiny LSTM + mean-pooling head, eval reads the checkpoint,
    /// generate refuses it by name (no token stream to continue).</summary>
    [Test]
    public void ListOpsTrainsAClassifierAndEvaluatesItsAccuracy()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var (exit, output) = Run("train", "listops", "--model", "lstm", "--steps", "2", "--eval-every", "2",
                "--min-len", "8", "--seq-len", "24", "--max-depth", "4", "--max-args", "3", "--d-model", "8",
                "--layers", "1", "--batch-size", "4", "--eval-examples", "16", "--target", "0", "--out", directory);
            Assert.That(exit, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
            Assert.That(output, Does.Contain("lstm: 1 layers, hidden 8, 1 head(s); 16 token ids embedded, linear head at the mean over each sequence (10 output(s))")
                .And.Contain("listops: expressions of 8..24 tokens, depth up to 4, up to 3 arguments, 10 classes"));
            Assert.That(output, Does.Match(@"length    24 \(training\): accuracy \d+\.\d%, 16 examples"));

            string checkpoint = Path.Combine(directory, "model.ckpt");
            var (evalExit, evalOutput) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(evalExit, Is.EqualTo(HybridSeqApp.ExitSuccess), evalOutput);
            Assert.That(evalOutput, Does.Contain("lstm: 1 layers, hidden 8").And.Contain("step 2")
                .And.Match(@"held-out classification accuracy: \d+\.\d%"));

            var (generateExit, generateOutput) = Run("generate", "--checkpoint", checkpoint);
            Assert.That(generateExit, Is.Not.EqualTo(HybridSeqApp.ExitSuccess), generateOutput);
            Assert.That(generateOutput, Does.Contain("listops"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static readonly string[] TinySeq2SeqRun =
    [
        "train", "reverse", "--steps", "6", "--eval-every", "3", "--min-len", "2", "--seq-len", "4", "--d-model", "8",
        "--layers", "1", "--batch-size", "4", "--attention", "dot", "--reverse-source", "--target", "0",
    ];

    /// <summary>seq2seq through the CLI: train prints the task's metrics, eval and generate read the checkpoint, and a
    /// run paused after 4 of its 6 steps and resumed by `train --resume` ends in the same checkpoint bytes.</summary>
    [Test]
    public void Seq2SeqTrainsEvaluatesGeneratesAndResumesBitwise()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            string straight = Path.Combine(directory, "straight"), interrupted = Path.Combine(directory, "interrupted");
            var (exit, output) = Run([.. TinySeq2SeqRun, "--out", straight]);
            Assert.That(exit, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
            Assert.That(output, Does.Contain("seq2seq: lstm encoder and decoder, 1 layers, hidden 8").And.Contain("attention dot, source reversed")
                .And.Contain("reverse: sources of 2..4 digits (base 10)")
                .And.Match(@"length     4 \(training\): \d+\.\d% exact sequences, \d+\.\d% tokens, 512 examples")
                .And.Match(@"held-out exact-sequence accuracy: \d+\.\d% \(target 0%\)"));
            string checkpoint = Path.Combine(straight, "model.ckpt");
            var metadata = RunCheckpoint.ReadMetadata(checkpoint);
            Assert.That(metadata.TaskKind, Is.EqualTo(TaskKinds.Seq2Seq));
            Assert.That(metadata.MetricNames, Is.EqualTo(new[] { "exact-sequence-accuracy", "token-accuracy" }));

            var (evalExit, evalOutput) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(evalExit, Is.EqualTo(HybridSeqApp.ExitSuccess), evalOutput);
            Assert.That(evalOutput, Does.Contain("step 6").And.Match(@"held-out exact-sequence accuracy: \d+\.\d%")
                .And.Match(@"token accuracy: \d+\.\d%"));
            var (beamExit, beamOutput) = Run("eval", "--checkpoint", checkpoint, "--beam", "3");
            Assert.That(beamExit, Is.EqualTo(HybridSeqApp.ExitSuccess), beamOutput);
            Assert.That(beamOutput, Does.Contain("beam search, width 3:").And.Not.Contain("constrained")
                .And.Match(@"width 3:\s+length     4 \(training\): \d+\.\d% exact sequences"));
            var (beamGenerateExit, beamGenerateOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "2", "--beam", "2");
            Assert.That(beamGenerateExit, Is.EqualTo(HybridSeqApp.ExitSuccess), beamGenerateOutput);
            Assert.That(beamGenerateOutput, Does.Contain("beam search, 2 beams").And.Match(@"produced: [0-9+$^_]{1,6}\s"));
            var (generateExit, generateOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "2", "--length", "3");
            Assert.That(generateExit, Is.EqualTo(HybridSeqApp.ExitSuccess), generateOutput);
            Assert.That(generateOutput, Does.Match(@"source:   \d{3}\s").And.Match(@"expected: \d{3}\$\s")
                .And.Match(@"produced: [0-9+$^_]{1,5}\s").And.Match(@"exact; |not exact; "));

            var config = RunCheckpoint.ReadMetadata(checkpoint);
            using (var trainer = new Trainer(config.ReadModelConfig(), config.ReadTask(), config.Options, TorchSharp.torch.CPU))
                Assert.That(trainer.Run(interrupted, stopAtStep: 4).Paused, Is.True);
            var (resumeExit, resumeOutput) = Run("train", "--resume", "--target", "0", "--out", interrupted);
            Assert.That(resumeExit, Is.EqualTo(HybridSeqApp.ExitSuccess), resumeOutput);
            Assert.That(resumeOutput, Does.Contain("at step 4").And.Contain("6 steps in"));
            Assert.That(File.ReadAllBytes(Path.Combine(interrupted, "model.ckpt")), Is.EqualTo(File.ReadAllBytes(checkpoint)),
                "bit-identical checkpoints");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void TasksListsEveryTaskAndModelFamily()
    {
        var (exit, output) = Run("tasks");
        Assert.That(exit, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
        foreach (var name in new[] { "selective-copying", "induction-heads", "reverse", "sort", "addition", "convex-hull",
                     "delaunay", "tsp", "sort-numbers", "mamba", "lstm", "gru", "slstm", "seq2seq", "ptrnet", "rpw", "adding",
                     "copy-memory", "tcn", "wavenet", "tcnca", "vanilla-copying", "listops", "s4d", "s4",
                     "lssl" })
            Assert.That(output, Does.Contain(name));
    }

    [Test]
    public void TrainHelpShowsTheDefaults()
    {
        var (exit, output) = Run("train", "--help");
        Assert.That(exit, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
        // The help text states the registries' defaults (attributes need constants): it must not drift from them.
        var copying = TaskRegistry.Get(SelectiveCopyingTask.TaskName).DefaultOptions;
        var induction = TaskRegistry.Get(InductionHeadsTask.TaskName).DefaultOptions;
        string Invariant(double value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(output, Does.Contain("--model").And.Contain("Default: mamba").And.Contain("Default: selective-copying")
            .And.Contain($"Default: {copying.Steps} (selective-copying), {induction.Steps} (induction-heads)")
            .And.Contain($"Default: {Invariant(copying.LearningRate)} (selective-copying), {Invariant(induction.LearningRate)} (induction-heads)")
            .And.Contain($"Default: {copying.BatchSize}").And.Contain($"Default: {new InductionHeadsTask().MaxEvaluationLength}")
            .And.Contain("--resume").And.Contain("--overwrite"));
        Assert.That(induction.BatchSize, Is.EqualTo(copying.BatchSize), "--batch-size states one default for both");
    }

    /// <summary>The task argument's help names, for the backbone tasks, exactly the families the registry lets train
    /// on them (attributes need constants, so the text is written by hand and must not drift).</summary>
    [Test]
    public void TrainHelpNamesEveryFamilyOfTheBackboneTasks()
    {
        var property = typeof(HybridSeq.Cli.Commands.TrainCommand.Settings).GetProperty(nameof(HybridSeq.Cli.Commands.TrainCommand.Settings.TaskName))!;
        string help = ((System.ComponentModel.DescriptionAttribute)Attribute.GetCustomAttribute(property,
            typeof(System.ComponentModel.DescriptionAttribute))!).Description;
        foreach (var task in new[] { "adding", "copy-memory", "listops" })
        {
            string families = string.Join(", ", ModelFamilies.Supporting(TaskRegistry.Get(task).Default).Select(f => f.Name));
            Assert.That(help, Does.Contain($"adding, copy-memory, listops (every sequence family: {families})"), task);
        }
    }

    /// <summary>The TCN paper's tasks train from the command line with a convolutional and a recurrent family: the
    /// model line states the receptive field, the table every metric of the task.</summary>
    [Test]
    public void AddingAndCopyMemoryTrainWithTcnAndLstm()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var (tcnExit, tcnOutput) = Run("train", "adding", "--length", "30", "--kernel-size", "3", "--d-model", "8",
                "--steps", "2", "--eval-every", "2", "--eval-examples", "16", "--batch-size", "4", "--target", "10",
                "--out", Path.Combine(directory, "tcn"));
            Assert.That(tcnExit, Is.EqualTo(HybridSeqApp.ExitSuccess), tcnOutput);
            // K = 3 covering T = 30: 3 levels, receptive field 1 + 2 * 2 * 7 = 29 < 30, so 4 levels: 61.
            Assert.That(tcnOutput, Does.Contain("tcn: 4 levels of temporal blocks, 8 channels, kernel 3, dropout 0, receptive field 61")
                .And.Contain("adding: T = 30"));
            Assert.That(tcnOutput, Does.Match(@"T +30 \(training\): MSE \d+\.\d{4}, 16 examples"));

            var (lstmExit, lstmOutput) = Run("train", "copy-memory", "--model", "lstm", "--length", "5", "--d-model", "8",
                "--layers", "1", "--steps", "2", "--eval-every", "2", "--eval-examples", "16", "--batch-size", "4", "--target", "0",
                "--out", Path.Combine(directory, "lstm"));
            Assert.That(lstmExit, Is.EqualTo(HybridSeqApp.ExitSuccess), lstmOutput);
            Assert.That(lstmOutput, Does.Contain("lstm: 1 layers, hidden 8, 1 head(s); 10 token ids embedded, linear head at every step (10 output(s))"));
            Assert.That(lstmOutput, Does.Match(@"T +5 \(training\): accuracy \d+\.\d% on the copied steps, loss \d+\.\d{4} over every step, \d+\.\d{4} on the copied steps, 16 examples"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A pointer task trains, evaluates greedily and with constrained beam search, and reports its metrics at
    /// the training range and at every n given.</summary>
    [Test]
    public void PointerTasksTrainAndEvaluateWithGreedyAndConstrainedBeamSearch()
    {
        string directory = Directory.CreateTempSubdirectory("hybridseq-cli-").FullName;
        try
        {
            var (trainExit, trainOutput) = Run("train", "tsp", "--steps", "2", "--eval-every", "2", "--n-min", "4",
                "--n-max", "5", "--eval-n", "4,6", "--d-model", "8", "--batch-size", "4", "--eval-examples", "24", "--target", "0",
                "--out", directory);
            Assert.That(trainExit, Is.EqualTo(HybridSeqApp.ExitSuccess), trainOutput);
            Assert.That(trainOutput, Does.Contain("ptrnet: LSTM encoder of 1 layer(s), hidden 8")
                .And.Contain("tsp: n in [4, 5] for training, evaluated at n = 4, 6"));
            Assert.That(trainOutput, Does.Match(@"n +5 \(training\): \d+\.\d% exact sequences, tour length (\d+\.\d+|NaN), \d+\.\d% valid tours, label \d+\.\d+, 24 examples"));
            Assert.That(trainOutput, Does.Match(@"n +6 \(1\.2x\): "));

            var (evalExit, evalOutput) = Run("eval", "--checkpoint", Path.Combine(directory, "model.ckpt"), "--beam", "2");
            Assert.That(evalExit, Is.EqualTo(HybridSeqApp.ExitSuccess), evalOutput);
            int beamAt = evalOutput.IndexOf("constrained beam search, width 2:", StringComparison.Ordinal);
            Assert.That(evalOutput.IndexOf("greedy decoding", StringComparison.Ordinal), Is.GreaterThanOrEqualTo(0), evalOutput);
            Assert.That(beamAt, Is.GreaterThan(0), evalOutput);
            // The constraint makes every beam-search prediction a tour, whatever the (barely trained) network says.
            Assert.That(evalOutput[beamAt..], Does.Match(@"n +4 \(0\.8x\): \d+\.\d% exact sequences, tour length \d+\.\d+, 100\.0% valid tours"));

            var (rpwExit, rpwOutput) = Run("train", "sort-numbers", "--model", "rpw", "--process-steps", "2", "--steps", "2",
                "--eval-every", "2", "--d-model", "8", "--batch-size", "4", "--eval-examples", "24", "--target", "0", "--overwrite",
                "--out", directory);
            Assert.That(rpwExit, Is.EqualTo(HybridSeqApp.ExitSuccess), rpwOutput);
            Assert.That(rpwOutput, Does.Contain("rpw: read-process-write, 2 process steps, hidden 8")
                .And.Contain("sort-numbers: n in [5, 5] for training, evaluated on the training range"));
            var (generateExit, generateOutput) = Run("generate", "--checkpoint", Path.Combine(directory, "model.ckpt"));
            Assert.That(generateExit, Is.EqualTo(HybridSeqApp.ExitError), generateOutput);
            Assert.That(generateOutput, Does.Contain("use eval").And.Not.Contain("   at "));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
