using System.Text.Json.Serialization;
using HybridSeq.Models.Tasks;

namespace HybridSeq.Models.Forecasting;

/// <summary>The chronological parts of a forecasting series.</summary>
public enum ForecastSplit
{
    Training,
    Validation,
    Test,
}

/// <summary>
/// A forecasting task (kind <see cref="TaskKinds.Forecasting"/>): what every forecaster reads. Its examples are
/// windows of one series: Lags past values (and covariates) in, the next Horizon values out (direct multi-step).
/// Training examples are drawn from the training part; held-out ones (<see cref="IHeldOutTask"/>) are the
/// rolling-origin windows of the validation part.
/// </summary>
public interface IForecastTask : IHeldOutTask
{
    /// <summary>P: past values a forecast reads.</summary>
    int Lags { get; }

    /// <summary>H: future values a forecast predicts.</summary>
    int Horizon { get; }

    /// <summary>C: covariate series read beside the target (their lags are extra inputs).</summary>
    int CovariateCount { get; }

    /// <summary>The quantile levels forecast, ascending, 0.5 among them; empty: a point forecast (MSE loss).</summary>
    IReadOnlyList<double> Quantiles { get; }

    /// <summary>The windows of a part, every origin in order (rolling-origin evaluation, step 1).</summary>
    ForecastBatch Windows(ForecastSplit split);
}

/// <summary>
/// Forecasting one series (a CSV's column, <see cref="TimeSeries"/>): rows [0, TrainCount) train, the next
/// ValidationCount validate, the rest test. A window with origin t reads rows [t - Lags, t) and predicts rows
/// [t, t + Horizon); a window belongs to the part its first target row is in and every target row must lie in that
/// part. The scaling (mean and standard deviation, missing values ignored) and the MASE scale (the mean absolute
/// error of the seasonal-naive forecast y_t = y_{t-Season}) come from the training part only. Missing values (NaN)
/// are masked: out of the loss and the metrics as targets, zero (the training mean) plus a mask flag as inputs.
/// </summary>
/// <param name="Values">The target series (NaN where missing).</param>
/// <param name="Covariates">Covariates[c][t] (NaN where missing); empty for none.</param>
/// <param name="Lags">P: past values each window reads.</param>
/// <param name="Horizon">H: future values each window predicts.</param>
/// <param name="TrainCount">Rows of the training part (the first ones).</param>
/// <param name="ValidationCount">Rows of the validation part (after the training part); the rest is the test part.</param>
/// <param name="Quantiles">Quantile levels (ascending, in (0, 1), 0.5 among them); empty for a point forecast.</param>
/// <param name="Season">The seasonal-naive period of MASE (1: the naive forecast).</param>
/// <param name="Standardize">Scale by the training mean and standard deviation (false: raw values).</param>
public sealed record ForecastingTask(
    [property: JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)] double[] Values,
    [property: JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)] double[][] Covariates,
    int Lags,
    int Horizon,
    int TrainCount,
    int ValidationCount,
    double[] Quantiles,
    int Season = 1,
    bool Standardize = true) : IForecastTask
{
    public const string TaskName = "forecast";

    public static IReadOnlyList<MetricDefinition> ForecastMetrics { get; } =
    [
        new("mse", "mean squared error", "MSE {0}", MetricGoal.LowerIsBetter, false),
        new("mae", "mean absolute error", "MAE {0}", MetricGoal.LowerIsBetter, false),
        new("mase", "mean absolute scaled error (vs seasonal naive)", "MASE {0}", MetricGoal.LowerIsBetter, false),
    ];

    /// <summary>A task on <paramref name="series"/> with chronological fractions for validation and test.</summary>
    public static ForecastingTask FromSeries(TimeSeries series, int lags, int horizon, double validationFraction,
        double testFraction, IReadOnlyList<double>? quantiles = null, int season = 1)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (!(validationFraction >= 0 && testFraction > 0 && validationFraction + testFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction,
                $"validationFraction: expected validation >= 0, test > 0 and their sum below 1, got {validationFraction} and {testFraction}.");
        int n = series.Length;
        int test = (int)Math.Round(n * testFraction);
        int validation = (int)Math.Round(n * validationFraction);
        var task = new ForecastingTask(series.Values, series.Covariates.ToArray(), lags, horizon, n - validation - test,
            validation, (quantiles ?? []).ToArray(), season);
        task.Validate();
        return task;
    }

    public string Name => TaskName;
    public string Kind => TaskKinds.Forecasting;

    int IForecastTask.Lags => Lags;
    int IForecastTask.Horizon => Horizon;

    [JsonIgnore] public int CovariateCount => Covariates.Length;
    IReadOnlyList<double> IForecastTask.Quantiles => Quantiles;

    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => ForecastMetrics;
    [JsonIgnore] public string SizeName => "horizon";
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes => [Horizon];

    [JsonIgnore] public int TestCount => Values.Length - TrainCount - ValidationCount;

    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Values, nameof(Values));
        ArgumentNullException.ThrowIfNull(Covariates, nameof(Covariates));
        ArgumentNullException.ThrowIfNull(Quantiles, nameof(Quantiles));
        Require(Lags >= 1, Lags, nameof(Lags), "at least 1 lag");
        Require(Horizon >= 1, Horizon, nameof(Horizon), "at least 1 step");
        Require(Season >= 1, Season, nameof(Season), "a period of at least 1");
        Require(TrainCount >= Lags + Horizon + Season, TrainCount, nameof(TrainCount),
            $"at least Lags + Horizon + Season = {Lags + Horizon + Season} training rows (one training window and a MASE scale; the series has {Values.Length} rows)");
        Require(ValidationCount == 0 || ValidationCount >= Horizon, ValidationCount, nameof(ValidationCount),
            $"0 or at least Horizon = {Horizon} rows (one validation window)");
        Require(TestCount >= 0, TestCount, nameof(TestCount), "zero or more rows");
        for (int c = 0; c < Covariates.Length; c++)
            if (Covariates[c]?.Length != Values.Length)
                throw new ArgumentOutOfRangeException(nameof(Covariates), Covariates[c]?.Length,
                    $"ForecastingTask.Covariates[{c}] must have {Values.Length} values (one per row), got {Covariates[c]?.Length}.");
        for (int q = 0; q < Quantiles.Length; q++)
        {
            Require(Quantiles[q] is > 0 and < 1, Quantiles[q], nameof(Quantiles), "levels in (0, 1)");
            Require(q == 0 || Quantiles[q] > Quantiles[q - 1], Quantiles[q], nameof(Quantiles), "strictly ascending levels");
        }
        Require(Quantiles.Length == 0 || Quantiles.Contains(0.5), string.Join(", ", Quantiles), nameof(Quantiles),
            "levels that include 0.5 (the point forecast is the median)");
        if (!(Scale.Std > 0))
            throw new ArgumentOutOfRangeException(nameof(Values), Scale.Std,
                "ForecastingTask.Values must have at least two distinct observed values in the training part.");
        if (!(MaseScale > 0))
            throw new ArgumentOutOfRangeException(nameof(Values), MaseScale,
                $"ForecastingTask.Values: the seasonal-naive forecast (period {Season}) has no error on the training part, so MASE is undefined; give a series that varies.");
    }

    /// <summary>The training part's mean and standard deviation (missing values ignored); (0, 1) without
    /// <see cref="Standardize"/>.</summary>
    [JsonIgnore] public (double Mean, double Std) Scale => Standardize ? MeanStd(Values, TrainCount) : (0, 1);

    /// <summary>Mean |y_t - y_{t-Season}| over the training part's observed pairs (original units).</summary>
    [JsonIgnore]
    public double MaseScale
    {
        get
        {
            double sum = 0;
            int count = 0;
            for (int t = Season; t < TrainCount; t++)
            {
                double d = Values[t] - Values[t - Season];
                if (double.IsNaN(d)) continue;
                sum += Math.Abs(d);
                count++;
            }
            return count == 0 ? double.NaN : sum / count;
        }
    }

    /// <summary>Random training windows (origins drawn with replacement, from <paramref name="seed"/>).</summary>
    public TaskBatch Sample(int count, int seed, int? size = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var origins = Origins(ForecastSplit.Training);
        var random = new Random(seed);
        return Build(Enumerable.Range(0, count).Select(_ => origins[random.Next(origins.Count)]).ToArray());
    }

    /// <summary>The validation part's rolling-origin windows (at most <paramref name="count"/>, the latest ones);
    /// the training windows' distribution when there is no validation part.</summary>
    public TaskBatch HeldOut(int count, int seed, int? size = null)
    {
        var origins = Origins(ValidationCount > 0 ? ForecastSplit.Validation : ForecastSplit.Training);
        return Build(origins.Skip(Math.Max(0, origins.Count - count)).ToArray());
    }

    public ForecastBatch Windows(ForecastSplit split) => Build(Origins(split).ToArray());

    /// <summary>The window after the end of the series: the last Lags rows in, the future out (targets missing).</summary>
    public ForecastBatch Future() => Build([Values.Length]);

    /// <summary>The origins of a part's windows whose targets are not all missing, ascending.</summary>
    public IReadOnlyList<int> Origins(ForecastSplit split)
    {
        var (start, end) = split switch
        {
            ForecastSplit.Training => (0, TrainCount),
            ForecastSplit.Validation => (TrainCount, TrainCount + ValidationCount),
            _ => (TrainCount + ValidationCount, Values.Length),
        };
        var origins = new List<int>();
        for (int t = Math.Max(start, Lags); t + Horizon <= end; t++)
        {
            bool any = false;
            for (int h = 0; h < Horizon && !any; h++) any = !double.IsNaN(Values[t + h]);
            if (any) origins.Add(t);
        }
        return origins;
    }

    /// <summary>The windows at <paramref name="origins"/> (scaled; missing values zero and masked). Rows past the
    /// end of the series are missing targets (the future).</summary>
    public ForecastBatch Build(int[] origins)
    {
        var (mean, std) = Scale;
        var covariateScales = Covariates.Select(c => Standardize ? MeanStd(c, TrainCount) : (0, 1)).ToArray();
        int n = origins.Length, p = Lags, h = Horizon, cCount = Covariates.Length;
        var inputs = new float[n * p];
        var inputMask = new float[n * p];
        var covariates = new float[n * p * cCount];
        var targets = new float[n * h];
        var targetMask = new float[n * h];
        for (int i = 0; i < n; i++)
        {
            int t = origins[i];
            if (t < Lags || t > Values.Length)
                throw new ArgumentOutOfRangeException(nameof(origins), t,
                    $"origins: expected origins in [{Lags}, {Values.Length}], got {t}.");
            for (int j = 0; j < p; j++)
            {
                int row = t - p + j;
                double v = Values[row];
                if (!double.IsNaN(v))
                {
                    inputs[i * p + j] = (float)((v - mean) / std);
                    inputMask[i * p + j] = 1;
                }
                for (int c = 0; c < cCount; c++)
                {
                    double x = Covariates[c][row];
                    var (cm, cs) = covariateScales[c];
                    covariates[(i * p + j) * cCount + c] = double.IsNaN(x) ? 0f : (float)((x - cm) / (cs > 0 ? cs : 1));
                }
            }
            for (int k = 0; k < h; k++)
            {
                int row = t + k;
                double v = row < Values.Length ? Values[row] : double.NaN;
                if (double.IsNaN(v)) continue;
                targets[i * h + k] = (float)((v - mean) / std);
                targetMask[i * h + k] = 1;
            }
        }
        return new ForecastBatch(origins, p, h, cCount, inputs, inputMask, covariates, targets, targetMask);
    }

    private static (double Mean, double Std) MeanStd(double[] values, int count)
    {
        var observed = values.Take(count).Where(v => !double.IsNaN(v)).ToArray();
        if (observed.Length < 2) return (observed.Length == 1 ? observed[0] : 0, 0);
        double mean = observed.Average();
        double variance = observed.Sum(v => (v - mean) * (v - mean)) / (observed.Length - 1);
        return (mean, Math.Sqrt(variance));
    }

    private static void Require(bool ok, object value, string name, string expected)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"ForecastingTask.{name} must be {expected}, got {value}.");
    }
}

/// <summary>
/// Forecasting windows, row-major CPU arrays: Inputs and InputMask (Count, Lags), oldest lag first; Covariates
/// (Count, Lags, CovariateCount); Targets and TargetMask (Count, Horizon). Values are scaled by the task's training
/// scale; a missing value is 0 with mask 0.
/// </summary>
public sealed class ForecastBatch(int[] origins, int lags, int horizon, int covariateCount, float[] inputs,
    float[] inputMask, float[] covariates, float[] targets, float[] targetMask) : TaskBatch
{
    /// <summary>The origin (first target row) of each window.</summary>
    public int[] Origins { get; } = origins;
    public int Lags { get; } = lags;
    public int Horizon { get; } = horizon;
    public int CovariateCount { get; } = covariateCount;
    public float[] Inputs { get; } = inputs;
    public float[] InputMask { get; } = inputMask;
    public float[] Covariates { get; } = covariates;
    public float[] Targets { get; } = targets;
    public float[] TargetMask { get; } = targetMask;

    public override int Count => Origins.Length;
    public override long ElementCount => (long)Count * (Lags * (1 + CovariateCount) + Horizon);

    public override TaskBatch Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), start,
                $"start: expected a range inside [0, {Count}), got [{start}, {start + count}).");
        int p = Lags, h = Horizon, c = CovariateCount;
        return new ForecastBatch(Origins[start..(start + count)], p, h, c,
            Inputs[(start * p)..((start + count) * p)], InputMask[(start * p)..((start + count) * p)],
            Covariates[(start * p * c)..((start + count) * p * c)],
            Targets[(start * h)..((start + count) * h)], TargetMask[(start * h)..((start + count) * h)]);
    }
}
