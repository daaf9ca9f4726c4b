namespace HybridSeq.Models.Forecasting;

/// <summary>The series shipped with the library (public domain; source and licence in Forecasting/Data/README.md).</summary>
public static class ShippedSeries
{
    public const string NileName = "nile";
    public const string NileTimeColumn = "year";
    public const string NileValueColumn = "volume";

    /// <summary>The annual flow of the Nile at Aswan, 1871-1970 (100 values, 10^8 m^3; Cobb 1978; public domain).</summary>
    public static TimeSeries Nile() =>
        TimeSeriesCsv.Read(new StringReader(NileCsv()), NileTimeColumn, NileValueColumn, source: "the shipped Nile series");

    /// <summary>The Nile series as its CSV text (columns year, volume).</summary>
    public static string NileCsv()
    {
        using var stream = typeof(ShippedSeries).Assembly.GetManifestResourceStream("HybridSeq.Models.Forecasting.nile.csv")
            ?? throw new InvalidOperationException("The embedded Nile series is missing from HybridSeq.Models (a build problem).");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
