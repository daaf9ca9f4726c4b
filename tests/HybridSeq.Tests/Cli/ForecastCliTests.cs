using System.Globalization;
using HybridSeq.Cli;
using HybridSeq.Cli.Commands;
using NUnit.Framework;
using Spectre.Console;

namespace HybridSeq.Tests.Cli;

/// <summary>`hybridseq forecast` and `hybridseq train ar-synthetic`, in-process with a recording console.</summary>
[TestFixture]
public sealed class ForecastCliTests
{
    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 400;
        int exitCode = HybridSeqApp.Create(console).Run(args);
        return (exitCode, writer.ToString());
    }

    private static string TemporaryDirectory() => Directory.CreateTempSubdirectory("hybridseq-forecast-").FullName;

    [Test]
    public void ForecastOfTheShippedSeriesWritesForecastMetricsAndPlots()
    {
        string directory = TemporaryDirectory();
        try
        {
            string output = Path.Combine(directory, "nile");
            var (exitCode, text) = Run("forecast", "--steps", "40", "--lags", "6", "--horizon", "3",
                "--quantiles", "0.1,0.9", "--output", output);
            Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitSuccess), text);
            Assert.That(text, Does.Contain("series volume: 100 rows (0 missing), training 70, validation 15, test 15"));

            var forecast = File.ReadAllLines(Path.Combine(output, ForecastCommand.ForecastFile));
            Assert.That(forecast[0], Is.EqualTo("year,volume,q0.1,q0.5,q0.9"));
            Assert.That(forecast.Skip(1).Select(l => l.Split(',')[0]), Is.EqualTo(new[] { "1971", "1972", "1973" }));
            foreach (var line in forecast.Skip(1))
            {
                var v = line.Split(',').Skip(1).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                Assert.That(v[0], Is.EqualTo(v[2]), "the point forecast is the median");
                Assert.That(v[1], Is.LessThanOrEqualTo(v[2]).And.Matches<double>(double.IsFinite));
                Assert.That(v[2], Is.LessThanOrEqualTo(v[3]));
                Assert.That(v[2], Is.InRange(300, 1600), "a Nile flow");
            }

            var metrics = File.ReadAllLines(Path.Combine(output, ForecastCommand.MetricsFile));
            Assert.That(metrics[0], Is.EqualTo("model,split,windows,mse,rmse,mae,mase"));
            Assert.That(metrics.Skip(1).Select(l => string.Join(",", l.Split(',').Take(3))),
                Is.EqualTo(new[] { "arnet,validation,13", "ar-least-squares,validation,13", "arnet,test,13", "ar-least-squares,test,13" }));
            foreach (var line in metrics.Skip(1))
            {
                var v = line.Split(',').Skip(3).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                Assert.That(v[1], Is.EqualTo(Math.Sqrt(v[0])).Within(1e-9 * v[1]), "rmse = sqrt(mse)");
                Assert.That(v[2], Is.GreaterThan(0).And.LessThanOrEqualTo(v[1]), "mae <= rmse");
            }
            foreach (var png in new[] { ForecastCommand.ForecastPlotFile, ForecastCommand.LagWeightsPlotFile })
            {
                var bytes = File.ReadAllBytes(Path.Combine(output, png));
                Assert.That(bytes.Take(4), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }), png);
            }
            Assert.That(File.ReadAllLines(Path.Combine(output, ForecastCommand.LagWeightsFile)), Has.Length.EqualTo(1 + 6));

            // A repeated command never replaces the forecast silently.
            var before = File.ReadAllText(Path.Combine(output, ForecastCommand.ForecastFile));
            var again = Run("forecast", "--steps", "5", "--output", output);
            Assert.That(again.ExitCode, Is.EqualTo(HybridSeqApp.ExitError), again.Output);
            Assert.That(again.Output, Does.Contain("already holds a forecast").And.Contain("--overwrite"));
            Assert.That(File.ReadAllText(Path.Combine(output, ForecastCommand.ForecastFile)), Is.EqualTo(before));
            var replaced = Run("forecast", "--steps", "5", "--model", "gru", "--d-model", "4", "--output", output, "--overwrite");
            Assert.That(replaced.ExitCode, Is.EqualTo(HybridSeqApp.ExitSuccess), replaced.Output);
            Assert.That(File.Exists(Path.Combine(output, ForecastCommand.LagWeightsFile)), Is.False, "no stale AR-Net weights");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void ForecastReadsAUserCsvWithMissingValuesAndCovariates()
    {
        string directory = TemporaryDirectory();
        try
        {
            string csv = Path.Combine(directory, "sales.csv");
            var lines = new List<string> { "month,units,price" };
            var start = new DateTime(2020, 1, 1);
            for (int i = 0; i < 60; i++)
            {
                string units = i is 20 or 59 ? "" : (100 + 10 * Math.Sin(i * Math.PI / 6) + i).ToString("F2", CultureInfo.InvariantCulture);
                lines.Add($"{start.AddMonths(i):yyyy-MM-dd},{units},{(5 + i % 3).ToString(CultureInfo.InvariantCulture)}");
            }
            File.WriteAllLines(csv, lines);
            string output = Path.Combine(directory, "out");
            var (exitCode, text) = Run("forecast", "--csv", csv, "--time-column", "month", "--value-column", "units",
                "--covariates", "price", "--lags", "12", "--horizon", "2", "--steps", "30", "--output", output);
            Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitSuccess), text);
            Assert.That(text, Does.Contain("60 rows (2 missing)"));
            var forecast = File.ReadAllLines(Path.Combine(output, ForecastCommand.ForecastFile));
            Assert.That(forecast[0], Is.EqualTo("month,units"));
            Assert.That(forecast.Skip(1).Select(l => l.Split(',')[0]), Is.EqualTo(new[] { "2025-01-01", "2025-02-01" }));
            Assert.That(forecast.Skip(1).Select(l => double.Parse(l.Split(',')[1], CultureInfo.InvariantCulture)),
                Is.All.Matches<double>(double.IsFinite), "the last value is missing and the forecast still comes");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestCase("forecast")]
    [TestCase("train")]
    public void HelpListsTheForecastingOptions(string command)
    {
        var (exitCode, output) = Run(command, "--help");
        Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
        Assert.That(output, Does.Contain("--sparsity").And.Contain("0 < s <= 1").And.Contain("--lags"));
        if (command == "forecast")
            Assert.That(output, Does.Contain("--quantiles").And.Contain("--time-column").And.Contain("mamba, tcn or s4d. Default: arnet"));
    }

    [TestCase(new[] { "forecast", "--csv", "x.csv" }, "--csv needs --time-column and --value-column")]
    [TestCase(new[] { "forecast", "--value-column", "v" }, "need --csv (without it the shipped Nile series is read)")]
    [TestCase(new[] { "forecast", "--model", "slstm2" }, "--model must be one of mamba, lstm, gru, slstm, arnet, tcn, s4d, got 'slstm2'.")]
    [TestCase(new[] { "forecast", "--quantiles", "0.1,1.5" }, "--quantiles must be a comma-separated list of levels in (0, 1), got '0.1,1.5' ('1.5').")]
    [TestCase(new[] { "forecast", "--hidden", "8,x" }, "--hidden must be a comma-separated list of positive integer widths")]
    [TestCase(new[] { "forecast", "--model", "lstm", "--sparsity", "0.2" }, "--sparsity applies to arnet only, not lstm.")]
    [TestCase(new[] { "forecast", "--d-model", "8" }, "--d-model and --layers apply to the sequence families")]
    [TestCase(new[] { "forecast", "--lags", "0" }, "--lags must be a positive integer, got 0.")]
    [TestCase(new[] { "forecast", "--validation", "0.5", "--test", "0.5" }, "--validation + --test must be below 1")]
    [TestCase(new[] { "forecast", "--lags", "90", "--steps", "1" }, "does not fit the options: ForecastingTask.TrainCount must be at least")]
    [TestCase(new[] { "forecast", "--csv", "/nonexistent/x.csv", "--time-column", "t", "--value-column", "v" }, "--csv: no file at '/nonexistent/x.csv'.")]
    [TestCase(new[] { "forecast", "--step", "5" }, "step")]
    [TestCase(new[] { "train", "ar-synthetic", "--sparsity", "2" }, "--sparsity must be a fraction in (0, 1], got 2.")]
    [TestCase(new[] { "train", "--lags", "4" }, "--lags, --ar-order, --samples and --data-seed apply to ar-synthetic only")]
    [TestCase(new[] { "train", "ar-synthetic", "--samples", "10", "--steps", "1" }, "ArSyntheticTask.Samples must be at least Lags + Horizon + 1 = 22")]
    public void BadForecastArgumentsGiveAClearError(string[] args, string message)
    {
        var (exitCode, output) = Run(args);
        Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitError), output);
        Assert.That(output, Does.Contain("error").IgnoreCase.And.Contain(message));
        Assert.That(output, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void CsvErrorsReachTheUserWithTheRow()
    {
        string directory = TemporaryDirectory();
        try
        {
            string csv = Path.Combine(directory, "bad.csv");
            File.WriteAllText(csv, "t,v\n1,2\n2,3\n2,4\n");
            var (exitCode, output) = Run("forecast", "--csv", csv, "--time-column", "t", "--value-column", "v",
                "--output", Path.Combine(directory, "out"));
            Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitError), output);
            Assert.That(output, Does.Contain("row 3, column 't': time '2' repeats row 2's"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void TrainArSyntheticReportsArNetBesideLeastSquares()
    {
        string directory = TemporaryDirectory();
        try
        {
            var (exitCode, output) = Run("train", "ar-synthetic", "--lags", "5", "--ar-order", "2", "--samples", "300",
                "--steps", "200", "--warmup", "10", "--lr", "0.03", "--eval-every", "100", "--sparsity", "0.4", "--out", directory);
            Assert.That(exitCode, Is.EqualTo(HybridSeqApp.ExitSuccess), output);
            Assert.That(output, Does.Contain("arnet: 5 lags -> 1 step(s), linear, sparsity 0.4"));
            Assert.That(output, Does.Contain("horizon     1 (training): MSE ").And.Contain("sTPE "));
            Assert.That(output, Does.Contain("least squares AR(5): MSE ").And.Contain("true coefficients w_1..w_2: "));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
