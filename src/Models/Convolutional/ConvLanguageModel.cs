using System.Text.Json.Serialization;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Layers;
using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Convolutional;

/// <summary>Hyper-parameters of a <see cref="ConvLanguageModel"/> (families tcn, wavenet, tcnca on token tasks).</summary>
/// <param name="VocabularySize">Number of token ids.</param>
/// <param name="Network">The convolutional backbone (its family names the model family).</param>
public sealed record ConvLanguageModelConfig(int VocabularySize, BackboneConfig Network) : ILanguageModelConfig
{
    [JsonIgnore] public string Family => Network.Family;

    public void Validate()
    {
        if (VocabularySize < 1)
            throw new ArgumentOutOfRangeException(nameof(VocabularySize), VocabularySize,
                $"ConvLanguageModelConfig.VocabularySize must be a positive integer, got {VocabularySize}.");
        if (Network is null)
            throw new ArgumentOutOfRangeException(nameof(Network), null, "ConvLanguageModelConfig.Network must be a backbone config, got null.");
        Network.Validate();
        if (!BackboneConfig.ConvolutionalFamilies.Contains(Network.Family))
            throw new ArgumentOutOfRangeException(nameof(Network), Network.Family,
                $"ConvLanguageModelConfig.Network must be a convolutional backbone ({string.Join(", ", BackboneConfig.ConvolutionalFamilies)}), got '{Network.Family}'.");
    }

    public void ValidateFor(ITask task) => LanguageModel.RequireVocabulary(VocabularySize, task);
}

/// <summary>
/// A convolutional language model: embedding -> a streaming convolutional backbone (TCN, WaveNet-style, TCNCA) ->
/// RMSNorm -> LM head tied to the embedding. Step mode carries the backbone's <see cref="BackboneState"/> (every
/// convolution's past inputs; TCNCA: the chunk's keys and values) and gives the full forward's logits.
/// </summary>
public sealed class ConvLanguageModel : LanguageModel
{
    private readonly Embedding embedding;
    private readonly StreamingBackbone backbone;
    private readonly RMSNorm norm_f;
    private readonly ConvLanguageModelConfig config;

    public override IModelConfig Config => config;

    public ConvLanguageModel(ConvLanguageModelConfig config) : base(nameof(ConvLanguageModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        int d = config.Network.ModelDimension;
        embedding = nn.Embedding(config.VocabularySize, d);
        backbone = (StreamingBackbone)SequenceBackbones.Create(config.Network, "backbone");
        norm_f = new RMSNorm("norm_f", backbone.OutputWidth);
        using (no_grad())
            nn.init.normal_(embedding.weight!, 0.0, 0.02);
        RegisterComponents();
    }

    /// <summary>The backbone (streams through <see cref="StreamingBackbone.Step"/>).</summary>
    public StreamingBackbone Backbone => backbone;

    public override Tensor forward(Tensor tokens)
    {
        CheckSequenceTokens(tokens);
        return Logits(backbone.forward(embedding.forward(tokens)));
    }

    public override IDecodingState InitialState(long batch)
    {
        CheckBatch(batch);
        return backbone.InitialState(batch);
    }

    public override (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state)
    {
        var current = CheckStep<BackboneState>(tokens, state);
        if (current.Owner != backbone)
            throw new ArgumentException($"state: expected a state of this {config.Family} model, got another model's.", nameof(state));
        using var noGrad = no_grad();
        var (y, next) = backbone.Step(embedding.forward(tokens).unsqueeze(1), current);
        return (Logits(y).squeeze(1), next);
    }

    /// <summary>Streams a chunk: tokens (Bt, T) -> logits (Bt, T, V) and the state after them (the state given is not
    /// changed); the same logits as T single steps.</summary>
    public (Tensor Logits, BackboneState Next) StepChunk(Tensor tokens, BackboneState state)
    {
        CheckSequenceTokens(tokens);
        if (state is null || state.Owner != backbone)
            throw new ArgumentException($"state: expected a state of this {config.Family} model.", nameof(state));
        using var noGrad = no_grad();
        var (y, next) = backbone.Step(embedding.forward(tokens), state);
        return (Logits(y), next);
    }

    private Tensor Logits(Tensor hidden) => nn.functional.linear(norm_f.forward(hidden), embedding.weight!);

    protected override bool IsDecayed(string name) =>
        name.StartsWith("backbone.", StringComparison.Ordinal) && backbone.IsDecayed(name["backbone.".Length..]);
}
