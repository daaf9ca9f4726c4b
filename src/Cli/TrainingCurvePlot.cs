using ScottPlot;

namespace HybridSeq.Cli;

/// <summary>Draws the training loss (left axis) and held-out accuracy (right axis) against the step as a PNG, from
/// the curve data the trainer keeps.</summary>
public static class TrainingCurvePlot
{
    public const string FileName = "training-curve.png";

    public static void WritePng(string path, string title, IReadOnlyList<(int Step, double Loss)> losses,
        IReadOnlyList<(int Step, double Accuracy)> accuracies, int width = 900, int height = 500)
    {
        var plot = new Plot();
        var loss = plot.Add.Scatter(losses.Select(p => (double)p.Step).ToArray(), losses.Select(p => p.Loss).ToArray());
        loss.LegendText = "train loss";
        loss.MarkerSize = 0;

        var accuracy = plot.Add.Scatter(accuracies.Select(p => (double)p.Step).ToArray(),
            accuracies.Select(p => 100 * p.Accuracy).ToArray());
        accuracy.LegendText = "held-out token accuracy (%)";
        accuracy.Axes.YAxis = plot.Axes.Right;

        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("train loss (cross-entropy)");
        plot.Axes.Right.Label.Text = "held-out token accuracy (%)";
        plot.ShowLegend(Alignment.MiddleRight);

        // Render beside the target, then rename: a viewer never opens a half-written image.
        string temporaryPath = path + ".tmp.png";
        plot.SavePng(temporaryPath, width, height);
        File.Move(temporaryPath, path, overwrite: true);
    }
}
