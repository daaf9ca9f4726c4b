using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>
/// A state-space layer whose discretised system is a dense real (H, N, N) matrix per channel (S4 in real
/// coordinates, LSSL). The state contributions of the convolution mode are Krylov sums computed by doubling
/// (log₂ L matrix products): the rows C Ā^l for the initial state's response, the columns Ā^m B̄ for the final
/// state, and Ā^len by binary powers. States are (Bt, H, N) real.
/// </summary>
public abstract class DenseStateSpaceLayer : StateSpaceLayer
{
    protected DenseStateSpaceLayer(string name, int channels, int stateSize, bool bidirectional, bool evenStateSize)
        : base(name, channels, stateSize, bidirectional, evenStateSize)
    {
    }

    public override long StateWidth => StateSize;

    protected override bool ComplexState => false;

    /// <summary>The discretised real system: Ā (H, N, N), B̄ (H, N), C (Directions, H, N), differentiable.</summary>
    public abstract (Tensor Transition, Tensor Input, Tensor Output) DenseSystem();

    protected override Tensor InitialStateResponse(Tensor initialState, long length)
    {
        var (transition, _, output) = DenseSystem();
        var rows = Observability(output[0], transition, length + 1).narrow(1, 1, length);   // (H, L, N): C Ā^{t+1}
        return einsum("hln,bhn->bhl", rows, initialState);
    }

    protected override Tensor FinalState(Tensor u, Tensor lengths, long[] lengthValues, Tensor? initialState)
    {
        var (transition, input, _) = DenseSystem();
        long length = u.shape[2];
        var columns = Controllability(transition, input, length);              // (H, N, L): Ā^m B̄
        var state = einsum("bhm,hnm->bhn", ReverseWithinLengths(u, lengths), columns);
        if (initialState is not null) state = state + ApplyPowers(transition, lengthValues, initialState);
        return state;
    }

    protected override StateSpaceStepSystem CreateStepSystem()
    {
        var (transition, input, output) = DenseSystem();
        return new DenseStepSystem(transition, input, output[0], Skip);
    }

    /// <summary>Bilinear discretisation of A (H, N, N) or (N, N), B (H, N) or (N) with steps dt (H):
    /// Ā = (I − ΔA/2)⁻¹(I + ΔA/2), B̄ = (I − ΔA/2)⁻¹ ΔB, through one batched solve.</summary>
    public static (Tensor Transition, Tensor Input) Bilinear(Tensor a, Tensor b, Tensor dt)
    {
        long channels = dt.shape[0], n = a.shape[^1];
        var identity = eye(n, dtype: a.dtype, device: a.device);
        var half = (dt / 2).reshape(channels, 1, 1);
        var stateMatrix = a.dim() == 2 ? a.unsqueeze(0) : a;
        var left = identity - half * stateMatrix;                              // (H, N, N)
        var right = identity + half * stateMatrix;
        var inputs = (b.dim() == 1 ? b.unsqueeze(0) : b) * dt.reshape(channels, 1);
        var solved = linalg.solve(left, cat([right, inputs.expand(channels, n).unsqueeze(-1)], -1));
        return (solved.narrow(-1, 0, n), solved[.., .., n]);
    }

    /// <summary>The rows C Ā^l for l in [0, rows): c (..., H, N), Ā (H, N, N) -> (..., H, rows, N), by doubling.</summary>
    public static Tensor Observability(Tensor c, Tensor transition, long rows)
    {
        var block = c.unsqueeze(-2);
        var power = transition;
        while (block.shape[^2] < rows)
        {
            block = cat([block, block.matmul(power)], -2);
            if (block.shape[^2] < rows) power = power.matmul(power);
        }
        return block.narrow(-2, 0, rows);
    }

    /// <summary>The columns Ā^m B̄ for m in [0, columns): Ā (H, N, N), B̄ (H, N) -> (H, N, columns), by doubling.</summary>
    public static Tensor Controllability(Tensor transition, Tensor input, long columns)
    {
        var block = input.unsqueeze(-1);
        var power = transition;
        while (block.shape[^1] < columns)
        {
            block = cat([block, power.matmul(block)], -1);
            if (block.shape[^1] < columns) power = power.matmul(power);
        }
        return block.narrow(-1, 0, columns);
    }

    /// <summary>Ā^L (H, N, N) by repeated squaring.</summary>
    public static Tensor MatrixPower(Tensor transition, long exponent)
    {
        Tensor? result = null;
        var power = transition;
        for (long e = exponent; e > 0; e >>= 1)
        {
            if ((e & 1) != 0) result = result is null ? power : result.matmul(power);
            if (e > 1) power = power.matmul(power);
        }
        return result ?? eye(transition.shape[^1], dtype: transition.dtype, device: transition.device)
            .expand(transition.shape);
    }

    /// <summary>Ā^{e_b} x_b for each row: Ā (H, N, N), x (Bt, H, N), exponents e (Bt) on the host.</summary>
    private static Tensor ApplyPowers(Tensor transition, long[] exponents, Tensor x)
    {
        long largest = exponents.Max();
        var result = x;
        var power = transition;
        for (int bit = 0; (1L << bit) <= largest; bit++)
        {
            bool[] set = exponents.Select(e => ((e >> bit) & 1) != 0).ToArray();
            var mask = tensor(set, device: x.device).reshape(-1, 1, 1);
            result = where(mask, power.matmul(result.unsqueeze(-1)).squeeze(-1), result);
            if ((2L << bit) <= largest) power = power.matmul(power);
        }
        return result;
    }
}
