using System.Globalization;
using HybridSeq.Models.Forecasting;
using ScottPlot;

namespace HybridSeq.Cli;

/// <summary>The forecast plots as PNG: the history with the forecast (and its interval), and AR-Net's lag weights as
/// a bar chart (AR coefficients are read that way).</summary>
public static class ForecastPlots
{
    /// <summary>History (observed values) and the forecast after it; with quantiles, the band between the lowest and
    /// the highest level. <paramref name="forecast"/>[step][level] in the series' units.</summary>
    public static void WriteForecastPng(string path, string title, TimeSeries series, IReadOnlyList<double> quantiles,
        double[][] forecast, int width = 1000, int height = 500)
    {
        var plot = new Plot();
        double[] x = Positions(series, series.Times);
        double[] futureX = Positions(series, series.FutureTimes(forecast.Length));
        var observed = Enumerable.Range(0, series.Length).Where(t => !double.IsNaN(series.Values[t])).ToArray();
        var history = plot.Add.Scatter(observed.Select(t => x[t]).ToArray(), observed.Select(t => series.Values[t]).ToArray());
        history.LegendText = "history";
        history.MarkerSize = 3;

        int point = quantiles.Count == 0 ? 0 : quantiles.ToList().IndexOf(0.5);
        if (quantiles.Count > 1)
        {
            var band = plot.Add.FillY(futureX, forecast.Select(f => f[0]).ToArray(), forecast.Select(f => f[^1]).ToArray());
            band.LegendText = string.Create(CultureInfo.InvariantCulture, $"interval q{quantiles[0]} to q{quantiles[^1]}");
            band.FillStyle.Color = Colors.OrangeRed.WithAlpha(0.25);
        }
        var line = plot.Add.Scatter(futureX, forecast.Select(f => f[point]).ToArray());
        line.LegendText = quantiles.Count > 0 ? "forecast (median)" : "forecast";
        line.Color = Colors.OrangeRed;
        line.MarkerSize = 4;

        if (series.Kind == TimeAxisKind.Date)
            plot.Axes.DateTimeTicksBottom();
        else // years read as years: no thousands separator
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = v => v.ToString("0.##", CultureInfo.InvariantCulture),
            };
        plot.Title(title);
        plot.XLabel("time");
        plot.YLabel(series.Name);
        plot.ShowLegend(Alignment.LowerLeft);
        Save(plot, path, width, height);
    }

    /// <summary>One bar per lag (lag 1, the latest value, first).</summary>
    public static void WriteLagWeightsPng(string path, string title, IReadOnlyList<double> weights, int width = 800,
        int height = 450)
    {
        var plot = new Plot();
        plot.Add.Bars(Enumerable.Range(1, weights.Count).Select(i => (double)i).ToArray(), weights.ToArray());
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(Math.Max(1, weights.Count / 20));
        plot.Title(title);
        plot.XLabel("lag");
        plot.YLabel("weight");
        Save(plot, path, width, height);
    }

    private static double[] Positions(TimeSeries series, IReadOnlyList<string> times) => series.Kind == TimeAxisKind.Number
        ? times.Select(t => double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray()
        : times.Select(t => DateTime.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal).ToOADate()).ToArray();

    // Render beside the target, then rename: a viewer never opens a half-written image.
    private static void Save(Plot plot, string path, int width, int height)
    {
        string temporaryPath = path + ".tmp.png";
        plot.SavePng(temporaryPath, width, height);
        File.Move(temporaryPath, path, overwrite: true);
    }
}
