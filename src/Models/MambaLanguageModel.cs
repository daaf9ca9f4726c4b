using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models;

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
/// vocabulary parameters and costs nothing for the small vocabularies used here.
/// </summary>
public sealed class MambaLanguageModel : nn.Module<Tensor, Tensor>
{
    private readonly Embedding embedding;
    private readonly ModuleList<MambaResidualLayer> layers;
    private readonly RMSNorm norm_f;

    public MambaConfig Config { get; }

    /// <summary>Builds the model, drawing the initial weights from torch's global generator (seed it first).</summary>
    public MambaLanguageModel(MambaConfig config) : base(nameof(MambaLanguageModel))
    {
        config.Validate();
        Config = config;
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

    /// <summary>tokens (Bt, L) int64 -> logits (Bt, L, V).</summary>
    public override Tensor forward(Tensor tokens)
    {
        RequireTokens(tokens, 2, nameof(tokens), "(Bt, L)");
        var hidden = embedding.forward(tokens);
        foreach (var layer in layers) hidden = layer.forward(hidden);
        return nn.functional.linear(norm_f.forward(hidden), embedding.weight!);
    }

    /// <summary>
    /// One generation step: token (Bt) int64 -> logits (Bt, V), advancing <paramref name="caches"/> (one per layer,
    /// from <see cref="AllocateCaches"/>) in place. Equal to the last position of <see cref="forward"/> on the
    /// tokens fed so far. Runs without autograd.
    /// </summary>
    public Tensor Step(Tensor token, IReadOnlyList<MambaLayerCache> caches)
    {
        RequireTokens(token, 1, nameof(token), "(Bt)");
        if (caches.Count != layers.Count)
            throw new ArgumentException($"caches must hold one cache per layer ({layers.Count}), got {caches.Count}.",
                nameof(caches));
        using var noGrad = no_grad();
        var hidden = embedding.forward(token);
        for (int i = 0; i < layers.Count; i++) hidden = layers[i].Step(hidden, caches[i]);
        return nn.functional.linear(norm_f.forward(hidden), embedding.weight!);
    }

    /// <summary>Zero caches for <paramref name="batch"/> sequences; the caller owns and disposes them.</summary>
    public MambaLayerCache[] AllocateCaches(long batch, Device device, ScalarType dtype) =>
        Enumerable.Range(0, Config.Layers).Select(_ => new MambaLayerCache(batch, Config, device, dtype)).ToArray();

    /// <summary>
    /// Greedy decoding in step mode: feeds prompt (Bt, P) int64 token by token (P >= 1), then appends the arg-max
    /// token <paramref name="steps"/> times. Returns only the generated tokens, (Bt, steps) int64.
    /// </summary>
    public Tensor Generate(Tensor prompt, int steps)
    {
        RequireTokens(prompt, 2, nameof(prompt), "(Bt, P)");
        if (prompt.shape[1] < 1)
            throw new ArgumentException($"prompt must hold at least one token per row, got shape ({prompt.shape[0]}, 0).",
                nameof(prompt));
        ArgumentOutOfRangeException.ThrowIfNegative(steps);

        var firstParameter = embedding.weight!;
        var caches = AllocateCaches(prompt.shape[0], firstParameter.device, firstParameter.dtype);
        try
        {
            using var scope = NewDisposeScope();
            Tensor logits = null!;
            for (long t = 0; t < prompt.shape[1]; t++) logits = Step(prompt[.., t], caches);
            var generated = new List<Tensor>(steps);
            for (int s = 0; s < steps; s++)
            {
                var next = logits.argmax(-1);
                generated.Add(next);
                if (s + 1 < steps) logits = Step(next, caches);
            }
            var result = steps == 0 ? empty([prompt.shape[0], 0], ScalarType.Int64, prompt.device) : stack(generated, 1);
            return result.MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var cache in caches) cache.Dispose();
        }
    }

    /// <summary>Parameters that get weight decay: the matrices of the linear maps and the convolution.</summary>
    /// <remarks>Norm weights, biases, the embedding (tied to the head), A_log and D are left undecayed, as in Mamba.</remarks>
    public IEnumerable<Parameter> DecayedParameters() =>
        named_parameters().Where(p => IsDecayed(p.name)).Select(p => p.parameter);

    /// <summary>Every parameter that <see cref="DecayedParameters"/> leaves out.</summary>
    public IEnumerable<Parameter> UndecayedParameters() =>
        named_parameters().Where(p => !IsDecayed(p.name)).Select(p => p.parameter);

    private static bool IsDecayed(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) && !name.Contains("norm", StringComparison.Ordinal)
        && !name.StartsWith("embedding", StringComparison.Ordinal);

    private static void RequireTokens(Tensor tokens, int rank, string argument, string shape)
    {
        if (tokens.dtype != ScalarType.Int64 || tokens.dim() != rank)
            throw new ArgumentException(
                $"{argument} must be int64 token ids of shape {shape}, got {tokens.dtype} of shape ({string.Join(", ", tokens.shape)}).",
                argument);
    }
}
