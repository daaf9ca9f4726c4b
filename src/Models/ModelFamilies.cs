using System.Text.Json;
using HybridSeq.Managed;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Recurrent;

namespace HybridSeq.Models;

/// <summary>One model family of the registry: its name, a one-line description, its default config for a
/// vocabulary, and how to read its config back from a checkpoint's JSON and build the model.</summary>
public sealed record ModelFamily(
    string Name,
    string Description,
    Func<int, IModelConfig> DefaultConfig,
    Func<JsonElement, IModelConfig?> ReadConfig,
    Func<IModelConfig, LanguageModel> Build);

/// <summary>
/// The registry of language-model families: mamba, lstm, gru, slstm. Each builds a <see cref="LanguageModel"/>
/// (embedding, sequence layers, norm and head; forward and the step contract) from its config record.
/// </summary>
public static class ModelFamilies
{
    public const string Mamba = "mamba";
    public const string Lstm = "lstm";
    public const string Gru = "gru";
    public const string Slstm = "slstm";

    /// <summary>Every family, in the order the CLI lists them.</summary>
    public static IReadOnlyList<ModelFamily> All { get; } =
    [
        new(Mamba, "Mamba-1: selective state-space blocks (in_proj, causal conv, selective scan, gate), pre-norm residual",
            vocabulary => new MambaConfig(vocabulary),
            json => json.Deserialize<MambaConfig>(),
            config => new MambaLanguageModel(Expect<MambaConfig>(config, Mamba))),
        Recurrent(Lstm, RnnCell.Lstm, "LSTM on the fused recurrence (nn.LSTM's equations)", heads: 1),
        Recurrent(Gru, RnnCell.Gru, "GRU on the fused recurrence (nn.GRU's equations)", heads: 1),
        Recurrent(Slstm, RnnCell.Slstm, "xLSTM's sLSTM (exponential gating, normaliser and stabiliser), 4 heads", heads: 4),
    ];

    /// <summary>The family called <paramref name="name"/>; an <see cref="ArgumentException"/> listing the names
    /// when there is none.</summary>
    public static ModelFamily Get(string name) =>
        All.FirstOrDefault(f => f.Name == name) ?? throw new ArgumentException(
            $"model family: expected one of {string.Join(", ", All.Select(f => f.Name))}, got '{name}'.", nameof(name));

    /// <summary>Builds the model of <paramref name="config"/>'s family (weights from torch's global generator).</summary>
    public static LanguageModel Create(IModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Get(config.Family).Build(config);
    }

    /// <summary>The config as JSON (its concrete record type), as stored in checkpoints.</summary>
    public static JsonElement ToJson(IModelConfig config) => JsonSerializer.SerializeToElement(config, config.GetType());

    /// <summary>Reads the config of family <paramref name="family"/> from <paramref name="json"/> and validates it.</summary>
    public static IModelConfig FromJson(string family, JsonElement json)
    {
        var config = Get(family).ReadConfig(json) ?? throw new InvalidDataException(
            $"The {family} model config is empty.");
        if (config.Family != family)
            throw new InvalidDataException($"The model config says family '{config.Family}', the record says '{family}'.");
        config.Validate();
        return config;
    }

    internal static string RecurrentFamilyName(RnnCell cell) => cell switch
    {
        RnnCell.Lstm => Lstm,
        RnnCell.Gru => Gru,
        RnnCell.Slstm => Slstm,
        _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, $"cell: expected Lstm, Gru or Slstm, got {cell}."),
    };

    private static ModelFamily Recurrent(string name, RnnCell cell, string description, int heads) =>
        new(name, description + ", embedding + RMSNorm + tied head",
            vocabulary => new RecurrentConfig(cell, vocabulary, Heads: heads),
            json => json.Deserialize<RecurrentConfig>(),
            config => new RecurrentLanguageModel(Expect<RecurrentConfig>(config, name)));

    private static T Expect<T>(IModelConfig config, string family) where T : class, IModelConfig =>
        config as T ?? throw new ArgumentException(
            $"config: the {family} family expects a {typeof(T).Name}, got a {config.GetType().Name}.", nameof(config));
}
