namespace HybridSeq.Models.Tasks;

/// <summary>
/// A task whose held-out examples come from other data than its training examples (a forecasting series' later,
/// validation part: a chronological split), not from the training distribution under another seed. The evaluator
/// (<see cref="Training.TaskEvaluator"/>) draws held-out sets through <see cref="HeldOut"/> when a task has it.
/// </summary>
public interface IHeldOutTask : ITask
{
    /// <summary>At most <paramref name="count"/> held-out examples of size <paramref name="size"/> (null: the
    /// training distribution's size), deterministic in <paramref name="seed"/>.</summary>
    TaskBatch HeldOut(int count, int seed, int? size = null);
}
