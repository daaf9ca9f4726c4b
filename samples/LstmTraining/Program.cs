// Trains HybridSeq's fused LSTM on a small generated task, saves it, loads it into a fresh model and checks that the
// loaded model computes exactly what the trained one does. Built from the HybridSeq NuGet packages (samples/).
//
//   dotnet run --project samples/LstmTraining -- [--steps N] [--out DIR]
//
// The task, delayed echo: the input is a sequence of random bits, and at every step t >= Delay the model must output
// the bit it read Delay steps earlier, so it has to carry information in its state. Exit codes: 0 success,
// 1 bad arguments or an error, 2 the model did not learn the task (accuracy below the target).
using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using TorchSharp;
using static TorchSharp.torch;

CpuThreading.ApplyWaitPolicyDefault();  // first thing: bounds OpenMP spinning before libtorch loads its pool

int steps = 300;
string outDirectory = Path.Combine(Path.GetTempPath(), "hybridseq-lstm-sample");
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--steps" when i + 1 < args.Length && int.TryParse(args[i + 1], out int n) && n > 0:
            steps = n;
            i++;
            break;
        case "--out" when i + 1 < args.Length:
            outDirectory = args[++i];
            break;
        default:
            Console.Error.WriteLine($"unknown or incomplete argument '{args[i]}'; usage: [--steps N (positive)] [--out DIR]");
            return 1;
    }
}

const int Delay = 3, Length = 24, Batch = 64, Hidden = 32;
const double TargetAccuracy = 0.97;
torch.manual_seed(7);
var generator = new Random(7);

// (B, T, 1) float bits and their (B, T) targets: the bit Delay steps back (0 before the first Delay steps).
(Tensor Inputs, Tensor Targets) MakeBatch(int batch)
{
    var bits = new float[batch * Length];
    for (int k = 0; k < bits.Length; k++) bits[k] = generator.Next(2);
    var inputs = tensor(bits, [batch, Length, 1]);
    var targets = zeros(batch, Length);
    targets[.., Delay..] = inputs[.., ..^Delay, 0];
    return (inputs, targets);
}

var model = new EchoModel(Hidden);
var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
Console.WriteLine($"delayed echo (delay {Delay}, length {Length}): FusedLSTM(1 -> {Hidden}) + linear head, {steps} steps");
var clock = System.Diagnostics.Stopwatch.StartNew();
for (int step = 1; step <= steps; step++)
{
    using var scope = NewDisposeScope();
    var (inputs, targets) = MakeBatch(Batch);
    optimizer.zero_grad();
    var loss = nn.functional.binary_cross_entropy_with_logits(model.forward(inputs)[.., Delay..], targets[.., Delay..]);
    loss.backward();
    optimizer.step();
    if (step % 50 == 0 || step == 1) Console.WriteLine($"step {step,4}: loss {loss.item<float>():F4}");
}
Console.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F1} s");

// Held-out accuracy over the positions that have an answer.
model.eval();
var (testInputs, testTargets) = MakeBatch(512);
Tensor trainedLogits;
double accuracy;
using (no_grad())
{
    trainedLogits = model.forward(testInputs);
    var predicted = trainedLogits[.., Delay..].gt(0).to(ScalarType.Float32);
    accuracy = predicted.eq(testTargets[.., Delay..]).to(ScalarType.Float32).mean().item<float>();
}
Console.WriteLine($"held-out accuracy: {accuracy:P2} (target {TargetAccuracy:P0})");

// Save, load into a fresh model (other initial weights), compare.
Directory.CreateDirectory(outDirectory);
string path = Path.Combine(outDirectory, "echo-lstm.dat");
model.save(path);
var reloaded = new EchoModel(Hidden);
reloaded.load(path);
reloaded.eval();
using (no_grad())
{
    double difference = (reloaded.forward(testInputs) - trainedLogits).abs().max().item<float>();
    Console.WriteLine($"saved {path} ({new FileInfo(path).Length} bytes); reloaded model's largest output difference: {difference}");
    if (difference != 0)
    {
        Console.Error.WriteLine("FAILED: the reloaded model computes something else than the trained one");
        return 1;
    }
}
if (accuracy < TargetAccuracy)
{
    Console.Error.WriteLine($"FAILED: accuracy {accuracy:P2} is below the target {TargetAccuracy:P0}");
    return 2;
}
Console.WriteLine("OK: trained, saved and reloaded; the reloaded model reproduces the outputs exactly");
return 0;

/// <summary>FusedLSTM over (B, T, 1) bits, then a linear head to one logit per step: (B, T).</summary>
sealed class EchoModel : nn.Module<Tensor, Tensor>
{
    private readonly FusedLSTM lstm;
    private readonly TorchSharp.Modules.Linear head;

    public EchoModel(int hidden) : base(nameof(EchoModel))
    {
        lstm = new FusedLSTM(inputSize: 1, hiddenSize: hidden, batchFirst: true);
        head = nn.Linear(hidden, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor bits) => head.forward(lstm.forward(bits).Output).squeeze(-1);
}
