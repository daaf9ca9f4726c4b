using HybridSeq.Models.Decoding;
using HybridSeq.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Mamba;

/// <summary>One pre-norm residual layer: x + mixer(RMSNorm(x)). Shapes as <see cref="MambaBlock"/>.</summary>
public sealed class MambaResidualLayer : nn.Module<Tensor, Tensor>
{
    private readonly RMSNorm norm;
    private readonly MambaBlock mixer;

    public MambaResidualLayer(string name, MambaConfig config) : base(name)
    {
        norm = new RMSNorm("norm", config.ModelDimension);
        mixer = new MambaBlock("mixer", config);
        RegisterComponents();
    }

    internal MambaBlock Mixer => mixer;

    public override Tensor forward(Tensor hidden) => hidden + mixer.forward(norm.forward(hidden));

    /// <summary>One step: hidden (Bt, d_model) -> (Bt, d_model); advances <paramref name="cache"/>.</summary>
    public Tensor Step(Tensor hidden, MambaLayerCache cache) => hidden + mixer.Step(norm.forward(hidden), cache);
}

/// <summary>
/// Mamba language model: embedding -> Layers x <see cref="MambaResidualLayer"/> -> final RMSNorm -> LM head.
/// The LM head is tied to the embedding (logits = h · E^T, as Mamba's reference LM does by default): it halves the
/// vocabulary parameters and costs nothing for the small vocabularies used here. Step mode
/// (<see cref="IStepModel"/>) carries each layer's convolution state (the causal convolution's last d_conv - 1
/// inputs) and scan state in a <see cref="MambaDecodingState"/>.
/// </summary>
public sealed class MambaLanguageModel : LanguageModel
{
    private readonly Embedding embedding;
    private readonly ModuleList<MambaResidualLayer> layers;
    private readonly RMSNorm norm_f;

    private readonly MambaConfig config;

    /// <summary>The config this model was built from (a MambaConfig).</summary>
    // Not a covariant override: TorchSharp's Module.to() reflects over the members by name and two "Config"
    // properties (base and override) collide there.
    public override IModelConfig Config => config;

    /// <summary>Builds the model, drawing the initial weights from torch's global generator (seed it first).</summary>
    public MambaLanguageModel(MambaConfig config) : base(nameof(MambaLanguageModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        embedding = nn.Embedding(config.VocabularySize, config.ModelDimension);
        layers = nn.ModuleList(Enumerable.Range(0, config.Layers)
            .Select(i => new MambaResidualLayer($"layer{i}", config)).ToArray());
        norm_f = new RMSNorm("norm_f", config.ModelDimension);

        using (no_grad())
        {
            nn.init.normal_(embedding.weight!, 0.0, 0.02);
            // GPT-2 style prenorm-residual scaling (as mamba_ssm's _init_weights): each layer adds one out_proj
            // output to the residual stream, so shrink it by sqrt(layers) to keep the stream's variance bounded.
            foreach (var layer in layers)
                layer.Mixer.OutputProjection.weight!.div_(Math.Sqrt(config.Layers));
        }
        RegisterComponents();
    }

    /// <summary>tokens (Bt, L) int64 ids in [0, V) -> logits (Bt, L, V).</summary>
    public override Tensor forward(Tensor tokens)
    {
        CheckSequenceTokens(tokens);
        var hidden = embedding.forward(tokens);
        foreach (var layer in layers) hidden = layer.forward(hidden);
        return nn.functional.linear(norm_f.forward(hidden), embedding.weight!);
    }

    /// <summary>Zero caches for <paramref name="batch"/> sequences (matching the zero padding of the full forward),
    /// on the model's device and dtype.</summary>
    public override IDecodingState InitialState(long batch)
    {
        CheckBatch(batch);
        Device device = ParameterDevice;
        ScalarType dtype = ParameterDtype;
        return new MambaDecodingState(config, Enumerable.Range(0, config.Layers)
            .Select(_ => new MambaLayerCache(batch, config, device, dtype)).ToArray());
    }

    /// <summary>
    /// One generation step: tokens (Bt) int64 -> logits (Bt, V) and the state after them. Equal to the last position
    /// of <see cref="forward"/> on the tokens fed so far. The given state is not changed: the step advances a copy
    /// of its caches (two small tensors per layer), the price of one mutation rule for every model.
    /// </summary>
    public override (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state)
    {
        var current = CheckStep<MambaDecodingState>(tokens, state);
        if (current.Layers.Count != layers.Count)
            throw new ArgumentException(
                $"state must hold one cache per layer ({layers.Count}), got {current.Layers.Count}.", nameof(state));
        if (current.Config != config)
            throw new ArgumentException(
                $"state: expected the state of a Mamba model with config {config}, got one made by {current.Config}.",
                nameof(state));
        using var noGrad = no_grad();
        var next = current.Clone();
        try
        {
            var hidden = embedding.forward(tokens);
            for (int i = 0; i < layers.Count; i++) hidden = layers[i].Step(hidden, next.Layers[i]);
            return (nn.functional.linear(norm_f.forward(hidden), embedding.weight!), next);
        }
        catch
        {
            next.Dispose();
            throw;
        }
    }

    /// <remarks>Norm weights, biases, the embedding (tied to the head), A_log and D are left undecayed, as in Mamba.</remarks>
    protected override bool IsDecayed(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) && !name.Contains("norm", StringComparison.Ordinal)
        && !name.StartsWith("embedding", StringComparison.Ordinal);
}
