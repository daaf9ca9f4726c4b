using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace HybridSeq.Benchmarks;

/// <summary>
/// The configuration every HybridSeq CPU benchmark shares: in-process (so the native library and the TorchSharp load
/// fix of the build output are used as they are), one call per measurement (calls take milliseconds to seconds), ratios
/// against the baseline as "N× faster/slower", and one rate column (work units per second of mean time).
/// </summary>
public abstract class InProcessConfig : ManualConfig
{
    /// <param name="perUnitTime">false: the column is work units per second; true: microseconds per work unit.</param>
    protected InProcessConfig(int warmups, int iterations, string rateName, string rateLegend, double workUnitsPerCall,
        bool perUnitTime = false)
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(warmups).WithIterationCount(iterations).WithInvocationCount(1).WithUnrollFactor(1));
        AddColumn(new RateColumn(rateName, rateLegend, workUnitsPerCall, perUnitTime));
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend);
    }

    /// <summary>Work units of one call divided by the mean time of one call (or its inverse in microseconds).</summary>
    private sealed class RateColumn(string name, string legend, double workUnitsPerCall, bool perUnitTime) : IColumn
    {
        public string Id => $"{nameof(RateColumn)}.{name}";
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => legend;
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
            GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (summary[benchmarkCase]?.ResultStatistics is not { } stats) return "-";
            var invariant = System.Globalization.CultureInfo.InvariantCulture;
            return perUnitTime
                ? (stats.Mean * 1e-3 / workUnitsPerCall).ToString("0.00", invariant)
                : (workUnitsPerCall / (stats.Mean * 1e-9)).ToString("0.00e0", invariant);
        }
    }
}
