using System.ComponentModel;
using System.Globalization;
using System.Text;
using HybridSeq.Models;
using HybridSeq.Models.Forecasting;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace HybridSeq.Cli.Commands;

/// <summary>
/// `hybridseq forecast`: reads a series from a CSV (default: the shipped Nile series), splits it chronologically into
/// training, validation and test parts, trains a forecaster of any family that reads forecasting tasks (the one
/// trainer; the weights of the best validation MSE are kept), evaluates it and the least-squares AR baseline by
/// rolling origin on the validation and test parts, and writes into --output: forecast.csv (the next --horizon values
/// after the series, with the quantile levels when asked), metrics.csv, forecast.png (history + forecast with its
/// interval) and, for arnet, lag-weights.csv and lag-weights.png. Existing output is never replaced without
/// --overwrite.
/// </summary>
public sealed class ForecastCommand(IAnsiConsole console) : Command<ForecastCommand.Settings>
{
    public const string ForecastFile = "forecast.csv";
    public const string MetricsFile = "metrics.csv";
    public const string ForecastPlotFile = "forecast.png";
    public const string LagWeightsFile = "lag-weights.csv";
    public const string LagWeightsPlotFile = "lag-weights.png";

    private static readonly string[] OutputFiles = [ForecastFile, MetricsFile, ForecastPlotFile, LagWeightsFile, LagWeightsPlotFile];

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--csv <FILE>")]
        [Description("The series: a CSV with a header row. Default: the shipped Nile series (annual flow at Aswan 1871-1970, public domain; columns year, volume).")]
        public string? Csv { get; init; }

        [CommandOption("--time-column <NAME>")]
        [Description("The time column (numbers or dates, one fixed step apart). Required with --csv.")]
        public string? TimeColumn { get; init; }

        [CommandOption("--value-column <NAME>")]
        [Description("The column to forecast (empty, NA or NaN cells are missing values). Required with --csv.")]
        public string? ValueColumn { get; init; }

        [CommandOption("--covariates <NAMES>")]
        [Description("Comma-separated columns whose lags are extra inputs. Default: none.")]
        public string? Covariates { get; init; }

        [CommandOption("--lags <N>")]
        [Description("Past values each forecast reads (P). Default: 8.")]
        public int? Lags { get; init; }

        [CommandOption("--horizon <N>")]
        [Description("Future values forecast at once (H, direct multi-step). Default: 5.")]
        public int? Horizon { get; init; }

        [CommandOption("--model <FAMILY>")]
        [Description("The forecaster: arnet, lstm, gru, slstm, mamba, tcn or s4d. Default: arnet.")]
        public string? Model { get; init; }

        [CommandOption("--quantiles <LEVELS>")]
        [Description("Comma-separated quantile levels in (0, 1) for prediction intervals (pinball loss), e.g. 0.1,0.9; 0.5 is added (the point forecast). Default: a point forecast (MSE).")]
        public string? Quantiles { get; init; }

        [CommandOption("--validation <FRACTION>")]
        [Description("Fraction of the series (after the training part) for validation. Default: 0.15.")]
        public double? Validation { get; init; }

        [CommandOption("--test <FRACTION>")]
        [Description("Fraction of the series (the end) for the test. Default: 0.15.")]
        public double? Test { get; init; }

        [CommandOption("--season <N>")]
        [Description("Period of the seasonal-naive forecast MASE compares against (1: the naive forecast). Default: 1.")]
        public int? Season { get; init; }

        [CommandOption("--sparsity <FRACTION>")]
        [Description("arnet only: expected fraction of non-zero AR coefficients, 0 < s <= 1; turns on the sparse AR-Net regulariser. Default: off.")]
        public double? Sparsity { get; init; }

        [CommandOption("--hidden <WIDTHS>")]
        [Description("arnet only: comma-separated widths of hidden ReLU layers. Default: none (linear AR-Net).")]
        public string? Hidden { get; init; }

        [CommandOption("--d-model <N>")]
        [Description("lstm, gru, slstm, mamba, tcn, s4d: the backbone's width (tcn: channels per level). Default: 32.")]
        public int? DModel { get; init; }

        [CommandOption("--layers <N>")]
        [Description("lstm, gru, slstm, mamba, tcn, s4d: stacked layers (tcn: at least as many levels as cover the lags). Default: 1.")]
        public int? Layers { get; init; }

        [CommandOption("--steps <N>")]
        [Description("Optimizer steps. Default: 1000.")]
        public int? Steps { get; init; }

        [CommandOption("--batch-size <N>")]
        [Description("Windows per step. Default: 32.")]
        public int? BatchSize { get; init; }

        [CommandOption("--lr <RATE>")]
        [Description("Peak learning rate (AdamW). Default: 0.01.")]
        public double? LearningRate { get; init; }

        [CommandOption("--seed <N>")]
        [Description("Seeds the weights and the training windows. Default: 1.")]
        public int? Seed { get; init; }

        [CommandOption("--device <DEVICE>")]
        [Description(DeviceOption.Description + ". Default: cpu.")]
        public string? Device { get; init; }

        [CommandOption("--output <DIR>")]
        [Description("Folder for forecast.csv, metrics.csv and the plots. Default: runs/forecast-<model>.")]
        public string? Output { get; init; }

        [CommandOption("--overwrite")]
        [Description("Replace the outputs of an earlier forecast in --output (without it, they are an error).")]
        public bool Overwrite { get; init; }

        public string ResolvedModel => Model ?? ModelFamilies.ArNet;
        public string ResolvedOutput => Output ?? Path.Combine(".", "runs", $"forecast-{ResolvedModel}");

        public override ValidationResult Validate()
        {
            var forecasters = ModelFamilies.All.Where(f => f.TaskKinds.Contains(TaskKinds.Forecasting)).Select(f => f.Name).ToList();
            if (Device is not null && DeviceOption.Validate(Device) is string deviceError)
                return ValidationResult.Error(deviceError);
            (bool Ok, string Message)[] checks =
            [
                (Model is null || forecasters.Contains(Model), $"--model must be one of {string.Join(", ", forecasters)}, got '{Model}'."),
                (Csv is null || TimeColumn is not null && ValueColumn is not null,
                    "--csv needs --time-column and --value-column (the columns to read)."),
                (Csv is not null || TimeColumn is null && ValueColumn is null && Covariates is null,
                    "--time-column, --value-column and --covariates need --csv (without it the shipped Nile series is read)."),
                (Lags is null or > 0, $"--lags must be a positive integer, got {Lags}."),
                (Horizon is null or > 0, $"--horizon must be a positive integer, got {Horizon}."),
                (Validation is null or >= 0 and < 1, $"--validation must be a fraction in [0, 1), got {Validation}."),
                (Test is null or > 0 and < 1, $"--test must be a fraction in (0, 1), got {Test}."),
                ((Validation ?? 0.15) + (Test ?? 0.15) < 1, $"--validation + --test must be below 1, got {(Validation ?? 0.15) + (Test ?? 0.15)}."),
                (Season is null or > 0, $"--season must be a positive integer, got {Season}."),
                (Sparsity is null || ResolvedModel == ModelFamilies.ArNet, $"--sparsity applies to arnet only, not {ResolvedModel}."),
                (Sparsity is null or > 0 and <= 1, $"--sparsity must be a fraction in (0, 1], got {Sparsity}."),
                (Hidden is null || ResolvedModel == ModelFamilies.ArNet, $"--hidden applies to arnet only, not {ResolvedModel}."),
                (DModel is null && Layers is null || ResolvedModel != ModelFamilies.ArNet,
                    "--d-model and --layers apply to the sequence families (lstm, gru, slstm, mamba, tcn, s4d), not arnet."),
                (DModel is null or > 0, $"--d-model must be a positive integer, got {DModel}."),
                (Layers is null or > 0, $"--layers must be a positive integer, got {Layers}."),
                (Steps is null or > 0, $"--steps must be a positive integer, got {Steps}."),
                (BatchSize is null or > 0, $"--batch-size must be a positive integer, got {BatchSize}."),
                (LearningRate is null || LearningRate > 0 && double.IsFinite(LearningRate.Value),
                    $"--lr must be a positive number, got {LearningRate}."),
            ];
            foreach (var (ok, message) in checks)
                if (!ok) return ValidationResult.Error(message);
            if (Quantiles is not null && ParseList(Quantiles, "--quantiles", q => q is > 0 and < 1, "levels in (0, 1)").Error is string qError)
                return ValidationResult.Error(qError);
            if (Hidden is not null && ParseList(Hidden, "--hidden", w => w >= 1 && w == Math.Floor(w), "positive integer widths").Error is string hError)
                return ValidationResult.Error(hError);
            return ValidationResult.Success();
        }

        /// <summary>The quantile levels, ascending and distinct, 0.5 added; empty without --quantiles.</summary>
        public double[] ResolvedQuantiles => Quantiles is null
            ? []
            : ParseList(Quantiles, "--quantiles", q => q is > 0 and < 1, "").Values.Append(0.5).Distinct().Order().ToArray();

        public int[]? ResolvedHidden => Hidden is null
            ? null
            : ParseList(Hidden, "--hidden", _ => true, "").Values.Select(w => (int)w).ToArray();

        public string[] ResolvedCovariates => Covariates is null
            ? []
            : Covariates.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

        internal static (double[] Values, string? Error) ParseList(string text, string option, Func<double, bool> valid, string expected)
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries);
            var values = new List<double>();
            foreach (var part in parts)
            {
                if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !valid(value))
                    return ([], $"{option} must be a comma-separated list of {expected}, got '{text}' ('{part}').");
                values.Add(value);
            }
            return (values.ToArray(), null);
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string output = settings.ResolvedOutput;
        // Checked before anything is read or trained: a repeated command must not cost an earlier forecast.
        var existing = OutputFiles.Select(f => Path.Combine(output, f)).Where(File.Exists).ToList();
        if (existing.Count > 0 && !settings.Overwrite)
            throw new InvalidOperationException(
                $"--output '{output}' already holds a forecast ({string.Join(", ", existing.Select(Path.GetFileName))}); pass --overwrite to replace it, or another --output.");

        var series = settings.Csv is string csv
            ? TimeSeriesCsv.ReadFile(csv, settings.TimeColumn!, settings.ValueColumn!, settings.ResolvedCovariates)
            : ShippedSeries.Nile();
        string timeColumn = settings.TimeColumn ?? ShippedSeries.NileTimeColumn;
        ForecastingTask task;
        try
        {
            task = ForecastingTask.FromSeries(series, settings.Lags ?? 8, settings.Horizon ?? 5, settings.Validation ?? 0.15,
                settings.Test ?? 0.15, settings.ResolvedQuantiles, settings.Season ?? 1);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException(
                $"The series '{series.Name}' ({series.Length} rows) does not fit the options: {e.Message} Lower --lags or --horizon, or give a longer series.", e);
        }
        if (task.Origins(ForecastSplit.Test).Count == 0)
            throw new ArgumentException(
                $"The test part ({task.TestCount} rows) has no window with an observed target; raise --test or lower --horizon.");

        int steps = settings.Steps ?? 1000;
        var options = new TrainingOptions(Steps: steps, BatchSize: settings.BatchSize ?? 32,
            LearningRate: settings.LearningRate ?? 0.01, MinimumLearningRate: Math.Min(1e-4, settings.LearningRate ?? 0.01),
            WarmupSteps: Math.Min(50, steps / 10), WeightDecay: 0.0, EvalEvery: Math.Max(1, steps / 20),
            EvalExamples: 100_000, Seed: settings.Seed ?? 1, EarlyStopAccuracy: 1e-12);
        var config = BuildConfig(settings, task, steps);
        var device = DeviceOption.Resolve(settings.Device ?? "cpu");
        using var trainer = new Trainer(config, task, options, device);
        var model = (ForecastModel)trainer.Model;
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"{TrainCommand.Describe(config)}, {model.parameters().Sum(p => p.numel()):N0} parameters, on {device.type}");
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"series {series.Name}: {series.Length} rows ({series.Values.Count(double.IsNaN)} missing), training {task.TrainCount}, validation {task.ValidationCount}, test {task.TestCount}; {task.Lags} lags -> {task.Horizon} steps{(task.Quantiles.Length > 0 ? $", quantiles {string.Join(", ", task.Quantiles.Select(q => q.ToString(CultureInfo.InvariantCulture)))}" : "")}");

        // Keep the weights of the best validation MSE (a small series overfits long before the last step).
        var best = (Step: 0, Mse: double.PositiveInfinity);
        Dictionary<string, Tensor>? bestState = null;
        try
        {
            var validation = task.Windows(task.ValidationCount > 0 ? ForecastSplit.Validation : ForecastSplit.Training);
            for (int step = 1; step <= steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                double loss = trainer.TrainStep();
                if (step % options.EvalEvery != 0 && step != steps) continue;
                model.eval();
                double mse = model.Evaluate(task, validation, EvaluationOptions.Greedy).Value(0);
                if (mse < best.Mse)
                {
                    foreach (var tensor in bestState?.Values ?? Enumerable.Empty<Tensor>()) tensor.Dispose();
                    bestState = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone().DetachFromDisposeScope());
                    best = (step, mse);
                }
                console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"step {step,5}: loss {loss:F4}, validation MSE {mse:G6}");
            }
            if (bestState is not null) model.load_state_dict(bestState);
        }
        finally
        {
            foreach (var tensor in bestState?.Values ?? Enumerable.Empty<Tensor>()) tensor.Dispose();
        }
        model.eval();
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"kept the weights of step {best.Step} (best validation MSE)");

        Directory.CreateDirectory(output);
        var rows = new List<MetricsRow>();
        var baseline = TryLeastSquares(task);
        foreach (var split in new[] { ForecastSplit.Validation, ForecastSplit.Test })
        {
            if (task.Origins(split).Count == 0) continue;
            var windows = task.Windows(split);
            rows.Add(MetricsRow.Of(model.Family, split, windows.Count, model.Evaluate(task, windows, EvaluationOptions.Greedy)));
            if (baseline is not null)
                rows.Add(MetricsRow.Of("ar-least-squares", split, windows.Count, baseline.Evaluate(task, windows)));
        }
        WriteMetrics(Path.Combine(output, MetricsFile), rows);
        foreach (var row in rows)
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"{row.Model,-16} {row.Split.ToString().ToLowerInvariant(),-10} ({row.Windows} windows, rolling origin): MSE {row.Mse:G5}, RMSE {row.Rmse:G5}, MAE {row.Mae:G5}, MASE {row.Mase:F3}");

        var future = ForecastValues(task, model);
        var times = series.FutureTimes(task.Horizon);
        WriteForecast(Path.Combine(output, ForecastFile), timeColumn, series.Name, task.Quantiles, times, future);
        ForecastPlots.WriteForecastPng(Path.Combine(output, ForecastPlotFile), $"{model.Family} forecast of {series.Name}",
            series, task.Quantiles, future);
        var written = new List<string> { ForecastFile, MetricsFile, ForecastPlotFile };
        if (model is ArNet arNet)
        {
            var weights = arNet.LagWeights(task.Quantiles.Length == 0 ? 0 : Array.IndexOf(task.Quantiles, 0.5));
            WriteLagWeights(Path.Combine(output, LagWeightsFile), weights);
            ForecastPlots.WriteLagWeightsPng(Path.Combine(output, LagWeightsPlotFile),
                $"AR-Net lag weights ({series.Name}, step 1){(config is ArNetConfig { Hidden.Length: > 0 } ? ": mean |first-layer weight|" : "")}",
                Enumerable.Range(0, task.Lags).Select(i => weights[0, i]).ToArray());
            written.AddRange([LagWeightsFile, LagWeightsPlotFile]);
        }
        else
        {
            // A stale lag-weights file of an earlier arnet run would read as this run's.
            foreach (var stale in new[] { LagWeightsFile, LagWeightsPlotFile }) File.Delete(Path.Combine(output, stale));
        }
        console.MarkupLineInterpolated($"wrote {string.Join(", ", written.Select(f => Path.Combine(output, f)))}");
        return HybridSeqApp.ExitSuccess;
    }

    private static IModelConfig BuildConfig(Settings settings, ForecastingTask task, int steps) =>
        ModelFamilies.Get(settings.ResolvedModel).DefaultConfig(task) switch
        {
            ArNetConfig arNet => arNet with { Sparsity = settings.Sparsity, Hidden = settings.ResolvedHidden, RampSteps = steps / 2 },
            SequenceForecasterConfig sequence => sequence with
            {
                ModelDimension = settings.DModel ?? sequence.ModelDimension,
                Layers = settings.Layers ?? sequence.Layers,
            },
            var other => other,
        };

    /// <summary>The least-squares baseline, or null when the training part has too few fully observed windows.</summary>
    private static LeastSquaresAr? TryLeastSquares(ForecastingTask task)
    {
        try
        {
            return LeastSquaresAr.Fit(task);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The forecast after the end of the series in the series' units: [step][level] (one level without
    /// quantiles).</summary>
    internal static double[][] ForecastValues(ForecastingTask task, ForecastModel model)
    {
        var (mean, std) = task.Scale;
        var values = model.QuantileForecast(task.Future());
        int levels = Math.Max(1, task.Quantiles.Length);
        return Enumerable.Range(0, task.Horizon)
            .Select(h => Enumerable.Range(0, levels).Select(q => values[h * levels + q] * std + mean).ToArray()).ToArray();
    }

    private static void WriteForecast(string path, string timeColumn, string valueName, double[] quantiles,
        IReadOnlyList<string> times, double[][] forecast)
    {
        var text = new StringBuilder();
        text.Append(Csv(timeColumn)).Append(',').Append(Csv(valueName));
        foreach (var q in quantiles) text.Append(",q").Append(q.ToString(CultureInfo.InvariantCulture));
        text.Append('\n');
        int point = quantiles.Length == 0 ? 0 : Array.IndexOf(quantiles, 0.5);
        for (int h = 0; h < forecast.Length; h++)
        {
            text.Append(Csv(times[h])).Append(',').Append(forecast[h][point].ToString("R", CultureInfo.InvariantCulture));
            for (int q = 0; q < quantiles.Length; q++)
                text.Append(',').Append(forecast[h][q].ToString("R", CultureInfo.InvariantCulture));
            text.Append('\n');
        }
        File.WriteAllText(path, text.ToString());
    }

    private static void WriteLagWeights(string path, double[,] weights)
    {
        var text = new StringBuilder("lag");
        for (int h = 0; h < weights.GetLength(0); h++) text.Append(",step").Append(h + 1);
        text.Append('\n');
        for (int lag = 0; lag < weights.GetLength(1); lag++)
        {
            text.Append(lag + 1);
            for (int h = 0; h < weights.GetLength(0); h++)
                text.Append(',').Append(weights[h, lag].ToString("R", CultureInfo.InvariantCulture));
            text.Append('\n');
        }
        File.WriteAllText(path, text.ToString());
    }

    private static void WriteMetrics(string path, IReadOnlyList<MetricsRow> rows)
    {
        var text = new StringBuilder("model,split,windows,mse,rmse,mae,mase\n");
        foreach (var row in rows)
            text.Append(string.Create(CultureInfo.InvariantCulture,
                $"{row.Model},{row.Split.ToString().ToLowerInvariant()},{row.Windows},{row.Mse:R},{row.Rmse:R},{row.Mae:R},{row.Mase:R}\n"));
        File.WriteAllText(path, text.ToString());
    }

    /// <summary>A CSV field, quoted when it holds a comma, a quote or a line break.</summary>
    private static string Csv(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) < 0 ? field : "\"" + field.Replace("\"", "\"\"") + "\"";

    private sealed record MetricsRow(string Model, ForecastSplit Split, int Windows, double Mse, double Mae, double Mase)
    {
        public double Rmse => Math.Sqrt(Mse);

        public static MetricsRow Of(string model, ForecastSplit split, int windows, MetricTotals totals) =>
            new(model, split, windows, totals.Value(0), totals.Value(1), totals.Value(2));
    }
}
