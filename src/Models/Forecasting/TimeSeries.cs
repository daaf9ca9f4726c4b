using System.Globalization;
using CsvHelper;

namespace HybridSeq.Models.Forecasting;

/// <summary>How the time column of a series is read: plain numbers (years, indices) or dates.</summary>
public enum TimeAxisKind
{
    Number,
    Date,
}

/// <summary>
/// A regular time series read from a CSV: the time stamps (strictly increasing by a fixed step), one target column and
/// optional covariate columns. Missing values are NaN (an empty cell, "NA" or "NaN").
/// </summary>
/// <param name="Name">The target column's name.</param>
/// <param name="Times">The time column as written in the file, one per row.</param>
/// <param name="Kind">How the time column was read.</param>
/// <param name="Values">The target column (NaN where missing); the same length as Times.</param>
/// <param name="CovariateNames">The covariate columns' names.</param>
/// <param name="Covariates">Covariates[c][t]: covariate c at row t (NaN where missing).</param>
/// <param name="NumberStep">Number axis: the step between rows.</param>
/// <param name="MonthStep">Date axis: the step in whole months (0 when the step is a fixed duration).</param>
/// <param name="DurationStep">Date axis: the step as a duration (when MonthStep is 0).</param>
public sealed record TimeSeries(
    string Name,
    IReadOnlyList<string> Times,
    TimeAxisKind Kind,
    double[] Values,
    IReadOnlyList<string> CovariateNames,
    IReadOnlyList<double[]> Covariates,
    double NumberStep = 1,
    int MonthStep = 0,
    TimeSpan DurationStep = default)
{
    public int Length => Values.Length;

    /// <summary>The <paramref name="count"/> time stamps after the last row, one step apart, formatted like the file's
    /// (numbers invariantly; dates as yyyy-MM-dd, with the time of day when the step is below a day).</summary>
    public IReadOnlyList<string> FutureTimes(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var result = new List<string>(count);
        if (Kind == TimeAxisKind.Number)
        {
            double last = double.Parse(Times[^1], NumberStyles.Float, CultureInfo.InvariantCulture);
            for (int i = 1; i <= count; i++)
                result.Add((last + i * NumberStep).ToString("R", CultureInfo.InvariantCulture));
            return result;
        }
        var lastDate = TimeSeriesCsv.ParseDate(Times[^1])!.Value;
        string format = MonthStep == 0 && DurationStep < TimeSpan.FromDays(1) ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd";
        for (int i = 1; i <= count; i++)
        {
            var next = MonthStep != 0 ? lastDate.AddMonths(i * MonthStep) : lastDate + i * DurationStep;
            result.Add(next.ToString(format, CultureInfo.InvariantCulture));
        }
        return result;
    }
}

/// <summary>Reads a <see cref="TimeSeries"/> from CSV text (CsvHelper; a header row, comma-separated, invariant
/// culture). Every problem is an <see cref="InvalidDataException"/> that names the column or the row (1-based data
/// rows, the header not counted, as a spreadsheet shows them minus one).</summary>
public static class TimeSeriesCsv
{
    /// <summary>Reads the file at <paramref name="path"/>; see <see cref="Read(TextReader, string, string, IReadOnlyList{string}?, string)"/>.</summary>
    public static TimeSeries ReadFile(string path, string timeColumn, string valueColumn,
        IReadOnlyList<string>? covariateColumns = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"--csv: no file at '{path}'.", path);
        using var reader = new StreamReader(path);
        return Read(reader, timeColumn, valueColumn, covariateColumns, path);
    }

    /// <summary>
    /// Reads a series: the time column (numbers, or dates in ISO 8601 / invariant form) must be strictly increasing
    /// by one fixed step (a fixed number, a fixed duration, or a fixed number of calendar months); the value and
    /// covariate columns are numbers, with missing values (an empty cell, NA, NaN) read as NaN.
    /// </summary>
    /// <param name="reader">The CSV text (left open).</param>
    /// <param name="timeColumn">The time column's header name.</param>
    /// <param name="valueColumn">The target column's header name.</param>
    /// <param name="covariateColumns">Covariate columns' header names (none: null or empty).</param>
    /// <param name="source">Names the input in messages (a path).</param>
    public static TimeSeries Read(TextReader reader, string timeColumn, string valueColumn,
        IReadOnlyList<string>? covariateColumns = null, string source = "the CSV")
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentException.ThrowIfNullOrEmpty(timeColumn);
        ArgumentException.ThrowIfNullOrEmpty(valueColumn);
        covariateColumns ??= [];
        // Comma-separated (no separator sniffing: a one-column guess would misread a file), header row, trimmed.
        var options = new CsvReaderOptions { Separator = ',', HasHeader = true, TrimWhitespace = true };
        using var csv = CsvReader.Create(reader, options, leaveOpen: true);
        var times = new List<string>();
        var values = new List<double>();
        var covariates = covariateColumns.Select(_ => new List<double>()).ToArray();
        int row = 0;
        try
        {
            csv.ReadHeader();
            var header = csv.Headers.ToArray();
            if (header.Length == 0 || header.All(string.IsNullOrWhiteSpace))
                throw new InvalidDataException($"{source}: expected a header row naming the columns, got an empty file.");

            int Column(string name, string option)
            {
                int index = Array.IndexOf(header, name);
                if (index < 0)
                    throw new InvalidDataException(
                        $"{source}: {option} '{name}' is not a column; the columns are {string.Join(", ", header)}.");
                return index;
            }
            int timeIndex = Column(timeColumn, "--time-column");
            int valueIndex = Column(valueColumn, "--value-column");
            int[] covariateIndices = covariateColumns.Select(c => Column(c, "--covariates")).ToArray();
            int needed = new[] { timeIndex, valueIndex }.Concat(covariateIndices).Max() + 1;

            while (csv.Read())
            {
                row++;
                if (csv.FieldCount < needed)
                    throw new InvalidDataException(
                        $"{source}: row {row} has {csv.FieldCount} field(s), expected at least {needed} (the header has {header.Length}).");
                string time = csv.GetString(timeIndex) ?? "";
                if (time.Length == 0)
                    throw new InvalidDataException($"{source}: row {row} has no time in column '{timeColumn}'.");
                times.Add(time);
                values.Add(ParseValue(csv.GetString(valueIndex), row, valueColumn, source));
                for (int c = 0; c < covariateIndices.Length; c++)
                    covariates[c].Add(ParseValue(csv.GetString(covariateIndices[c]), row, covariateColumns[c], source));
            }
        }
        catch (Exception e) when (e is not InvalidDataException && e.GetType().Namespace == nameof(CsvHelper))
        {
            throw new InvalidDataException($"{source}: malformed CSV near data row {row + 1}: {e.Message}", e);
        }
        if (times.Count < 2)
            throw new InvalidDataException($"{source}: expected at least 2 data rows, got {times.Count}.");
        var series = new TimeSeries(valueColumn, times, TimeAxisKind.Number, values.ToArray(), covariateColumns.ToList(),
            covariates.Select(c => c.ToArray()).ToList());
        return WithRegularAxis(series, timeColumn, source);
    }

    /// <summary>A date in ISO 8601 or invariant form; null when the text is not one.</summary>
    internal static DateTime? ParseDate(string text) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal,
            out var date) ? date : null;

    private static double ParseValue(string? text, int row, string column, string source)
    {
        if (string.IsNullOrEmpty(text) || text.Equals("NA", StringComparison.OrdinalIgnoreCase)
            || text.Equals("NaN", StringComparison.OrdinalIgnoreCase))
            return double.NaN;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            throw new InvalidDataException(
                $"{source}: row {row}, column '{column}': expected a number (or an empty cell, NA, NaN for a missing value), got '{text}'.");
        return value;
    }

    // The time axis must be regular: the step between rows 1 and 2 fixes it and every later row must keep it. A
    // step of zero or less is a duplicated or out-of-order time stamp.
    private static TimeSeries WithRegularAxis(TimeSeries series, string timeColumn, string source)
    {
        var times = series.Times;
        bool numbers = times.All(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
        if (numbers)
        {
            double[] x = times.Select(t => double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
            double step = x[1] - x[0];
            for (int i = 1; i < x.Length; i++)
            {
                double d = x[i] - x[i - 1];
                CheckOrder(d > 0, d == 0, i, times, timeColumn, source);
                if (Math.Abs(d - step) > 1e-9 * Math.Max(1, Math.Abs(step)))
                    throw Irregular(i, times, timeColumn, source, step.ToString(CultureInfo.InvariantCulture),
                        d.ToString(CultureInfo.InvariantCulture));
            }
            return series with { Kind = TimeAxisKind.Number, NumberStep = step };
        }

        var dates = new DateTime[times.Count];
        for (int i = 0; i < times.Count; i++)
            dates[i] = ParseDate(times[i]) ?? throw new InvalidDataException(
                $"{source}: row {i + 1}, column '{timeColumn}': expected a number or a date (e.g. 1871 or 2024-01-31), got '{times[i]}'.");
        int Months(DateTime a, DateTime b) => (b.Year - a.Year) * 12 + b.Month - a.Month;
        bool SameInMonth(DateTime a, DateTime b) => a.Day == b.Day && a.TimeOfDay == b.TimeOfDay;
        // Monthly (or quarterly, yearly) data keeps its day of the month; month-end data its last day.
        bool MonthEnd(DateTime d) => d.Day == DateTime.DaysInMonth(d.Year, d.Month);
        int monthStep = Months(dates[0], dates[1]);
        bool monthly = monthStep > 0 && dates.Zip(dates.Skip(1)).All(p =>
            Months(p.First, p.Second) == monthStep && (SameInMonth(p.First, p.Second) || MonthEnd(p.First) && MonthEnd(p.Second)))
            && (dates[1] - dates[0]).TotalDays > 27;
        if (monthly) return series with { Kind = TimeAxisKind.Date, MonthStep = monthStep };
        var duration = dates[1] - dates[0];
        for (int i = 1; i < dates.Length; i++)
        {
            var d = dates[i] - dates[i - 1];
            CheckOrder(d > TimeSpan.Zero, d == TimeSpan.Zero, i, times, timeColumn, source);
            if (d != duration)
                throw Irregular(i, times, timeColumn, source, duration.ToString(), d.ToString());
        }
        return series with { Kind = TimeAxisKind.Date, DurationStep = duration };
    }

    private static void CheckOrder(bool increasing, bool equal, int i, IReadOnlyList<string> times, string column, string source)
    {
        if (increasing) return;
        throw new InvalidDataException(equal
            ? $"{source}: row {i + 1}, column '{column}': time '{times[i]}' repeats row {i}'s; expected strictly increasing times."
            : $"{source}: row {i + 1}, column '{column}': time '{times[i]}' is before row {i}'s '{times[i - 1]}'; expected strictly increasing times.");
    }

    private static InvalidDataException Irregular(int i, IReadOnlyList<string> times, string column, string source,
        string expected, string got) =>
        new($"{source}: row {i + 1}, column '{column}': irregular time step: expected {expected} (rows 1 to 2), got {got} from '{times[i - 1]}' to '{times[i]}'. Fill the gap with a row whose value is empty (a missing value).");
}
