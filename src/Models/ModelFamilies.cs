using System.Text.Json;
using HybridSeq.Managed;
using HybridSeq.Models.Convolutional;
using HybridSeq.Models.Forecasting;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Pointer;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.Seq2Seq;
using HybridSeq.Models.StateSpace;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Tasks.Pointer;

namespace HybridSeq.Models;

/// <summary>One model family of the registry: its name, a one-line description, the task kinds it trains on, its
/// default config for a task, and how to read its config back from a checkpoint's JSON and build the model.</summary>
/// <param name="Name">The registry name (--model).</param>
/// <param name="Description">One line for `hybridseq tasks`.</param>
/// <param name="TaskKinds">The <see cref="Tasks.TaskKinds"/> whose batches this family's models read.</param>
/// <param name="DefaultConfig">The default config for a task of one of <paramref name="TaskKinds"/>.</param>
/// <param name="ReadConfig">Reads the family's config record from a checkpoint's JSON.</param>
/// <param name="Build">Builds the model of a config (weights from torch's global generator).</param>
public sealed record ModelFamily(
    string Name,
    string Description,
    IReadOnlyList<string> TaskKinds,
    Func<ITask, IModelConfig> DefaultConfig,
    Func<JsonElement, IModelConfig?> ReadConfig,
    Func<IModelConfig, TaskModel> Build)
{
    /// <summary>Whether this family trains on tasks of <paramref name="task"/>'s kind.</summary>
    public bool Supports(ITask task) => TaskKinds.Contains(task.Kind);
}

/// <summary>
/// The registry of model families: mamba, lstm, gru, slstm (language models: <see cref="LanguageModel"/>, token
/// tasks; forecasters: <see cref="SequenceForecaster"/>, forecasting tasks), arnet (forecasting) and the
/// encoder-decoder families. Each builds a <see cref="TaskModel"/> from its config record and says
/// which task kinds it reads.
/// </summary>
public static class ModelFamilies
{
    public const string Mamba = "mamba";
    public const string Lstm = "lstm";
    public const string Gru = "gru";
    public const string Slstm = "slstm";
    public const string Seq2Seq = Seq2SeqConfig.FamilyName;
    public const string ArNet = ArNetConfig.FamilyName;
    public const string Tcn = BackboneConfig.Tcn;
    public const string WaveNet = BackboneConfig.WaveNet;
    public const string TcnCa = BackboneConfig.TcnCa;
    public const string S4D = "s4d";
    public const string S4 = "s4";
    public const string Lssl = "lssl";

    /// <summary>Every family, in the order the CLI lists them.</summary>
    public static IReadOnlyList<ModelFamily> All { get; } =
    [
        new(Mamba, "Mamba-1: selective state-space blocks (in_proj, causal conv, selective scan, gate), pre-norm residual",
            [TaskKinds.Tokens, TaskKinds.Forecasting, TaskKinds.Regression, TaskKinds.Classification],
            task => task switch
            {
                IForecastTask forecast => SequenceForecasterConfig.For(Mamba, forecast),
                IBackboneTask backboneTask => SequenceModelConfig.For(Mamba, backboneTask),
                _ => new MambaConfig(VocabularyOf(task)),
            },
            json => IsSequenceModel(json) ? json.Deserialize<SequenceModelConfig>()
                : IsForecaster(json) ? json.Deserialize<SequenceForecasterConfig>() : json.Deserialize<MambaConfig>(),
            config => config switch
            {
                SequenceForecasterConfig forecaster => new SequenceForecaster(forecaster),
                SequenceModelConfig sequence => new SequenceModel(sequence),
                _ => new MambaLanguageModel(Expect<MambaConfig>(config, Mamba)),
            }),
        Recurrent(Lstm, RnnCell.Lstm, "LSTM on the fused recurrence (nn.LSTM's equations)", heads: 1),
        Recurrent(Gru, RnnCell.Gru, "GRU on the fused recurrence (nn.GRU's equations)", heads: 1),
        Recurrent(Slstm, RnnCell.Slstm, "xLSTM's sLSTM (exponential gating, normaliser and stabiliser), 4 heads", heads: 4),
        new(Seq2Seq, "Sutskever et al.'s encoder-decoder on the fused LSTM (or GRU), optional additive / dot / general attention, optional reversed source",
            [TaskKinds.Seq2Seq],
            task => new Seq2SeqConfig(task as ISeq2SeqTask is { } seq2seq
                ? seq2seq.VocabularySize
                : throw new ArgumentException($"task: a seq2seq model reads seq2seq tasks, got {task.Name} (kind {task.Kind}).", nameof(task))),
            json => json.Deserialize<Seq2SeqConfig>(),
            config => new Seq2SeqModel(Expect<Seq2SeqConfig>(config, Seq2Seq))),
        new(ArNet, "AR-Net (Triebe et al. 2019): lags -> [hidden layers] -> horizon forecasts, sparse AR regulariser",
            [TaskKinds.Forecasting],
            task => task is IForecastTask forecast
                ? ArNetConfig.For(forecast)
                : throw new ArgumentException($"task: AR-Net reads forecasting tasks, got {task.Name} (kind {task.Kind}).", nameof(task)),
            json => json.Deserialize<ArNetConfig>(),
            config => new Forecasting.ArNet(Expect<ArNetConfig>(config, ArNet))),
        PointerFamily(PointerNetwork.PtrNetFamily, PointerEncoder.Lstm,
            "Pointer network (Vinyals et al. 2015): LSTM encoder over the elements in order, LSTM decoder whose additive attention points at them"),
        PointerFamily(PointerNetwork.RpwFamily, PointerEncoder.ReadProcessWrite,
            "Read-process-write (Vinyals et al. 2016): per-element embedding, P steps of an input-less LSTM attending over the set (order invariant), pointer decoder"),
        Convolutional(Tcn, "TCN (Bai, Kolter and Koltun 2018): temporal blocks of two weight-normalised dilated causal convolutions, ReLU, dropout, residual; dilation doubling per level",
            forecasts: true),
        Convolutional(WaveNet, "WaveNet-style stack: gated tanh x sigmoid dilated causal convolutions, residual and skip 1x1 convolutions, dilation cycles",
            forecasts: false),
        Convolutional(TcnCa, "TCNCA: dilated convolutional mixing feeding gated softmax attention within fixed-size chunks",
            forecasts: false),
        StateSpace(S4D, StateSpaceKind.S4D,
            "S4D (Gu et al. 2022): diagonal SSM layers (S4D-Lin, ZOH, Vandermonde kernel, FFT convolution) in a residual stack",
            forecasts: true),
        StateSpace(S4, StateSpaceKind.S4,
            "S4 (Gu, Goel, Re 2022): DPLR SSM layers from HiPPO-LegS (Cauchy kernel + Woodbury, FFT convolution) in a residual stack",
            forecasts: false),
        StateSpace(Lssl, StateSpaceKind.Lssl,
            "LSSL (Gu et al. 2021): dense HiPPO-LegS SSM layers (fixed A, learned step, Krylov kernel) in a residual stack",
            forecasts: false),
    ];

    /// <summary>The family called <paramref name="name"/>; an <see cref="ArgumentException"/> listing the names
    /// when there is none.</summary>
    public static ModelFamily Get(string name) =>
        All.FirstOrDefault(f => f.Name == name) ?? throw new ArgumentException(
            $"model family: expected one of {string.Join(", ", All.Select(f => f.Name))}, got '{name}'.", nameof(name));

    /// <summary>The families that train on <paramref name="task"/>'s kind, in registry order.</summary>
    public static IReadOnlyList<ModelFamily> Supporting(ITask task) => All.Where(f => f.Supports(task)).ToList();

    /// <summary>Throws an <see cref="ArgumentException"/> (ParamName "family") when family
    /// <paramref name="family"/> does not train on <paramref name="task"/>'s kind, listing the families that do.</summary>
    public static void RequireSupports(string family, ITask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (Get(family).Supports(task)) return;
        var supporting = Supporting(task);
        throw new ArgumentException(
            $"model family '{family}' does not train on {task.Kind} tasks such as {task.Name}; models for {task.Name}: " +
            $"{(supporting.Count == 0 ? "none" : string.Join(", ", supporting.Select(f => f.Name)))}.", nameof(family));
    }

    /// <summary>Builds the model of <paramref name="config"/>'s family (weights from torch's global generator).</summary>
    public static TaskModel Build(IModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Get(config.Family).Build(config);
    }

    /// <summary>Builds the language model of <paramref name="config"/>'s family (mamba, lstm, gru, slstm); an
    /// ArgumentException for the families that build another kind of model (use <see cref="Build"/>).</summary>
    public static LanguageModel Create(IModelConfig config)
    {
        var model = Build(config);
        if (model is LanguageModel languageModel) return languageModel;
        string type = model.GetType().Name;
        model.Dispose();
        throw new ArgumentException(
            $"config: the {config.Family} family builds a {type}, not a language model; use ModelFamilies.Build.",
            nameof(config));
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
            [TaskKinds.Tokens, TaskKinds.Forecasting, TaskKinds.Regression, TaskKinds.Classification],
            task => task switch
            {
                IForecastTask forecast => SequenceForecasterConfig.For(name, forecast),
                IBackboneTask backboneTask => SequenceModelConfig.For(name, backboneTask),
                _ => new RecurrentConfig(cell, VocabularyOf(task), Heads: heads),
            },
            json => IsSequenceModel(json) ? json.Deserialize<SequenceModelConfig>()
                : IsForecaster(json) ? json.Deserialize<SequenceForecasterConfig>() : json.Deserialize<RecurrentConfig>(),
            config => config switch
            {
                SequenceForecasterConfig forecaster => new SequenceForecaster(forecaster),
                SequenceModelConfig sequence => new SequenceModel(sequence),
                _ => new RecurrentLanguageModel(Expect<RecurrentConfig>(config, name)),
            });

    /// <summary>A convolutional family: a <see cref="ConvLanguageModel"/> on token tasks, the backbone + head wiring
    /// (<see cref="SequenceModel"/>) on regression and classification tasks, and (tcn) a forecaster.</summary>
    private static ModelFamily Convolutional(string name, string description, bool forecasts) =>
        new(name, description,
            forecasts
                ? [TaskKinds.Tokens, TaskKinds.Forecasting, TaskKinds.Regression, TaskKinds.Classification]
                : [TaskKinds.Tokens, TaskKinds.Regression, TaskKinds.Classification],
            task => task switch
            {
                IForecastTask forecast when forecasts => SequenceForecasterConfig.For(name, forecast),
                IBackboneTask backboneTask => SequenceModelConfig.For(name, backboneTask),
                ISequenceTask tokens => new ConvLanguageModelConfig(tokens.VocabularySize,
                    BackboneConfig.For(name, tokens.EvaluationLengths.Max())),
                _ => throw new ArgumentException(
                    $"task: a {name} model reads token, regression and classification tasks{(forecasts ? " and forecasting tasks" : "")}, got {task.Name} (kind {task.Kind}).",
                    nameof(task)),
            },
            json => IsSequenceModel(json) ? json.Deserialize<SequenceModelConfig>()
                : IsForecaster(json) ? json.Deserialize<SequenceForecasterConfig>() : json.Deserialize<ConvLanguageModelConfig>(),
            config => config switch
            {
                SequenceForecasterConfig forecaster => new SequenceForecaster(forecaster),
                SequenceModelConfig sequence => new SequenceModel(sequence),
                _ => new ConvLanguageModel(Expect<ConvLanguageModelConfig>(config, name)),
            });

    private static ModelFamily StateSpace(string name, StateSpaceKind kind, string description, bool forecasts) =>
        new(name, description + ", embedding + tied head",
            forecasts
                ? [TaskKinds.Tokens, TaskKinds.Forecasting, TaskKinds.Regression, TaskKinds.Classification]
                : [TaskKinds.Tokens, TaskKinds.Regression, TaskKinds.Classification],
            task => task switch
            {
                IForecastTask forecast when forecasts => SequenceForecasterConfig.For(name, forecast),
                IBackboneTask backboneTask => SequenceModelConfig.For(name, backboneTask),
                _ => StateSpaceConfig.For(kind, VocabularyOf(task)),
            },
            json => IsSequenceModel(json) ? json.Deserialize<SequenceModelConfig>()
                : forecasts && IsForecaster(json) ? json.Deserialize<SequenceForecasterConfig>()
                : json.Deserialize<StateSpaceConfig>(),
            config => config switch
            {
                SequenceForecasterConfig forecaster when forecasts => new SequenceForecaster(forecaster),
                SequenceModelConfig sequence => new SequenceModel(sequence),
                _ => new StateSpaceLanguageModel(ExpectKind(Expect<StateSpaceConfig>(config, name), kind, name)),
            });

    private static StateSpaceConfig ExpectKind(StateSpaceConfig config, StateSpaceKind kind, string family) =>
        config.Kind == kind ? config : throw new ArgumentException(
            $"config: the {family} family expects a StateSpaceConfig of kind {kind}, got kind {config.Kind}.", nameof(config));

    /// <summary>Whether a config's JSON is a <see cref="SequenceForecasterConfig"/> (the sequence families store
    /// either a language-model config or a forecaster config).</summary>
    private static bool IsForecaster(JsonElement json) =>
        json.ValueKind == JsonValueKind.Object && json.TryGetProperty(nameof(SequenceForecasterConfig.Backbone), out _);

    /// <summary>Whether a config's JSON is a <see cref="SequenceModelConfig"/> (the backbone + head wiring).</summary>
    private static bool IsSequenceModel(JsonElement json) =>
        json.ValueKind == JsonValueKind.Object && json.TryGetProperty(nameof(SequenceModelConfig.Readout), out _);

    private static ModelFamily PointerFamily(string name, PointerEncoder encoder, string description) =>
        new(name, description, [TaskKinds.Pointer],
            task => new PointerNetworkConfig(encoder,
                task as IPointerTask is { } pointerTask ? pointerTask.InputFeatures
                    : throw new ArgumentException($"task: a {name} model reads pointer tasks, got {task.Name} (kind {task.Kind}).", nameof(task)),
                ProcessSteps: encoder == PointerEncoder.ReadProcessWrite ? 5 : 0),
            json => json.Deserialize<PointerNetworkConfig>(),
            config => new PointerNetwork(Expect<PointerNetworkConfig>(config, name)));

    /// <summary>The vocabulary of a token task (the language models' default configs).</summary>
    private static int VocabularyOf(ITask task) => task as ISequenceTask is { } sequenceTask
        ? sequenceTask.VocabularySize
        : throw new ArgumentException($"task: a language model reads token tasks, got {task.Name} (kind {task.Kind}).",
            nameof(task));

    internal static T Expect<T>(IModelConfig config, string family) where T : class, IModelConfig =>
        config as T ?? throw new ArgumentException(
            $"config: the {family} family expects a {typeof(T).Name}, got a {config.GetType().Name}.", nameof(config));
}
