using System.Text.Json.Serialization;
using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Forecasting;

/// <summary>
/// Hyper-parameters of <see cref="ArNet"/> (family arnet); serialised into checkpoints.
/// </summary>
/// <param name="Lags">P: past values read.</param>
/// <param name="Horizon">H: future values forecast at once (direct multi-step).</param>
/// <param name="Covariates">C: covariate series whose P lags are extra inputs.</param>
/// <param name="Outputs">Q: forecasts per step (1, or the number of quantile levels).</param>
/// <param name="Hidden">Widths of hidden ReLU layers; empty: the linear AR-Net of the paper.</param>
/// <param name="Sparsity">s, the expected fraction of non-zero AR coefficients, in (0, 1]; null: no
/// regulariser. The regulariser weight is lambda = RegularizerScale * (1 / s - 1).</param>
/// <param name="RegularizerScale">c_lambda.</param>
/// <param name="C1">c1 of R(theta) (the paper: 3).</param>
/// <param name="C2">c2 of R(theta) (the paper: 3).</param>
/// <param name="RampSteps">Training steps over which lambda ramps linearly from 0 to its full value (0: from the
/// start), so the fit finds the coefficients' scale before sparsity is pressed on it.</param>
public sealed record ArNetConfig(
    int Lags,
    int Horizon,
    int Covariates = 0,
    int Outputs = 1,
    int[]? Hidden = null,
    double? Sparsity = null,
    double RegularizerScale = 0.05,
    double C1 = 3,
    double C2 = 3,
    int RampSteps = 500) : IModelConfig
{
    public const string FamilyName = "arnet";

    [JsonIgnore] public string Family => FamilyName;

    /// <summary>lambda = c_lambda * (1 / s - 1); 0 without a sparsity.</summary>
    [JsonIgnore] public double Lambda => Sparsity is double s ? RegularizerScale * (1 / s - 1) : 0;

    public void Validate()
    {
        Require(Lags >= 1, Lags, nameof(Lags), "at least 1");
        Require(Horizon >= 1, Horizon, nameof(Horizon), "at least 1");
        Require(Covariates >= 0, Covariates, nameof(Covariates), "zero or more");
        Require(Outputs >= 1, Outputs, nameof(Outputs), "at least 1");
        foreach (int width in Hidden ?? []) Require(width >= 1, width, nameof(Hidden), "positive widths");
        if (Sparsity is double s) Require(s > 0 && s <= 1, s, nameof(Sparsity), "a fraction in (0, 1]");
        Require(RegularizerScale >= 0 && double.IsFinite(RegularizerScale), RegularizerScale, nameof(RegularizerScale), "zero or more");
        Require(C1 > 0 && double.IsFinite(C1), C1, nameof(C1), "positive");
        Require(C2 > 0 && double.IsFinite(C2), C2, nameof(C2), "positive");
        Require(RampSteps >= 0, RampSteps, nameof(RampSteps), "zero or more steps");
    }

    public void ValidateFor(ITask task) => ForecastModel.RequireShape(FamilyName, Lags, Horizon, Covariates, Outputs, task);

    /// <summary>The default AR-Net for <paramref name="task"/>: linear, its shape.</summary>
    public static ArNetConfig For(IForecastTask task) =>
        new(task.Lags, task.Horizon, task.CovariateCount, Math.Max(1, task.Quantiles.Count));

    private static void Require(bool ok, object value, string name, string expected)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"ArNetConfig.{name} must be {expected}, got {value}.");
    }
}

/// <summary>
/// AR-Net (Triebe, Laptev and Rajagopal 2019): the P lags (and the covariates' lags) -> [hidden ReLU layers] -> H x Q
/// forecasts, trained by SGD on the forecasting loss plus, with a sparsity, lambda R(theta) on the first layer's
/// weights, R(theta) = (1/p) sum_i (2 / (1 + exp(-c1 |theta_i|^(1/c2))) - 1), lambda ramped in over RampSteps. Missing
/// inputs are zero (the training mean). Linear, its first layer's weights are the AR coefficients
/// (<see cref="LagWeights"/>).
/// </summary>
public sealed class ArNet : ForecastModel
{
    private readonly ArNetConfig config;
    private readonly ModuleList<Linear> layers;
    // Training losses computed so far: the ramp's clock. A buffer, so a checkpoint resumes the ramp where it was.
    private readonly Tensor regularizer_step;

    public override IModelConfig Config => config;

    public ArNet(ArNetConfig config) : base(nameof(ArNet))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        this.config = config;
        int inputs = config.Lags * (1 + config.Covariates);
        var widths = new[] { inputs }.Concat(config.Hidden ?? []).Append(config.Horizon * config.Outputs).ToArray();
        layers = nn.ModuleList(Enumerable.Range(0, widths.Length - 1)
            .Select(i => nn.Linear(widths[i], widths[i + 1])).ToArray());
        regularizer_step = zeros(1, dtype: ScalarType.Float32);
        RegisterComponents();
    }

    public override Tensor Forecast(ForecastBatch batch)
    {
        var device = ParameterDevice;
        var x = tensor(batch.Inputs, [batch.Count, batch.Lags], device: device);
        if (batch.CovariateCount > 0)
            x = cat([x, tensor(batch.Covariates, [batch.Count, batch.Lags * batch.CovariateCount], device: device)], 1);
        for (int i = 0; i < layers.Count; i++)
        {
            x = layers[i].forward(x);
            if (i < layers.Count - 1) x = nn.functional.relu(x);
        }
        return OrderQuantiles(x.reshape(batch.Count, config.Horizon, config.Outputs));
    }

    /// <summary>The forecasting loss plus the ramped sparsity regulariser (training mode advances the ramp).</summary>
    public override Tensor Loss(ITask task, TaskBatch batch)
    {
        var loss = base.Loss(task, batch);
        if (config.Lambda == 0) return loss;
        double step = regularizer_step.cpu().item<float>();
        double ramp = config.RampSteps == 0 ? 1 : Math.Min(1, step / config.RampSteps);
        if (training)
            using (no_grad()) regularizer_step.add_(1);
        return ramp == 0 ? loss : loss + config.Lambda * ramp * Regularizer();
    }

    /// <summary>R(theta) over the first layer's value-lag weights (the AR coefficients when linear).</summary>
    public Tensor Regularizer()
    {
        var weights = layers[0].weight![.., ..config.Lags];
        // The small offset keeps the gradient of |theta|^(1/c2) finite at exactly zero.
        var magnitude = (weights.abs() + 1e-12).pow(1 / config.C2);
        return (2 / (1 + (-config.C1 * magnitude).exp()) - 1).mean();
    }

    /// <summary>
    /// Per horizon step h (rows) and lag i = 1..P (columns, lag 1 = the latest value): linear, the AR coefficient of
    /// the point forecast (the median level with quantiles), so lag-1 column 0 is w_1; with hidden layers, the mean
    /// absolute first-layer weight of the lag (an importance, the same for every row).
    /// </summary>
    public double[,] LagWeights(int pointLevel = 0)
    {
        using var noGrad = no_grad();
        int p = config.Lags, h = config.Horizon;
        var first = layers[0].weight!.cpu().to(ScalarType.Float64);
        var result = new double[h, p];
        if (layers.Count == 1)
        {
            var w = first.reshape(h, config.Outputs, -1).select(1, pointLevel).data<double>().ToArray();
            int width = (int)first.shape[1];
            for (int step = 0; step < h; step++)
                for (int lag = 1; lag <= p; lag++)
                    result[step, lag - 1] = w[step * width + p - lag];
        }
        else
        {
            var importance = first[.., ..p].abs().mean([0]).data<double>().ToArray();
            for (int step = 0; step < h; step++)
                for (int lag = 1; lag <= p; lag++)
                    result[step, lag - 1] = importance[p - lag];
        }
        return result;
    }

    /// <summary>The metrics, and for <see cref="ArSyntheticTask"/> (linear, one step) the sTPE of lag weights of
    /// step 1 against the true coefficients (one count per chunk, so every chunk adds the same value).</summary>
    public override MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options)
    {
        var totals = base.Evaluate(task, batch, options);
        if (task is ArSyntheticTask synthetic && layers.Count == 1)
        {
            var weights = LagWeights();
            var estimate = Enumerable.Range(0, config.Lags).Select(i => weights[0, i]).ToArray();
            totals.Add(3, ForecastMetrics.SymmetricTotalPercentageError(estimate, synthetic.Coefficients), 1);
        }
        return totals;
    }

    protected override bool IsDecayed(string parameterName) => false;
}
