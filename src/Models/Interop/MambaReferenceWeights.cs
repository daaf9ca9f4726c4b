using HybridSeq.Models.Mamba;
using System.Text.Json;
using static TorchSharp.torch;

namespace HybridSeq.Models.Interop;

/// <summary>
/// Moves <see cref="MambaLanguageModel"/> weights to and from the parameter names of the reference implementation,
/// mamba_ssm's <c>MambaLMHeadModel</c> (Mamba-1 mixer of <c>mamba_simple.py</c>, <c>d_intermediate = 0</c>,
/// <c>rms_norm</c>, <c>tie_embeddings</c>, <c>pad_vocab_size_multiple = 1</c>; see <see cref="ReferenceConfigJson"/>).
/// <para>The TorchSharp state dict of the model and the reference state dict differ only in names, not in shapes or
/// layouts (both keep PyTorch's conv1d weight (d_inner, 1, d_conv) and Linear weights (out, in)):</para>
/// <code>
/// HybridSeq (state_dict)              reference (MambaLMHeadModel)                 shape
/// embedding.weight                    backbone.embedding.weight                    (V, d_model)
/// layers.{i}.norm.weight              backbone.layers.{i}.norm.weight              (d_model)
/// layers.{i}.mixer.in_proj.weight     backbone.layers.{i}.mixer.in_proj.weight     (2 d_inner, d_model)
/// layers.{i}.mixer.conv1d.weight      backbone.layers.{i}.mixer.conv1d.weight      (d_inner, 1, d_conv)
/// layers.{i}.mixer.conv1d.bias        backbone.layers.{i}.mixer.conv1d.bias        (d_inner)
/// layers.{i}.mixer.x_proj.weight      backbone.layers.{i}.mixer.x_proj.weight      (dt_rank + 2 N, d_inner)
/// layers.{i}.mixer.dt_proj.weight     backbone.layers.{i}.mixer.dt_proj.weight     (d_inner, dt_rank)
/// layers.{i}.mixer.dt_proj.bias       backbone.layers.{i}.mixer.dt_proj.bias       (d_inner)
/// layers.{i}.mixer.A_log              backbone.layers.{i}.mixer.A_log              (d_inner, N)
/// layers.{i}.mixer.D                  backbone.layers.{i}.mixer.D                  (d_inner)
/// layers.{i}.mixer.out_proj.weight    backbone.layers.{i}.mixer.out_proj.weight    (d_model, d_inner)
/// norm_f.weight                       backbone.norm_f.weight                       (d_model)
/// (tied to embedding.weight)          lm_head.weight                               (V, d_model)
/// </code>
/// The head is tied: the export writes <c>lm_head.weight</c> as a copy of the embedding (PyTorch's strict
/// <c>load_state_dict</c> expects the key); the import accepts it only when it equals the embedding
/// (an untied head has no place in this model) and also accepts its absence.
/// </summary>
public static class MambaReferenceWeights
{
    /// <summary>The reference name of the tied LM head.</summary>
    public const string HeadName = "lm_head.weight";

    private const string BackbonePrefix = "backbone.";

    /// <summary>The reference state dict's names and shapes for <paramref name="config"/>, in PyTorch's state_dict
    /// order for MambaLMHeadModel (a module's own parameters before its children's; Block registers mixer before
    /// norm; lm_head.weight last).</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> ReferenceLayout(MambaConfig config)
    {
        var shapes = ModelLayout(config).ToDictionary(p => p.Name, p => p.Shape, StringComparer.Ordinal);
        var names = new List<string> { "embedding.weight" };
        for (int i = 0; i < config.Layers; i++)
        {
            string mixer = $"layers.{i}.mixer.";
            names.AddRange(new[] { "A_log", "D", "in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                "dt_proj.weight", "dt_proj.bias", "out_proj.weight" }.Select(n => mixer + n));
            names.Add($"layers.{i}.norm.weight");
        }
        names.Add("norm_f.weight");
        return names.Select(n => (ToReferenceName(n), shapes[n]))
            .Append((HeadName, new long[] { config.VocabularySize, config.ModelDimension })).ToList();
    }

    /// <summary>The TorchSharp state dict's names and shapes of a <see cref="MambaLanguageModel"/> built from
    /// <paramref name="config"/>, in its order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> ModelLayout(MambaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        long model = config.ModelDimension, inner = config.InnerDimension, state = config.StateDimension;
        long rank = config.ResolvedDtRank;
        var layout = new List<(string, long[])> { ("embedding.weight", [config.VocabularySize, model]) };
        for (int i = 0; i < config.Layers; i++)
        {
            // TorchSharp's order: MambaResidualLayer registers norm before mixer; MambaBlock's own parameters
            // (A_log, D) come before its submodules'.
            string layer = $"layers.{i}.";
            layout.Add((layer + "norm.weight", [model]));
            layout.Add((layer + "mixer.A_log", [inner, state]));
            layout.Add((layer + "mixer.D", [inner]));
            layout.Add((layer + "mixer.in_proj.weight", [2 * inner, model]));
            layout.Add((layer + "mixer.conv1d.weight", [inner, 1, config.ConvolutionWidth]));
            layout.Add((layer + "mixer.conv1d.bias", [inner]));
            layout.Add((layer + "mixer.x_proj.weight", [rank + 2 * state, inner]));
            layout.Add((layer + "mixer.dt_proj.weight", [inner, rank]));
            layout.Add((layer + "mixer.dt_proj.bias", [inner]));
            layout.Add((layer + "mixer.out_proj.weight", [model, inner]));
        }
        layout.Add(("norm_f.weight", [model]));
        return layout;
    }

    /// <summary>The reference name of one HybridSeq parameter name (a pure mapping; the tied head has none).</summary>
    public static string ToReferenceName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == "embedding.weight" || name == "norm_f.weight" || name.StartsWith("layers.", StringComparison.Ordinal))
            return BackbonePrefix + name;
        throw new ArgumentException(
            $"name: expected a MambaLanguageModel parameter (embedding.weight, layers.{{i}}.…, norm_f.weight), got '{name}'.",
            nameof(name));
    }

    /// <summary>The HybridSeq name of one reference parameter name (not <see cref="HeadName"/>, which is tied).</summary>
    public static string FromReferenceName(string referenceName)
    {
        ArgumentNullException.ThrowIfNull(referenceName);
        if (referenceName.StartsWith(BackbonePrefix, StringComparison.Ordinal))
        {
            string name = referenceName[BackbonePrefix.Length..];
            if (name == "embedding.weight" || name == "norm_f.weight" || name.StartsWith("layers.", StringComparison.Ordinal))
                return name;
        }
        throw new ArgumentException(
            $"referenceName: expected a mamba_ssm backbone parameter (backbone.embedding.weight, backbone.layers.{{i}}.…, " +
            $"backbone.norm_f.weight), got '{referenceName}'.", nameof(referenceName));
    }

    /// <summary>Renames a HybridSeq state dict to the reference names and adds the tied head, in the reference's
    /// order (<see cref="ReferenceLayout"/>). The tensors are the given ones (no copies; lm_head.weight is the embedding tensor itself).</summary>
    /// <exception cref="ArgumentException">The names or shapes are not exactly those of <paramref name="config"/>'s
    /// model.</exception>
    public static Dictionary<string, Tensor> ToReference(IReadOnlyDictionary<string, Tensor> stateDict,
        MambaConfig config)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        RequireExactly(stateDict, ModelLayout(config), nameof(stateDict), "HybridSeq");
        var result = new Dictionary<string, Tensor>(stateDict.Count + 1, StringComparer.Ordinal);
        foreach (var (name, _) in ReferenceLayout(config))
            result.Add(name, stateDict[name == HeadName ? "embedding.weight" : FromReferenceName(name)]);
        return result;
    }

    /// <summary>Renames a reference state dict to HybridSeq names (load the result with <c>load_state_dict</c>).
    /// <see cref="HeadName"/> may be absent; if present it must equal the embedding.</summary>
    /// <exception cref="ArgumentException">A name is missing or unexpected, a shape differs, or the head is untied.</exception>
    public static Dictionary<string, Tensor> FromReference(IReadOnlyDictionary<string, Tensor> referenceWeights,
        MambaConfig config)
    {
        ArgumentNullException.ThrowIfNull(referenceWeights);
        var layout = ReferenceLayout(config);
        var required = referenceWeights.ContainsKey(HeadName) ? layout : layout.Where(p => p.Name != HeadName).ToList();
        RequireExactly(referenceWeights, required, nameof(referenceWeights), "mamba_ssm");
        if (referenceWeights.TryGetValue(HeadName, out Tensor? head))
        {
            Tensor embedding = referenceWeights[BackbonePrefix + "embedding.weight"];
            bool tied = head.dtype == embedding.dtype && head.to(embedding.device).eq(embedding).all().item<bool>();
            if (!tied)
                throw new ArgumentException(
                    $"referenceWeights: '{HeadName}' differs from 'backbone.embedding.weight'; MambaLanguageModel ties " +
                    "its head to the embedding, so it can only take weights of a tied model (tie_embeddings=True).",
                    nameof(referenceWeights));
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, _) in ModelLayout(config)) result.Add(name, referenceWeights[ToReferenceName(name)]);
        return result;
    }

    /// <summary>The model's weights under the reference names (detached tensors sharing the parameters' memory;
    /// write them out, e.g. with <see cref="SafeTensors.Save"/>, before training on).</summary>
    public static Dictionary<string, Tensor> ExportReference(this MambaLanguageModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var stateDict = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach(), StringComparer.Ordinal);
        return ToReference(stateDict, (MambaConfig)model.Config);
    }

    /// <summary>Copies reference-named weights into the model (strict: every parameter, same shapes).</summary>
    public static void LoadReference(this MambaLanguageModel model, IReadOnlyDictionary<string, Tensor> referenceWeights)
    {
        ArgumentNullException.ThrowIfNull(model);
        var renamed = FromReference(referenceWeights, (MambaConfig)model.Config);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
            parameter.copy_(renamed[name]);
    }

    /// <summary>The mamba_ssm <c>MambaConfig</c> (its <c>config.json</c>) of the reference model that has the same
    /// weights and computes the same function as a <see cref="MambaLanguageModel"/> of <paramref name="config"/>:
    /// <c>MambaLMHeadModel(MambaConfig(**json.load(f)))</c> then <c>load_state_dict(load_file(...))</c>.</summary>
    public static string ReferenceConfigJson(MambaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var reference = new Dictionary<string, object>
        {
            ["d_model"] = config.ModelDimension,
            ["d_intermediate"] = 0,
            ["n_layer"] = config.Layers,
            ["vocab_size"] = config.VocabularySize,
            ["ssm_cfg"] = new Dictionary<string, object>
            {
                ["layer"] = "Mamba1",
                ["d_state"] = config.StateDimension,
                ["d_conv"] = config.ConvolutionWidth,
                ["expand"] = config.Expand,
                ["dt_rank"] = config.DtRank is int rank ? rank : "auto",
            },
            ["attn_layer_idx"] = Array.Empty<int>(),
            ["attn_cfg"] = new Dictionary<string, object>(),
            ["rms_norm"] = true,
            ["residual_in_fp32"] = true,
            ["fused_add_norm"] = true,
            ["pad_vocab_size_multiple"] = 1,
            ["tie_embeddings"] = true,
        };
        return JsonSerializer.Serialize(reference, new JsonSerializerOptions { WriteIndented = true });
    }

    private static void RequireExactly(IReadOnlyDictionary<string, Tensor> weights,
        IReadOnlyList<(string Name, long[] Shape)> layout, string argument, string naming)
    {
        var expected = layout.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var missing = layout.Select(p => p.Name).Where(n => !weights.ContainsKey(n)).ToList();
        var unexpected = weights.Keys.Where(n => !expected.Contains(n)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new ArgumentException(
                $"{argument}: expected exactly the {layout.Count} {naming} parameter names of this MambaConfig; " +
                $"missing: [{string.Join(", ", missing.Take(8))}{(missing.Count > 8 ? ", …" : "")}], " +
                $"unexpected: [{string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? ", …" : "")}].",
                argument);
        foreach (var (name, shape) in layout)
        {
            Tensor tensor = weights[name] ?? throw new ArgumentException($"{argument}: '{name}' is null.", argument);
            if (!tensor.shape.SequenceEqual(shape))
                throw new ArgumentException(
                    $"{argument}: expected '{name}' of shape ({string.Join(", ", shape)}), got " +
                    $"({string.Join(", ", tensor.shape)}).", argument);
        }
    }
}
