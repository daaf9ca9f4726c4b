using System.Text.Json.Serialization;
using HybridSeq.Models.Tasks;

namespace HybridSeq.Models.Forecasting;

/// <summary>
/// The AR-Net paper's synthetic experiment (Triebe, Laptev and Rajagopal 2019, section 4): an AR(TrueOrder) process
/// y_t = sum_i w_i y_{t-i} + e_t, e_t ~ N(0, Noise^2), fitted by a model of order Lags (known order: Lags =
/// TrueOrder; unknown: Lags much larger) on Samples training values; the next HeldOutSamples values are held out.
/// The coefficients are drawn from DataSeed uniformly in [-1, 1] and rescaled to sum |w| = 0.95 (the paper's
/// sum |w| &lt;= 1, kept off the unit root so the process is stationary). Values are not rescaled, so fitted
/// coefficients compare with w directly (sTPE, the fourth metric, for models that have coefficients).
/// </summary>
public sealed record ArSyntheticTask(
    int TrueOrder = 3,
    int Lags = 20,
    int Samples = 1000,
    int HeldOutSamples = 1000,
    double Noise = 1.0,
    int Horizon = 1,
    int DataSeed = 0) : IForecastTask
{
    public const string TaskName = "ar-synthetic";

    /// <summary>Values dropped at the start so the process has forgotten its zero start.</summary>
    public const int BurnIn = 200;

    public static IReadOnlyList<MetricDefinition> SyntheticMetrics { get; } =
    [
        .. ForecastingTask.ForecastMetrics,
        new("stpe", "symmetric total percentage error of the AR coefficients", "sTPE {0}", MetricGoal.LowerIsBetter, false),
    ];

    // The last generated series, by parameters (a static cache: instance fields would enter the record's equality).
    private static readonly object CacheLock = new();
    private static ((int, int, int, int, double, int, int) Key, ForecastingTask Value)? cache;

    private (int, int, int, int, double, int, int) Key => (TrueOrder, Lags, Samples, HeldOutSamples, Noise, Horizon, DataSeed);

    public string Name => TaskName;
    public string Kind => TaskKinds.Forecasting;
    [JsonIgnore] public int CovariateCount => 0;
    [JsonIgnore] public IReadOnlyList<double> Quantiles => [];
    [JsonIgnore] public IReadOnlyList<MetricDefinition> Metrics => SyntheticMetrics;
    [JsonIgnore] public string SizeName => "horizon";
    [JsonIgnore] public IReadOnlyList<int> EvaluationSizes => [Horizon];

    public void Validate()
    {
        Require(TrueOrder >= 1, TrueOrder, nameof(TrueOrder), "at least 1");
        Require(Lags >= 1, Lags, nameof(Lags), "at least 1");
        Require(Horizon >= 1, Horizon, nameof(Horizon), "at least 1");
        Require(Samples >= Lags + Horizon + 1, Samples, nameof(Samples), $"at least Lags + Horizon + 1 = {Lags + Horizon + 1}");
        Require(HeldOutSamples >= Horizon, HeldOutSamples, nameof(HeldOutSamples), $"at least Horizon = {Horizon}");
        Require(Noise > 0 && double.IsFinite(Noise), Noise, nameof(Noise), "a positive finite standard deviation");
    }

    /// <summary>The true coefficients w_1..w_TrueOrder (lag 1 first).</summary>
    [JsonIgnore]
    public double[] Coefficients
    {
        get
        {
            var random = new Random(DataSeed);
            var w = Enumerable.Range(0, TrueOrder).Select(_ => 2 * random.NextDouble() - 1).ToArray();
            double sum = w.Sum(Math.Abs);
            return w.Select(x => 0.95 * x / sum).ToArray();
        }
    }

    /// <summary>The generated series as a forecasting task: Samples training rows, HeldOutSamples validation rows,
    /// no test part, not rescaled.</summary>
    [JsonIgnore]
    public ForecastingTask Series
    {
        get
        {
            lock (CacheLock)
                if (cache is { } hit && hit.Key == Key) return hit.Value;
            Validate();
            var w = Coefficients;
            var random = new Random(unchecked(DataSeed * 7919 + 17));
            int total = BurnIn + Samples + HeldOutSamples;
            var y = new double[total];
            for (int t = 0; t < total; t++)
            {
                double value = Noise * Gaussian(random);
                for (int i = 0; i < w.Length && i < t; i++) value += w[i] * y[t - 1 - i];
                y[t] = value;
            }
            var series = new ForecastingTask(y[BurnIn..], [], Lags, Horizon, Samples, HeldOutSamples, [], Standardize: false);
            lock (CacheLock) cache = (Key, series);
            return series;
        }
    }

    public TaskBatch Sample(int count, int seed, int? size = null) => Series.Sample(count, seed, size);
    public TaskBatch HeldOut(int count, int seed, int? size = null) => Series.HeldOut(count, seed, size);
    public ForecastBatch Windows(ForecastSplit split) => Series.Windows(split);

    private static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static void Require(bool ok, object value, string name, string expected)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"ArSyntheticTask.{name} must be {expected}, got {value}.");
    }
}
