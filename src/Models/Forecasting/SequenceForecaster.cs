using HybridSeq.Models.Layers;
using HybridSeq.Models.Mamba;
using HybridSeq.Models.Recurrent;
using HybridSeq.Models.StateSpace;
using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Forecasting;

/// <summary>
/// Hyper-parameters of a <see cref="SequenceForecaster"/>: one of the sequence families (lstm, gru, slstm, mamba) as
/// a forecaster; serialised into checkpoints under that family's name.
/// </summary>
/// <param name="Backbone">The family: lstm, gru, slstm, mamba or tcn.</param>
/// <param name="Lags">P: the window length the backbone reads.</param>
/// <param name="Horizon">H: future values forecast from the last step's state.</param>
/// <param name="Covariates">C: covariates read at every step beside the value and its mask.</param>
/// <param name="Outputs">Q: forecasts per step (1, or the number of quantile levels).</param>
/// <param name="ModelDimension">Width of the backbone (the RNN's hidden size, Mamba's d_model).</param>
/// <param name="Layers">Stacked layers of the backbone (tcn: levels, at least as many as cover the lags).</param>
/// <param name="StateDimension">mamba and s4d: the SSM state size N (even for s4d).</param>
public sealed record SequenceForecasterConfig(
    string Backbone,
    int Lags,
    int Horizon,
    int Covariates = 0,
    int Outputs = 1,
    int ModelDimension = 32,
    int Layers = 1,
    int StateDimension = 16) : IModelConfig
{
    public static IReadOnlyList<string> Backbones { get; } =
        [ModelFamilies.Lstm, ModelFamilies.Gru, ModelFamilies.Slstm, ModelFamilies.Mamba, ModelFamilies.Tcn, ModelFamilies.S4D];

    [System.Text.Json.Serialization.JsonIgnore] public string Family => Backbone;

    public void Validate()
    {
        if (!Backbones.Contains(Backbone))
            throw new ArgumentOutOfRangeException(nameof(Backbone), Backbone,
                $"SequenceForecasterConfig.Backbone must be one of {string.Join(", ", Backbones)}, got '{Backbone}'.");
        Require(Lags >= 1, Lags, nameof(Lags));
        Require(Horizon >= 1, Horizon, nameof(Horizon));
        Require(Covariates >= 0, Covariates, nameof(Covariates), "zero or more");
        Require(Outputs >= 1, Outputs, nameof(Outputs));
        Require(ModelDimension >= 1, ModelDimension, nameof(ModelDimension));
        Require(Layers >= 1, Layers, nameof(Layers));
        Require(StateDimension >= 1, StateDimension, nameof(StateDimension));
        Require(Backbone != ModelFamilies.S4D || StateDimension % 2 == 0, StateDimension, nameof(StateDimension),
            "even for s4d (N/2 conjugate pairs)");
    }

    public void ValidateFor(ITask task) => ForecastModel.RequireShape(Backbone, Lags, Horizon, Covariates, Outputs, task);

    /// <summary>The default forecaster of family <paramref name="backbone"/> for <paramref name="task"/>.</summary>
    public static SequenceForecasterConfig For(string backbone, IForecastTask task) =>
        new(backbone, task.Lags, task.Horizon, task.CovariateCount, Math.Max(1, task.Quantiles.Count));

    private static void Require(bool ok, object value, string name, string expected = "at least 1")
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"SequenceForecasterConfig.{name} must be {expected}, got {value}.");
    }
}

/// <summary>
/// A sequence family as a forecaster: per step (value, mask, covariates) -> linear to d_model -> the backbone (the
/// fused LSTM / GRU / sLSTM, or Mamba residual blocks and a final RMSNorm) over the P lags -> the last step's output
/// -> linear to H x Q forecasts. The mask input lets the model tell a missing value from one equal to the mean.
/// </summary>
public sealed class SequenceForecaster : ForecastModel
{
    private readonly SequenceForecasterConfig config;
    private readonly Linear input_proj;
    private readonly FusedRecurrentNetwork? rnn;
    private readonly ModuleList<MambaResidualLayer>? layers;
    private readonly RMSNorm? norm_f;
    private readonly SequenceBackbone? backbone;
    private readonly StateSpaceStack? ssm;
    private readonly Linear head;

    public override IModelConfig Config => config;

    public SequenceForecaster(SequenceForecasterConfig config) : base(nameof(SequenceForecaster))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        int d = config.ModelDimension;
        input_proj = nn.Linear(2 + config.Covariates, d);
        switch (config.Backbone)
        {
            case ModelFamilies.Lstm:
                rnn = new FusedLSTM(d, d, config.Layers, 1, batchFirst: true, name: "rnn");
                break;
            case ModelFamilies.Gru:
                rnn = new FusedGRU(d, d, config.Layers, 1, batchFirst: true, name: "rnn");
                break;
            case ModelFamilies.Slstm:
                rnn = new SLSTM(d, d, config.Layers, 1, batchFirst: true, name: "rnn");
                break;
            case ModelFamilies.Tcn:
                backbone = SequenceBackbones.Create(TcnBackbone(config), "backbone");
                break;
            case ModelFamilies.S4D:
                // Windows are a few dozen lags long: step sizes in [0.1, 1] let the kernel span them from the start (with
                // the sequence models' default [0.001, 0.1] the 40-step forecasting test stayed above MSE 1.6).
                ssm = new StateSpaceStack("ssm", new StateSpaceConfig(StateSpaceKind.S4D, VocabularySize: 1,
                    ModelDimension: d, Layers: config.Layers, StateDimension: config.StateDimension, DtMin: 0.1,
                    DtMax: 1.0));
                break;
            default:
                var mamba = new MambaConfig(VocabularySize: 1, ModelDimension: d, Layers: config.Layers,
                    StateDimension: config.StateDimension);
                layers = nn.ModuleList(Enumerable.Range(0, config.Layers)
                    .Select(i => new MambaResidualLayer($"layer{i}", mamba)).ToArray());
                norm_f = new RMSNorm("norm_f", d);
                break;
        }
        head = nn.Linear(d, config.Horizon * config.Outputs);
        RegisterComponents();
    }

    public override Tensor Forecast(ForecastBatch batch)
    {
        var hidden = input_proj.forward(StepFeatures(batch));
        if (rnn is not null)
        {
            (hidden, _) = rnn.forward(hidden, null, null);
        }
        else if (backbone is not null)
        {
            hidden = backbone.forward(hidden);
        }
        else if (ssm is not null)
        {
            hidden = ssm.forward(hidden);
        }
        else
        {
            foreach (var layer in layers!) hidden = layer.forward(hidden);
            hidden = norm_f!.forward(hidden);
        }
        var last = hidden[.., -1, ..];
        return OrderQuantiles(head.forward(last).reshape(batch.Count, config.Horizon, config.Outputs));
    }

    /// <summary>The TCN of a tcn forecaster: width d, kernel 7, Layers levels or as many as cover the lags.</summary>
    public static BackboneConfig TcnBackbone(SequenceForecasterConfig config)
    {
        var covering = BackboneConfig.For(ModelFamilies.Tcn, config.Lags) with { ModelDimension = config.ModelDimension };
        return covering with { Layers = Math.Max(covering.Layers, config.Layers) };
    }

    /// <remarks>The weight matrices are decayed; biases and norms are not.</remarks>
    protected override bool IsDecayed(string parameterName) =>
        parameterName.EndsWith("weight", StringComparison.Ordinal) && !parameterName.Contains("norm", StringComparison.Ordinal)
        || parameterName.StartsWith("rnn.weight_", StringComparison.Ordinal)
        || parameterName.EndsWith("weight_v", StringComparison.Ordinal);
}
