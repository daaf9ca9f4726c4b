using System.Text.Json.Serialization;

namespace HybridSeq.Models.StateSpace;

/// <summary>The layer of a state-space model: S4D, S4 or LSSL (it names the family: s4d, s4, lssl).</summary>
public enum StateSpaceKind
{
    S4D,
    S4,
    Lssl,
}

/// <summary>
/// Hyper-parameters of a <see cref="StateSpaceLanguageModel"/> (families s4d, s4, lssl) and of the
/// <see cref="StateSpaceStack"/> it is built on; serialised into checkpoints.
/// </summary>
/// <param name="Kind">The layer: S4D, S4 or Lssl (it names the family).</param>
/// <param name="VocabularySize">Number of token ids; tokens are in [0, VocabularySize).</param>
/// <param name="ModelDimension">H: width of the residual stream, the embedding and each layer's channels.</param>
/// <param name="Layers">Residual blocks (norm, SSM layer, GELU, dropout, output linear).</param>
/// <param name="StateDimension">N: the state size of each channel (even for S4D and S4).</param>
/// <param name="Init">S4D only: the initialisation of A (Lin, Inv, LegS).</param>
/// <param name="Discretization">S4D only: Zoh or Bilinear (S4 and LSSL are bilinear).</param>
/// <param name="Dropout">Dropout after the activation of each block (training only).</param>
/// <param name="LearnA">LSSL only: learn A and B (else fixed HiPPO-LegS).</param>
/// <param name="LearnDt">LSSL only: learn the step sizes.</param>
/// <param name="DtMin">Smallest initial step size.</param>
/// <param name="DtMax">Largest initial step size.</param>
public sealed record StateSpaceConfig(
    [property: JsonConverter(typeof(JsonStringEnumConverter<StateSpaceKind>))] StateSpaceKind Kind,
    int VocabularySize,
    int ModelDimension = 64,
    int Layers = 2,
    int StateDimension = 64,
    [property: JsonConverter(typeof(JsonStringEnumConverter<S4DInit>))] S4DInit Init = S4DInit.Lin,
    [property: JsonConverter(typeof(JsonStringEnumConverter<SsmDiscretization>))] SsmDiscretization Discretization = SsmDiscretization.Zoh,
    double Dropout = 0.0,
    bool LearnA = false,
    bool LearnDt = true,
    double DtMin = 0.001,
    double DtMax = 0.1) : ILanguageModelConfig
{
    /// <summary>The registry name of this family: s4d, s4 or lssl.</summary>
    [JsonIgnore]
    public string Family => FamilyName(Kind);

    /// <summary>The family name of a layer kind.</summary>
    public static string FamilyName(StateSpaceKind kind) => kind switch
    {
        StateSpaceKind.S4D => ModelFamilies.S4D,
        StateSpaceKind.S4 => ModelFamilies.S4,
        StateSpaceKind.Lssl => ModelFamilies.Lssl,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, $"kind: expected S4D, S4 or Lssl, got {kind}."),
    };

    /// <summary>The default config of a family for a vocabulary (S4 and LSSL: bilinear, N 32 since their dense
    /// systems cost N² per channel and token).</summary>
    public static StateSpaceConfig For(StateSpaceKind kind, int vocabularySize) => kind switch
    {
        StateSpaceKind.S4D => new StateSpaceConfig(kind, vocabularySize),
        _ => new StateSpaceConfig(kind, vocabularySize, StateDimension: 32, Discretization: SsmDiscretization.Bilinear),
    };

    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
            throw new ArgumentOutOfRangeException(nameof(Kind), Kind, $"StateSpaceConfig.Kind must be S4D, S4 or Lssl, got {Kind}.");
        RequirePositive(VocabularySize, nameof(VocabularySize));
        RequirePositive(ModelDimension, nameof(ModelDimension));
        RequirePositive(Layers, nameof(Layers));
        RequirePositive(StateDimension, nameof(StateDimension));
        if (Kind != StateSpaceKind.Lssl && StateDimension % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(StateDimension), StateDimension,
                $"StateSpaceConfig.StateDimension must be even for {Kind} (N/2 conjugate pairs), got {StateDimension}.");
        if (!Enum.IsDefined(Init))
            throw new ArgumentOutOfRangeException(nameof(Init), Init, $"StateSpaceConfig.Init must be Lin, Inv or LegS, got {Init}.");
        if (!Enum.IsDefined(Discretization))
            throw new ArgumentOutOfRangeException(nameof(Discretization), Discretization,
                $"StateSpaceConfig.Discretization must be Zoh or Bilinear, got {Discretization}.");
        if (Kind != StateSpaceKind.S4D && Discretization != SsmDiscretization.Bilinear)
            throw new ArgumentOutOfRangeException(nameof(Discretization), Discretization,
                $"StateSpaceConfig.Discretization must be Bilinear for {Kind} (its kernel is the bilinear generating function), got {Discretization}.");
        if (!(Dropout >= 0 && Dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, $"StateSpaceConfig.Dropout must be in [0, 1), got {Dropout}.");
        if (!(DtMin > 0) || !double.IsFinite(DtMin))
            throw new ArgumentOutOfRangeException(nameof(DtMin), DtMin, $"StateSpaceConfig.DtMin must be a positive step size, got {DtMin}.");
        if (!(DtMax >= DtMin) || !double.IsFinite(DtMax))
            throw new ArgumentOutOfRangeException(nameof(DtMax), DtMax, $"StateSpaceConfig.DtMax must be at least DtMin = {DtMin}, got {DtMax}.");
    }

    /// <summary>A token task whose ids fit the vocabulary.</summary>
    public void ValidateFor(Tasks.ITask task) => LanguageModel.RequireVocabulary(VocabularySize, task);

    /// <summary>The SSM layer of this config for <paramref name="channels"/> channels.</summary>
    public StateSpaceLayer CreateLayer(string name, int channels, bool bidirectional = false) => Kind switch
    {
        StateSpaceKind.S4D => new S4DLayer(name, channels, StateDimension, Init, Discretization, bidirectional, DtMin, DtMax),
        StateSpaceKind.S4 => new S4Layer(name, channels, StateDimension, bidirectional, DtMin, DtMax),
        _ => new LsslLayer(name, channels, StateDimension, LearnA, LearnDt, bidirectional, DtMin, DtMax),
    };

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"StateSpaceConfig.{name} must be a positive integer, got {value}.");
    }
}
