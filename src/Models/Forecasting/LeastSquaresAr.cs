using HybridSeq.Models.Tasks;
using static TorchSharp.torch;

namespace HybridSeq.Models.Forecasting;

/// <summary>
/// The classic AR baseline: for every horizon step h, y_{t+h} = b_h + sum_j W[h, j] x_j over the window's inputs x
/// (the P value lags, oldest first, then the covariates' lags), fitted by ordinary least squares
/// (libtorch's linalg.lstsq, float64) on the training windows whose inputs and targets are all observed.
/// Coefficients are in the task's scaled units (for one series the AR coefficients are scale-free).
/// </summary>
public sealed class LeastSquaresAr
{
    private readonly double[,] weights;   // (H, F)
    private readonly double[] intercepts; // (H)

    private LeastSquaresAr(double[,] weights, double[] intercepts, int lags)
    {
        this.weights = weights;
        this.intercepts = intercepts;
        Lags = lags;
    }

    public int Lags { get; }

    /// <summary>Fits the training windows of <paramref name="task"/>.</summary>
    public static LeastSquaresAr Fit(IForecastTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return Fit(task.Windows(ForecastSplit.Training));
    }

    /// <summary>Fits the fully observed windows of <paramref name="batch"/>; an ArgumentException when there are
    /// fewer of them than coefficients per step.</summary>
    public static LeastSquaresAr Fit(ForecastBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int p = batch.Lags, h = batch.Horizon, c = batch.CovariateCount, f = p * (1 + c);
        var rows = Enumerable.Range(0, batch.Count).Where(i =>
            Enumerable.Range(0, p).All(j => batch.InputMask[i * p + j] == 1)
            && Enumerable.Range(0, h).All(k => batch.TargetMask[i * h + k] == 1)).ToArray();
        if (rows.Length < f + 1)
            throw new ArgumentException(
                $"batch: least squares needs at least {f + 1} fully observed windows (one per coefficient), got {rows.Length}.",
                nameof(batch));
        var design = new double[rows.Length * (f + 1)];
        var targets = new double[rows.Length * h];
        for (int r = 0; r < rows.Length; r++)
        {
            int i = rows[r];
            for (int j = 0; j < p; j++) design[r * (f + 1) + j] = batch.Inputs[i * p + j];
            for (int j = 0; j < p * c; j++) design[r * (f + 1) + p + j] = batch.Covariates[i * p * c + j];
            design[r * (f + 1) + f] = 1;
            for (int k = 0; k < h; k++) targets[r * h + k] = batch.Targets[i * h + k];
        }
        using var scope = NewDisposeScope();
        var a = tensor(design, [rows.Length, f + 1], ScalarType.Float64);
        var b = tensor(targets, [rows.Length, h], ScalarType.Float64);
        // libtorch's CPU default driver (gelsy, QR with column pivoting) also copes with a rank-deficient design
        // (a constant lag, a duplicated covariate).
        var (solution, _, _, _) = linalg.lstsq(a, b);
        var x = solution.contiguous().data<double>().ToArray(); // (F + 1, H)
        var w = new double[h, f];
        var intercept = new double[h];
        for (int k = 0; k < h; k++)
        {
            for (int j = 0; j < f; j++) w[k, j] = x[j * h + k];
            intercept[k] = x[f * h + k];
        }
        return new LeastSquaresAr(w, intercept, p);
    }

    /// <summary>W[h, j]: the coefficient of input j (oldest value lag first) for horizon step h.</summary>
    public double Weight(int step, int input) => weights[step, input];

    /// <summary>The intercept of horizon step h.</summary>
    public double Intercept(int step) => intercepts[step];

    /// <summary>The AR coefficients of step <paramref name="step"/> by lag, lag 1 (the latest value) first.</summary>
    public double[] LagCoefficients(int step = 0) =>
        Enumerable.Range(1, Lags).Select(lag => weights[step, Lags - lag]).ToArray();

    /// <summary>Point forecasts (Count * Horizon, scaled, row-major); missing inputs count as zero (the mean).</summary>
    public float[] Predict(ForecastBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int p = batch.Lags, h = batch.Horizon, c = batch.CovariateCount;
        if (p != Lags || h != intercepts.Length || p * (1 + c) != weights.GetLength(1))
            throw new ArgumentException(
                $"batch: expected windows of {Lags} lags, horizon {intercepts.Length} and {weights.GetLength(1)} inputs, got {p}, {h} and {p * (1 + c)}.",
                nameof(batch));
        var result = new float[batch.Count * h];
        for (int i = 0; i < batch.Count; i++)
            for (int k = 0; k < h; k++)
            {
                double y = intercepts[k];
                for (int j = 0; j < p; j++) y += weights[k, j] * batch.Inputs[i * p + j];
                for (int j = 0; j < p * c; j++) y += weights[k, p + j] * batch.Covariates[i * p * c + j];
                result[i * h + k] = (float)y;
            }
        return result;
    }

    /// <summary>The task's metrics of this fit on <paramref name="batch"/> (sTPE too for <see cref="ArSyntheticTask"/>).</summary>
    public MetricTotals Evaluate(IForecastTask task, ForecastBatch batch)
    {
        var totals = MetricTotals.For(task);
        ForecastMetrics.AddPointErrors(totals, task, batch, Predict(batch));
        if (task is ArSyntheticTask synthetic)
            totals.Add(3, ForecastMetrics.SymmetricTotalPercentageError(LagCoefficients(), synthetic.Coefficients), 1);
        return totals;
    }
}
