using BenchmarkDotNet.Attributes;
using HybridSeq.Models;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// Decoding throughput on CPU: greedy (the baseline) vs beam search with 5 beams vs diverse beam search with 5 beams
/// in 5 groups (Hamming, λ = 0.5), each continuing one 16-token prompt by 64 tokens (no end token, so every method
/// does all 64 steps), for a Mamba and an LSTM language model of the CLI's default sizes (d_model 64, 2 layers;
/// Mamba d_state 16) over the default task's vocabulary (selective copying, 10 tokens), float32, random weights
/// (speed does not depend on them). The rate column counts the 64 generated positions of a call per second.
/// </summary>
[Config(typeof(Config))]
public class DecodingCpuBenchmarks
{
    public const int PromptLength = 16, Generated = 64;

    private sealed class Config() : InProcessConfig(warmups: 3, iterations: 10, "Tokens/s",
        "generated positions (64 per call) divided by the mean time of one call", Generated);

    [Params(ModelFamilies.Mamba, ModelFamilies.Lstm)]
    public string Family { get; set; } = ModelFamilies.Mamba;

    private LanguageModel _model = null!;
    private Tensor _prompt = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        var task = new SelectiveCopyingTask();
        int vocabulary = task.VocabularySize;
        // The family's default config for the task (the task contract passes the task, not its vocabulary).
        _model = ModelFamilies.Create(ModelFamilies.Get(Family).DefaultConfig(task));
        _model.eval();
        _prompt = randint(0, vocabulary, [1, PromptLength], ScalarType.Int64);
    }

    [Benchmark(Baseline = true, Description = "greedy")]
    public void Greedy()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        GreedyDecoding.Generate(_model, _prompt, Generated);
    }

    [Benchmark(Description = "beam 5")]
    public void Beam() => BeamSearch.Run(_model, _prompt, new BeamSearchOptions(5, Generated, NBest: 5));

    [Benchmark(Description = "diverse beam 5 (5 groups)")]
    public void DiverseBeam() => DiverseBeamSearch.Run(_model, _prompt, new BeamSearchOptions(5, Generated),
        new DiversityOptions(5, 0.5));
}
