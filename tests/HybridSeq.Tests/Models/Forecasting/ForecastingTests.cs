using HybridSeq.Models;
using HybridSeq.Models.Forecasting;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using NUnit.Framework;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Forecasting;

/// <summary>Forecasting: the CSV reader, the task's windows and masking, least squares, AR-Net's coefficient
/// recovery, quantile forecasts, every forecasting family through the one trainer.</summary>
[TestFixture]
public sealed class ForecastingTests
{
    /// <summary>A narrow sequence forecaster (the tests' runs take seconds); other configs as they are.</summary>
    private static IModelConfig Small(IModelConfig config) =>
        config is SequenceForecasterConfig sequence ? sequence with { ModelDimension = 8, StateDimension = 4 } : config;

    private static TimeSeries Csv(string text, string value = "y", params string[] covariates) =>
        TimeSeriesCsv.Read(new StringReader(text), "t", value, covariates, "test.csv");

    [Test]
    public void CsvReadsNumbersDatesAndMissingValues()
    {
        var series = Csv("t,y,x\n2001,1.5,3\n2002,,4\n2003,NA,5\n2004,2.5,\n", "y", "x");
        Assert.That(series.Kind, Is.EqualTo(TimeAxisKind.Number));
        Assert.That(series.Values, Is.EqualTo(new[] { 1.5, double.NaN, double.NaN, 2.5 }));
        Assert.That(series.Covariates[0], Is.EqualTo(new[] { 3, 4, 5, double.NaN }));
        Assert.That(series.FutureTimes(2), Is.EqualTo(new[] { "2005", "2006" }));

        var monthly = Csv("t,y\n2024-01-31,1\n2024-02-29,2\n2024-03-31,3\n");
        Assert.That(monthly.Kind, Is.EqualTo(TimeAxisKind.Date));
        Assert.That(monthly.MonthStep, Is.EqualTo(1));
        Assert.That(monthly.FutureTimes(1), Is.EqualTo(new[] { "2024-04-30" }));
        var daily = Csv("t,y\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n");
        Assert.That(daily.FutureTimes(1), Is.EqualTo(new[] { "2024-01-04" }));
    }

    [TestCase("t,y\n1,2\n2,3\n", "z", "--value-column 'z' is not a column; the columns are t, y.")]
    [TestCase("t,y\n1,2\n2,abc\n3,4\n", "y", "row 2, column 'y': expected a number (or an empty cell, NA, NaN for a missing value), got 'abc'.")]
    [TestCase("t,y\n1,2\n2,3\n2,4\n", "y", "row 3, column 't': time '2' repeats row 2's; expected strictly increasing times.")]
    [TestCase("t,y\n1,2\n3,3\n2,4\n", "y", "row 3, column 't': time '2' is before row 2's '3'")]
    [TestCase("t,y\n1,2\n2,3\n4,4\n", "y", "row 3, column 't': irregular time step: expected 1 (rows 1 to 2), got 2 from '2' to '4'.")]
    [TestCase("t,y\n2024-01-01,2\n2024-01-02,3\n2024-01-04,4\n", "y", "row 3, column 't': irregular time step")]
    [TestCase("t,y\n2024-01-01,2\nsoon,3\n", "y", "row 2, column 't': expected a number or a date (e.g. 1871 or 2024-01-31), got 'soon'.")]
    [TestCase("t,y\n1,2\n", "y", "expected at least 2 data rows, got 1.")]
    public void CsvErrorsNameTheColumnOrTheRow(string text, string value, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => Csv(text, value));
        Assert.That(error!.Message, Does.StartWith("test.csv: ").And.Contain(message));
    }

    [Test]
    public void TheShippedSeriesIsTheNile()
    {
        var nile = ShippedSeries.Nile();
        Assert.That(nile.Length, Is.EqualTo(100));
        Assert.That(nile.Times[0], Is.EqualTo("1871"));
        Assert.That(nile.Times[^1], Is.EqualTo("1970"));
        Assert.That(nile.Values[0], Is.EqualTo(1120));
        Assert.That(nile.Values[^1], Is.EqualTo(740));
        Assert.That(nile.Values.Average(), Is.EqualTo(919.35).Within(1e-9));
    }

    [Test]
    public void SplitsAreChronologicalAndScalingComesFromTheTrainingPartOnly()
    {
        var values = Enumerable.Range(0, 40).Select(i => (double)i).ToArray();
        values[5] = double.NaN;
        values[39] = 1e6; // a test value far off: must not move the scale
        var task = new ForecastingTask(values, [], Lags: 4, Horizon: 2, TrainCount: 20, ValidationCount: 10, []);
        task.Validate();
        var train = Enumerable.Range(0, 20).Where(i => i != 5).Select(i => (double)i).ToArray();
        double mean = train.Average();
        Assert.That(task.Scale.Mean, Is.EqualTo(mean).Within(1e-12));
        Assert.That(task.Scale.Std, Is.EqualTo(Math.Sqrt(train.Sum(v => (v - mean) * (v - mean)) / (train.Length - 1))).Within(1e-12));
        Assert.That(task.Origins(ForecastSplit.Training), Is.EqualTo(Enumerable.Range(4, 15)));     // targets in [0, 20)
        Assert.That(task.Origins(ForecastSplit.Validation), Is.EqualTo(Enumerable.Range(20, 9)));   // rolling origin
        Assert.That(task.Origins(ForecastSplit.Test), Is.EqualTo(Enumerable.Range(30, 9)));
        var sampled = (ForecastBatch)task.Sample(200, seed: 3);
        Assert.That(sampled.Origins, Is.All.InRange(4, 18), "training windows never read a validation target");
        Assert.That(((ForecastBatch)task.Sample(200, seed: 3)).Origins, Is.EqualTo(sampled.Origins), "seeded");
        Assert.That(((ForecastBatch)task.HeldOut(512, seed: 0)).Origins, Is.EqualTo(task.Origins(ForecastSplit.Validation)));
    }

    [Test]
    public void LeastSquaresRecoversAClosedFormAr()
    {
        // y_t = 0.5 y_{t-1} - 0.3 y_{t-2} + 2, with a persistent start: no noise, so the fit is exact.
        var y = new double[60];
        y[0] = 1;
        y[1] = -4;
        for (int t = 2; t < y.Length; t++) y[t] = 0.5 * y[t - 1] - 0.3 * y[t - 2] + 2;
        var task = new ForecastingTask(y, [], Lags: 2, Horizon: 1, TrainCount: 40, ValidationCount: 10, [], Standardize: false);
        var fit = LeastSquaresAr.Fit(task);
        Assert.That(fit.LagCoefficients(), Is.EqualTo(new[] { 0.5, -0.3 }).Within(1e-6));
        Assert.That(fit.Intercept(0), Is.EqualTo(2).Within(1e-5));
        var totals = fit.Evaluate(task, task.Windows(ForecastSplit.Test));
        Assert.That(totals.Value(0), Is.LessThan(1e-9));
    }

    [Test]
    public void SymmetricTotalPercentageErrorFollowsItsDefinition()
    {
        Assert.That(ForecastMetrics.SymmetricTotalPercentageError([0.5, -0.2], [0.5, -0.2]), Is.EqualTo(0));
        // |0.4 - 0.5| + |0 - (-0.2)| + |0.1 - 0| = 0.4 over 0.9 + 0.2 + 0.1 = 1.2.
        Assert.That(ForecastMetrics.SymmetricTotalPercentageError([0.4, 0, 0.1], [0.5, -0.2]),
            Is.EqualTo(100 * 0.4 / 1.2).Within(1e-12));
    }

    [Test]
    public void MaskedTargetsChangeNothingElse()
    {
        var values = Enumerable.Range(0, 30).Select(i => Math.Sin(i * 0.7) * 3 + i * 0.1).ToArray();
        var withGap = (double[])values.Clone();
        withGap[14] = double.NaN;
        var full = new ForecastingTask(values, [], Lags: 4, Horizon: 3, TrainCount: 24, ValidationCount: 0, []);
        var gap = full with { Values = withGap };
        // Same scale either way, to compare loss terms directly.
        var gapScaled = gap with { Standardize = false };
        var fullScaled = full with { Standardize = false };
        manual_seed(5);
        using var model = new ArNet(ArNetConfig.For(fullScaled));
        int[] origins = [12]; // targets rows 12, 13, 14: row 14 missing in the gap series
        var a = fullScaled.Build(origins);
        var b = gapScaled.Build(origins);
        Assert.That(b.TargetMask, Is.EqualTo(new float[] { 1, 1, 0 }));
        var forecast = model.Forecast(a).data<float>().ToArray();
        double expected = Enumerable.Range(0, 2).Select(k => Math.Pow(forecast[k] - a.Targets[k], 2)).Average();
        Assert.That(model.Loss(gapScaled, b).item<float>(), Is.EqualTo(expected).Within(1e-5),
            "the loss is the mean over the observed targets only");
        var errorsB = MetricTotals.For(gapScaled);
        ForecastMetrics.AddPointErrors(errorsB, gapScaled, b, forecast);
        Assert.That(errorsB.Value(0), Is.EqualTo(expected).Within(1e-5));

        // An input that is missing is zero with mask 0; the other inputs are unchanged.
        var c = gapScaled.Build([16]); // inputs rows 12..15
        var d = fullScaled.Build([16]);
        Assert.That(c.InputMask, Is.EqualTo(new float[] { 1, 1, 0, 1 }));
        Assert.That(c.Inputs[2], Is.EqualTo(0));
        Assert.That(new[] { c.Inputs[0], c.Inputs[1], c.Inputs[3] }, Is.EqualTo(new[] { d.Inputs[0], d.Inputs[1], d.Inputs[3] }));
    }

    [TestCase(ModelFamilies.ArNet)]
    [TestCase(ModelFamilies.Lstm)]
    [TestCase(ModelFamilies.Mamba)]
    [TestCase(ModelFamilies.Tcn)]
    public void ANaNInTheLastLagsStillForecasts(string family)
    {
        var values = ShippedSeries.Nile().Values.ToArray();
        values[^1] = double.NaN;
        values[^2] = double.NaN;
        var task = new ForecastingTask(values, [], Lags: 8, Horizon: 3, TrainCount: 70, ValidationCount: 15, [0.1, 0.5, 0.9]);
        task.Validate();
        manual_seed(1);
        using var model = (ForecastModel)ModelFamilies.Build(ModelFamilies.Get(family).DefaultConfig(task));
        var future = task.Future();
        Assert.That(future.InputMask[^1], Is.EqualTo(0));
        var forecast = model.QuantileForecast(future);
        Assert.That(forecast, Has.Length.EqualTo(3 * 3));
        Assert.That(forecast, Is.All.Matches<float>(float.IsFinite));
    }

    [TestCase(ModelFamilies.ArNet)]
    [TestCase(ModelFamilies.Gru)]
    public void QuantileForecastsAreOrdered(string family)
    {
        var task = ForecastingTask.FromSeries(ShippedSeries.Nile(), 8, 4, 0.15, 0.15, [0.05, 0.25, 0.5, 0.75, 0.95]);
        using var trainer = new Trainer(Small(ModelFamilies.Get(family).DefaultConfig(task)), task,
            new TrainingOptions(Steps: 40, BatchSize: 16, LearningRate: 0.02, WarmupSteps: 5, WeightDecay: 0), CPU);
        for (int i = 0; i < 40; i++) trainer.TrainStep();
        var model = (ForecastModel)trainer.Model;
        model.eval();
        var windows = task.Windows(ForecastSplit.Test);
        var forecast = model.QuantileForecast(windows);
        int levels = 5, spread = 0;
        for (int i = 0; i < forecast.Length; i += levels)
        {
            for (int q = 1; q < levels; q++)
                Assert.That(forecast[i + q], Is.GreaterThanOrEqualTo(forecast[i + q - 1]), $"row {i / levels}, level {q}");
            if (forecast[i + levels - 1] - forecast[i] > 1e-3) spread++;
        }
        Assert.That(spread, Is.EqualTo(forecast.Length / levels), "pinball training opens an interval at every step");
    }

    [Test]
    public void SparseArNetRecoversAnAr3InsideOrder20BetterThanLeastSquares()
    {
        var task = new ArSyntheticTask(TrueOrder: 3, Lags: 20, Samples: 1000, DataSeed: 2);
        var config = new ArNetConfig(20, 1, Sparsity: 0.15, RampSteps: 300);
        var options = new TrainingOptions(Steps: 600, BatchSize: 64, LearningRate: 0.01, WarmupSteps: 20, WeightDecay: 0,
            EvalEvery: 600, EvalExamples: 1000);
        using var trainer = new Trainer(config, task, options, CPU);
        for (int i = 0; i < options.Steps; i++) trainer.TrainStep();
        var arNet = trainer.Evaluator.Evaluate();
        var leastSquares = LeastSquaresAr.Fit(task).Evaluate(task, task.Windows(ForecastSplit.Validation)).Values(task);
        double arNetStpe = arNet.Value("stpe"), leastSquaresStpe = leastSquares[3].Value;
        TestContext.Out.WriteLine($"sTPE AR-Net {arNetStpe:F2}, least squares {leastSquaresStpe:F2}; MSE {arNet.Value("mse"):F4} vs {leastSquares[0].Value:F4}");
        Assert.That(arNetStpe, Is.LessThan(0.75 * leastSquaresStpe));
        Assert.That(arNet.Value("mse"), Is.LessThan(leastSquares[0].Value * 1.05), "and forecasts about as well");
    }

    [TestCase(ModelFamilies.ArNet)]
    [TestCase(ModelFamilies.Lstm)]
    [TestCase(ModelFamilies.Gru)]
    [TestCase(ModelFamilies.Slstm)]
    [TestCase(ModelFamilies.Mamba)]
    [TestCase(ModelFamilies.Tcn)]
    [TestCase(ModelFamilies.S4D)]
    public void EveryForecastingFamilyLearnsThroughTheOneTrainer(string family)
    {
        var task = new ArSyntheticTask(TrueOrder: 2, Lags: 6, Samples: 300, HeldOutSamples: 100, DataSeed: 1);
        var options = new TrainingOptions(Steps: 40, BatchSize: 16, LearningRate: 0.02, WarmupSteps: 5, WeightDecay: 0,
            EvalEvery: 40, EvalExamples: 100);
        using var trainer = new Trainer(Small(ModelFamilies.Get(family).DefaultConfig(task)), task, options, CPU);
        double before = trainer.Evaluator.Evaluate().Value("mse");
        for (int i = 0; i < options.Steps; i++) trainer.TrainStep();
        double after = trainer.Evaluator.Evaluate().Value("mse");
        TestContext.Out.WriteLine($"{family}: held-out MSE {before:F3} -> {after:F3}");
        Assert.That(after, Is.LessThan(before));
        Assert.That(after, Is.LessThan(1.6), "near the noise variance 1");
    }

    [Test]
    public void ForecastConfigsRoundTripThroughTheRegistry()
    {
        var task = new ArSyntheticTask(Lags: 5);
        foreach (var family in new[] { ModelFamilies.ArNet, ModelFamilies.Lstm, ModelFamilies.Mamba, ModelFamilies.S4D })
        {
            var config = ModelFamilies.Get(family).DefaultConfig(task);
            Assert.That(ModelFamilies.FromJson(family, ModelFamilies.ToJson(config)), Is.EqualTo(config));
        }
        Assert.That(TaskRegistry.FromJson(ArSyntheticTask.TaskName, TaskRegistry.ToJson(task)), Is.EqualTo(task));
        var error = Assert.Throws<ArgumentException>(() => ModelFamilies.RequireSupports(ModelFamilies.ArNet, new SelectiveCopyingTask()));
        Assert.That(error!.ParamName, Is.EqualTo("family"));
        var shape = Assert.Throws<ArgumentException>(() => new ArNetConfig(4, 1).ValidateFor(task));
        Assert.That(shape!.Message, Does.Contain("reads 4 lags").And.Contain("has 5 lags"));
    }
}
