using HybridSeq.Cli;
using HybridSeq.Managed;
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
            Assert.That(File.Exists(Path.Combine(directory, "training-curve.png")), Is.True);

            var (evalExit, evalOutput) = Run("eval", "--checkpoint", checkpoint);
            Assert.That(evalExit, Is.EqualTo(HybridSeqApp.ExitSuccess), evalOutput);
            Assert.That(evalOutput, Does.Contain("step 6").And.Match(@"held-out token accuracy: \d+\.\d%"));

            var (generateExit, generateOutput) = Run("generate", "--checkpoint", checkpoint, "--seed", "4");
            Assert.That(generateExit, Is.EqualTo(HybridSeqApp.ExitSuccess), generateOutput);
            // Region of 10 + 2 markers, rendered one character per token; answers of 2 tokens.
            Assert.That(generateOutput, Does.Match(@"input:    [.A-C]{10}\|\|\s").And.Match(@"expected: [A-C]{2}\s")
                .And.Match(@"produced: [.A-C|]{2}\s").And.Match(@"[0-2]/2 answer tokens correct"));

            var (belowExit, belowOutput) = Run("train", "--steps", "2", "--eval-every", "2", "--seq-len", "12",
                "--data-tokens", "2", "--d-model", "8", "--layers", "1", "--batch-size", "2", "--target", "100",
                "--out", directory);
            Assert.That(belowExit, Is.EqualTo(HybridSeqApp.ExitBelowTarget), belowOutput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
