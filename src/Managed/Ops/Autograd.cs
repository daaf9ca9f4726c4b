using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The autograd bookkeeping every op shares: whether a call needs a graph, the in-place step, and the
/// packing of TorchSharp's untyped apply arguments, saved tensors and gradient lists (where absent optional tensors
/// are null entries).</summary>
internal static class Autograd
{
    /// <summary>True when grad mode is on and any input requires grad: only then is an autograd node recorded (and
    /// the forward saves what its backward needs). Null inputs are absent optionals.</summary>
    public static bool NeedsGraph(params Tensor?[] inputs)
        => torch.is_grad_enabled() && inputs.Any(t => t?.requires_grad == true);

    /// <summary>Runs a kernel that updates <paramref name="state"/> in place, without autograd (the kernel
    /// overwrites its state, which no graph could differentiate): the kernel gets the state itself when it is
    /// contiguous, else a contiguous copy that is written back afterwards.</summary>
    public static Tensor StepInPlace(Tensor state, Func<Tensor, Tensor> kernel)
    {
        ArgumentNullException.ThrowIfNull(state, nameof(state));
        using var noGrad = torch.no_grad();
        Tensor work = state.is_contiguous() ? state : state.contiguous();
        Tensor output = kernel(work);
        if (!ReferenceEquals(work, state))
            state.copy_(work);
        return output;
    }

    /// <summary>A tensor list for TorchSharp's save_for_backward and backward results, which mark an absent tensor
    /// (an optional input, or an argument without gradient) with a null entry.</summary>
    public static List<Tensor> TensorList(params Tensor?[] tensors) => [.. tensors.Select(t => t!)];

    /// <summary>Arguments for TorchSharp's apply, which takes an absent optional tensor as a null entry.</summary>
    public static object[] ApplyArguments(params object?[] values) => values!;

    /// <summary>The tensor at <paramref name="index"/> of an apply-argument array or saved list (null: absent).</summary>
    public static Tensor? OptionalAt(IReadOnlyList<object> values, int index) => values[index] as Tensor;

    /// <summary>The required tensor at <paramref name="index"/>.</summary>
    public static Tensor At(IReadOnlyList<object> values, int index) => (Tensor)values[index];
}
