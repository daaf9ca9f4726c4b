using System.Text.Json.Serialization;

namespace HybridSeq.Models.Mamba;

/// <summary>The SSM of a <see cref="MambaBlock"/>.</summary>
public enum MambaMixer
{
    /// <summary>Mamba's selective scan (S6): input-dependent Δ, B, C.</summary>
    Selective,

    /// <summary>An S4D layer (S4D-Lin, ZOH, time-invariant): the LTI baseline of the Mamba paper (Table 1).</summary>
    S4D,
}

/// <summary>
/// Hyper-parameters of a <see cref="MambaLanguageModel"/>. Serialised into checkpoints, so a checkpoint rebuilds
/// exactly the model that wrote it.
/// </summary>
/// <param name="VocabularySize">Number of token ids; tokens are in [0, VocabularySize).</param>
/// <param name="ModelDimension">d_model: width of the residual stream and of the embedding.</param>
/// <param name="Layers">Number of pre-norm residual Mamba blocks.</param>
/// <param name="StateDimension">N (d_state): size of each channel's SSM state.</param>
/// <param name="ConvolutionWidth">d_conv: kernel width of the depthwise causal convolution.</param>
/// <param name="Expand">d_inner = Expand * d_model.</param>
/// <param name="DtRank">Rank of the delta projection; null means "auto" = ceil(d_model / 16), as in Mamba.</param>
/// <param name="Mixer">The SSM inside the block: Selective (Mamba's S6) or S4D (the time-invariant S4D-Lin layer
/// of the Mamba paper's LTI baseline; StateDimension must then be even).</param>
public sealed record MambaConfig(
    int VocabularySize,
    int ModelDimension = 64,
    int Layers = 2,
    int StateDimension = 16,
    int ConvolutionWidth = 4,
    int Expand = 2,
    int? DtRank = null,
    [property: JsonConverter(typeof(JsonStringEnumConverter<MambaMixer>))] MambaMixer Mixer = MambaMixer.Selective)
    : ILanguageModelConfig
{
    /// <summary>The registry name of this family: "mamba".</summary>
    [JsonIgnore]
    public string Family => ModelFamilies.Mamba;

    /// <summary>d_inner: channels of the selective scan.</summary>
    [JsonIgnore]
    public int InnerDimension => Expand * ModelDimension;

    /// <summary>The delta projection rank after resolving "auto".</summary>
    [JsonIgnore]
    public int ResolvedDtRank => DtRank ?? (ModelDimension + 15) / 16;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        RequirePositive(VocabularySize, nameof(VocabularySize));
        RequirePositive(ModelDimension, nameof(ModelDimension));
        RequirePositive(Layers, nameof(Layers));
        RequirePositive(StateDimension, nameof(StateDimension));
        RequirePositive(ConvolutionWidth, nameof(ConvolutionWidth));
        RequirePositive(Expand, nameof(Expand));
        if (DtRank is int rank) RequirePositive(rank, nameof(DtRank));
        if (!Enum.IsDefined(Mixer))
            throw new ArgumentOutOfRangeException(nameof(Mixer), Mixer, $"MambaConfig.Mixer must be Selective or S4D, got {Mixer}.");
        if (Mixer == MambaMixer.S4D && StateDimension % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(StateDimension), StateDimension,
                $"MambaConfig.StateDimension must be even with the S4D mixer (N/2 conjugate pairs), got {StateDimension}.");
    }

    /// <summary>A token task whose ids fit the vocabulary.</summary>
    public void ValidateFor(Tasks.ITask task) => LanguageModel.RequireVocabulary(VocabularySize, task);

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"MambaConfig.{name} must be a positive integer, got {value}.");
    }
}
