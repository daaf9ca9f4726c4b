using HybridSeq.Models.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Forecasting;

/// <summary>
/// The base of every forecaster (AR-Net, the sequence families as forecasters): a model that maps a
/// <see cref="ForecastBatch"/> to forecasts (Count, Horizon, Q) in the task's scaled units, Q = the number of quantile
/// levels (1 for a point forecast). Loss and metrics follow from that: the masked mean squared error (point) or the
/// masked mean pinball loss over every level (quantiles) for training; MSE, MAE and MASE of the point forecast (the
/// median with quantiles) in the series' units for evaluation. Missing targets count nowhere.
/// </summary>
public abstract class ForecastModel : TaskModel
{
    protected ForecastModel(string name) : base(name)
    {
    }

    /// <summary>The forecasts of <paramref name="batch"/>: (Count, Horizon, Q) float32 on the model's device, scaled;
    /// quantile levels ascending and the forecasts non-decreasing along Q.</summary>
    public abstract Tensor Forecast(ForecastBatch batch);

    /// <summary>(Count, Horizon, Q) raw outputs -> the same with non-decreasing quantiles: level 0 as is, each next
    /// level the previous plus a softplus (so intervals never cross, by construction).</summary>
    protected static Tensor OrderQuantiles(Tensor raw)
    {
        if (raw.shape[2] == 1) return raw;
        var first = raw[.., .., ..1];
        var increments = nn.functional.softplus(raw[.., .., 1..]);
        return cat([first, first + increments.cumsum(2)], 2);
    }

    public override Tensor Loss(ITask task, TaskBatch batch)
    {
        var forecastTask = ExpectTask<IForecastTask>(task);
        var windows = ExpectBatch<ForecastBatch>(batch);
        return ForecastLoss(forecastTask, windows, Forecast(windows));
    }

    /// <summary>The masked point or pinball loss of <paramref name="forecast"/> (Count, Horizon, Q).</summary>
    public Tensor ForecastLoss(IForecastTask task, ForecastBatch batch, Tensor forecast)
    {
        var device = forecast.device;
        var targets = tensor(batch.Targets, [batch.Count, batch.Horizon, 1], device: device);
        var mask = tensor(batch.TargetMask, [batch.Count, batch.Horizon, 1], device: device);
        var observed = mask.sum().clamp_min(1);
        var error = targets - forecast;
        if (task.Quantiles.Count == 0)
            return (error.square() * mask).sum() / observed;
        var levels = tensor(task.Quantiles.Select(q => (float)q).ToArray(), [1, 1, task.Quantiles.Count], device: device);
        // Pinball: q * e when the target is above the forecast (e > 0), (q - 1) * e below.
        var pinball = maximum(levels * error, (levels - 1) * error);
        return (pinball * mask).sum() / (observed * task.Quantiles.Count);
    }

    public override MetricTotals Evaluate(ITask task, TaskBatch batch, EvaluationOptions options)
    {
        var forecastTask = ExpectTask<IForecastTask>(task);
        var windows = ExpectBatch<ForecastBatch>(batch);
        using var noGrad = no_grad();
        var totals = MetricTotals.For(task);
        ForecastMetrics.AddPointErrors(totals, forecastTask, windows, PointForecast(forecastTask, windows));
        return totals;
    }

    /// <summary>The point forecasts (the median with quantiles), (Count * Horizon) scaled, row-major.</summary>
    public float[] PointForecast(IForecastTask task, ForecastBatch batch)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var forecast = Forecast(batch);
        int point = task.Quantiles.Count == 0 ? 0 : task.Quantiles.ToList().IndexOf(0.5);
        return forecast[.., .., point].contiguous().cpu().to(ScalarType.Float32).data<float>().ToArray();
    }

    /// <summary>Every level's forecast, (Count, Horizon, Q) scaled, row-major.</summary>
    public float[] QuantileForecast(ForecastBatch batch)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return Forecast(batch).contiguous().cpu().to(ScalarType.Float32).data<float>().ToArray();
    }

    /// <summary>The batch's value lags with the mask and covariates as per-step features: (Count, Lags, 2 + C).</summary>
    protected Tensor StepFeatures(ForecastBatch batch)
    {
        var device = ParameterDevice;
        var values = tensor(batch.Inputs, [batch.Count, batch.Lags, 1], device: device);
        var mask = tensor(batch.InputMask, [batch.Count, batch.Lags, 1], device: device);
        if (batch.CovariateCount == 0) return cat([values, mask], 2);
        var covariates = tensor(batch.Covariates, [batch.Count, batch.Lags, batch.CovariateCount], device: device);
        return cat([values, mask, covariates], 2);
    }

    /// <summary>The config's shape must match the task's: lags, horizon, covariates, quantile levels.</summary>
    internal static void RequireShape(string family, int lags, int horizon, int covariates, int outputs, ITask task)
    {
        if (task is not IForecastTask f)
            throw new ArgumentException($"config: a {family} forecaster reads forecasting tasks, got {task.Name} (kind {task.Kind}).",
                "config");
        int levels = Math.Max(1, f.Quantiles.Count);
        if (f.Lags != lags || f.Horizon != horizon || f.CovariateCount != covariates || levels != outputs)
            throw new ArgumentException(
                $"config: the {family} forecaster reads {lags} lags, {covariates} covariates and forecasts {horizon} steps at {outputs} level(s); the task {task.Name} has {f.Lags} lags, {f.CovariateCount} covariates, horizon {f.Horizon}, {levels} level(s).",
                "config");
    }
}

/// <summary>The forecasting metrics as sums (<see cref="MetricTotals"/>) over the observed targets, in the series'
/// units: MSE, MAE and MASE (the absolute error over the task's MASE scale).</summary>
public static class ForecastMetrics
{
    /// <summary>Adds the errors of <paramref name="point"/> (Count * Horizon, scaled) on <paramref name="batch"/>'s
    /// observed targets to metrics 0 (mse), 1 (mae) and 2 (mase).</summary>
    public static void AddPointErrors(MetricTotals totals, IForecastTask task, ForecastBatch batch, IReadOnlyList<float> point)
    {
        var (std, maseScale) = Units(task);
        double squared = 0, absolute = 0;
        int count = 0;
        for (int i = 0; i < batch.Targets.Length; i++)
        {
            if (batch.TargetMask[i] == 0) continue;
            double error = (point[i] - batch.Targets[i]) * std;
            squared += error * error;
            absolute += Math.Abs(error);
            count++;
        }
        totals.Add(0, squared, count);
        totals.Add(1, absolute, count);
        totals.Add(2, absolute / maseScale, count);
    }

    /// <summary>The scale of the series (scaled units -> series units) and its MASE scale.</summary>
    public static (double Std, double MaseScale) Units(IForecastTask task) => task switch
    {
        ForecastingTask f => (f.Scale.Std, f.MaseScale),
        ArSyntheticTask a => (a.Series.Scale.Std, a.Series.MaseScale),
        _ => throw new ArgumentException($"task: expected a ForecastingTask or ArSyntheticTask, got {task.GetType().Name}.",
            nameof(task)),
    };

    /// <summary>sTPE, the symmetric total percentage error of estimated AR coefficients:
    /// 100 * sum |estimate - truth| / sum (|estimate| + |truth|); the shorter list is padded with zeros.</summary>
    public static double SymmetricTotalPercentageError(IReadOnlyList<double> estimate, IReadOnlyList<double> truth)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        ArgumentNullException.ThrowIfNull(truth);
        double difference = 0, total = 0;
        for (int i = 0; i < Math.Max(estimate.Count, truth.Count); i++)
        {
            double e = i < estimate.Count ? estimate[i] : 0, t = i < truth.Count ? truth[i] : 0;
            difference += Math.Abs(e - t);
            total += Math.Abs(e) + Math.Abs(t);
        }
        return total == 0 ? 0 : 100 * difference / total;
    }
}
