using HybridSeq.Models.Decoding;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>How a continuous state-space system (A, B) with step size Δ becomes a discrete one (Ā, B̄).</summary>
public enum SsmDiscretization
{
    /// <summary>Zero-order hold: Ā = exp(ΔA), B̄ = A⁻¹(exp(ΔA) − I) B (S4D's default).</summary>
    Zoh,

    /// <summary>Bilinear (Tustin): Ā = (I − ΔA/2)⁻¹(I + ΔA/2), B̄ = (I − ΔA/2)⁻¹ ΔB (S4's and LSSL's).</summary>
    Bilinear,
}

/// <summary>
/// A linear time-invariant state-space layer of the S4 family: H independent channels (one SSM each), input u and
/// output y of shape (Bt, L, H). The recurrence of channel h is x_t = Ā x_{t−1} + B̄ u_t, y_t = C x_t + D u_t, the
/// convolution y = K * u + D u with the kernel K_l = C Ā^l B̄.
/// <para>Two modes with the same result: the <b>convolution mode</b> (<see cref="Forward"/>: the kernel of length L,
/// an FFT convolution through torch.fft, the skip D) for training, and the <b>recurrent mode</b>
/// (<see cref="Discretize"/> once, then <see cref="Step"/> per token). Both forward states: an initial state in, the
/// final state out (in convolution mode the initial state's contribution is the sum C Ā^{t+1} x₀ and the final state
/// the reversed kernel Σ_j Ā^{T−1−j} B̄ u_j + Ā^T x₀). Lengths (right padding): input and output past lengths[b] are
/// zero and the final state is the state after lengths[b] tokens. Bidirectional layers add a second, anti-causal
/// kernel (convolution mode only; they have no state).</para>
/// <para>States are (Bt, H, <see cref="StateWidth"/>) tensors of <see cref="StateDtype"/> (complex for the diagonal
/// S4D, real for the dense S4 and LSSL systems).</para>
/// </summary>
public abstract class StateSpaceLayer : nn.Module<Tensor, Tensor>
{
    protected StateSpaceLayer(string name, int channels, int stateSize, bool bidirectional, bool evenStateSize)
        : base(name)
    {
        if (channels < 1)
            throw new ArgumentOutOfRangeException(nameof(channels), channels,
                $"channels: expected at least 1 channel (H), got {channels}.");
        if (stateSize < 1 || evenStateSize && stateSize % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(stateSize), stateSize,
                $"stateSize: expected {(evenStateSize ? "an even state size N of at least 2 (N/2 conjugate pairs)" : "a state size N of at least 1")}, got {stateSize}.");
        Channels = channels;
        StateSize = stateSize;
        Bidirectional = bidirectional;
    }

    /// <summary>H: channels (the input and output width).</summary>
    public int Channels { get; }

    /// <summary>N: the state size of each channel's SSM.</summary>
    public int StateSize { get; }

    /// <summary>Whether a second, anti-causal kernel reads the future (convolution mode only).</summary>
    public bool Bidirectional { get; }

    /// <summary>1, or 2 when <see cref="Bidirectional"/>.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>The last dimension of a state tensor (N/2 complex modes for S4D, N for the dense systems).</summary>
    public abstract long StateWidth { get; }

    /// <summary>The dtype of a state tensor for the layer's current parameter dtype.</summary>
    public ScalarType StateDtype => ComplexState ? ComposedSsmKernels.ComplexOf(ParameterDtype) : ParameterDtype;

    /// <summary>Whether states are complex (diagonal systems keep one mode of each conjugate pair).</summary>
    protected abstract bool ComplexState { get; }

    /// <summary>The skip D (H).</summary>
    protected abstract Tensor Skip { get; }

    /// <summary>The kernel of length <paramref name="length"/>: (Directions, H, L) in the parameter dtype,
    /// differentiable (direction 1 is the anti-causal kernel, its entry 0 applied to the next position).</summary>
    public abstract Tensor Kernel(long length);

    /// <summary>C Ā^{t+1} x₀ for t in [0, length): the initial state's part of the output. x0 (Bt, H, W) -> (Bt, H, L).</summary>
    protected abstract Tensor InitialStateResponse(Tensor initialState, long length);

    /// <summary>The state after lengths[b] tokens: Σ_{j &lt; len} Ā^{len−1−j} B̄ u_j + Ā^len x₀. u (Bt, H, L) (zero past
    /// the lengths), lengths (Bt) int64 on u's device, <paramref name="lengthValues"/> the same on the host.</summary>
    protected abstract Tensor FinalState(Tensor u, Tensor lengths, long[] lengthValues, Tensor? initialState);

    /// <summary>The discretised system for the recurrent mode (Ā, B̄, C, D computed once; not differentiable).
    /// The caller owns it. A <see cref="NotSupportedException"/> for a bidirectional layer.</summary>
    public StateSpaceStepSystem Discretize()
    {
        if (Bidirectional)
            throw new NotSupportedException(
                $"{GetType().Name} is bidirectional: its anti-causal kernel reads future inputs, so it has no recurrent (step) mode; use the convolution mode (Forward).");
        using var noGrad = no_grad();
        return CreateStepSystem();
    }

    /// <summary>Builds the step system (called under no_grad by <see cref="Discretize"/>).</summary>
    protected abstract StateSpaceStepSystem CreateStepSystem();

    /// <summary>The zero state for <paramref name="batch"/> rows: (Bt, H, StateWidth) on the parameters' device.</summary>
    public Tensor ZeroState(long batch)
    {
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected at least 1 row, got {batch}.");
        return zeros([batch, Channels, StateWidth], StateDtype, ParameterDevice);
    }

    /// <summary>The device of the parameters.</summary>
    public Device ParameterDevice => parameters().First().device;

    /// <summary>The dtype of the parameters (float32 or float64).</summary>
    public ScalarType ParameterDtype => parameters().First().dtype;

    /// <summary>Convolution mode from the zero state: input (Bt, L, H) -> output (Bt, L, H).</summary>
    public override Tensor forward(Tensor input) => Forward(input).Output;

    /// <summary>
    /// Convolution mode. input (Bt, L, H) float (the parameters' dtype and device) -> output (Bt, L, H).
    /// </summary>
    /// <param name="input">(Bt, L, H).</param>
    /// <param name="initialState">optional (Bt, H, StateWidth) state before the first token (zero when null).</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths in [0, L] (right padding): inputs past them are
    /// ignored, outputs there are zero, the final state is taken at lengths[b].</param>
    /// <param name="returnFinalState">also compute the state after the last valid token.</param>
    /// <returns>The output and, when asked, the final state (Bt, H, StateWidth).</returns>
    public (Tensor Output, Tensor? FinalState) Forward(Tensor input, Tensor? initialState = null,
        Tensor? lengths = null, bool returnFinalState = false)
    {
        CheckInput(input);
        long batch = input.shape[0], length = input.shape[1];
        if (Bidirectional && (initialState is not null || returnFinalState))
            throw new ArgumentException(
                $"{(initialState is not null ? "initialState" : "returnFinalState")}: a bidirectional layer has no state (its anti-causal kernel reads the future); pass no initial state and ask for no final state.",
                initialState is not null ? nameof(initialState) : nameof(returnFinalState));
        if (initialState is not null) CheckState(initialState, batch, nameof(initialState));
        long[]? lengthValues = lengths is null ? null : CheckLengths(lengths, batch, length);

        var u = input.transpose(1, 2);                                         // (Bt, H, L)
        Tensor? mask = null;
        Tensor? lengthTensor = null;
        if (lengths is not null)
        {
            lengthTensor = lengths.to(input.device);
            mask = (arange(length, device: input.device).unsqueeze(0) < lengthTensor.unsqueeze(1))
                .unsqueeze(1).to_type(input.dtype);                           // (Bt, 1, L)
            u = u * mask;
        }
        var y = Convolve(u, Kernel(length)) + u * Skip.unsqueeze(-1);
        if (initialState is not null) y = y + InitialStateResponse(initialState, length);
        if (mask is not null) y = y * mask;

        Tensor? final = null;
        if (returnFinalState)
        {
            lengthValues ??= Enumerable.Repeat(length, (int)batch).ToArray();
            lengthTensor ??= full(batch, length, ScalarType.Int64, input.device);
            final = FinalState(u, lengthTensor, lengthValues, initialState);
        }
        return (y.transpose(1, 2), final);
    }

    /// <summary>
    /// Recurrent mode, one token: input (Bt, H) -> output (Bt, H) and the next state (a new tensor; the given one is
    /// unchanged). <paramref name="system"/> comes from this layer's <see cref="Discretize"/>.
    /// </summary>
    public (Tensor Output, Tensor Next) Step(Tensor input, Tensor state, StateSpaceStepSystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        if (system.Channels != Channels || system.StateWidth != StateWidth)
            throw new ArgumentException(
                $"system: expected the step system of this layer (H {Channels}, state width {StateWidth}), got one of H {system.Channels}, width {system.StateWidth}.",
                nameof(system));
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 2 || input.shape[1] != Channels || input.dtype != ParameterDtype)
            throw new ArgumentException(
                $"input: expected (Bt, H = {Channels}) {ParameterDtype}, got {input.dtype} of shape ({string.Join(", ", input.shape)}).",
                nameof(input));
        CheckState(state, input.shape[0], nameof(state));
        return system.Step(input, state);
    }

    /// <summary>FFT convolution of u (Bt, H, L) with the kernel (Directions, H, L), through a length-2L real FFT so
    /// the circular convolution equals the linear one on the first L outputs.</summary>
    private static Tensor Convolve(Tensor u, Tensor kernel)
    {
        long length = u.shape[2];
        long n = 2 * length;
        Tensor k = kernel[0];
        if (kernel.shape[0] == 2)
        {
            // The anti-causal kernel at the end of the 2L window: output t reads input t + 1 + m with weight k1[m].
            var zeros = torch.zeros_like(k);
            k = cat([k, zeros], 1) + cat([zeros, kernel[1].flip(-1)], 1);
        }
        var spectrum = fft.rfft(u, n, -1) * fft.rfft(k, n, -1);
        return fft.irfft(spectrum, n, -1).narrow(-1, 0, length);
    }

    /// <summary>u (Bt, H, L) reversed within each row's length: out[b, h, m] = u[b, h, len_b − 1 − m] for
    /// m &lt; len_b, 0 beyond (the input order the final-state sums read).</summary>
    protected static Tensor ReverseWithinLengths(Tensor u, Tensor lengths)
    {
        long batch = u.shape[0], channels = u.shape[1], length = u.shape[2];
        var positions = arange(length, device: u.device).unsqueeze(0);         // (1, L)
        var source = lengths.unsqueeze(1) - 1 - positions;                     // (Bt, L)
        var valid = (source >= 0).unsqueeze(1).to_type(u.dtype);
        var index = source.clamp_min(0).unsqueeze(1).expand(batch, channels, length);
        return u.gather(2, index) * valid;
    }

    private void CheckInput(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 3 || input.shape[2] != Channels || input.shape[1] < 1)
            throw new ArgumentException(
                $"input: expected (Bt, L, H = {Channels}) with L >= 1, got ({string.Join(", ", input.shape)}).",
                nameof(input));
        if (input.dtype != ParameterDtype)
            throw new ArgumentException(
                $"input: expected the parameters' dtype {ParameterDtype}, got {input.dtype}.", nameof(input));
        if (!DecodingChecks.SameDevice(input.device, ParameterDevice))
            throw new ArgumentException(
                $"input: expected a tensor on the parameters' device {ParameterDevice}, got one on {input.device}.",
                nameof(input));
    }

    private void CheckState(Tensor? state, long batch, string argument)
    {
        if (state is null)
            throw new ArgumentNullException(argument, $"{argument}: expected a ({batch}, {Channels}, {StateWidth}) {StateDtype} state, got null.");
        if (state.dim() != 3 || state.shape[0] != batch || state.shape[1] != Channels || state.shape[2] != StateWidth
            || state.dtype != StateDtype)
            throw new ArgumentException(
                $"{argument}: expected a (Bt = {batch}, H = {Channels}, {StateWidth}) {StateDtype} state, got {state.dtype} of shape ({string.Join(", ", state.shape)}).",
                argument);
        if (!DecodingChecks.SameDevice(state.device, ParameterDevice))
            throw new ArgumentException(
                $"{argument}: expected a state on the parameters' device {ParameterDevice}, got one on {state.device}.",
                argument);
    }

    private static long[] CheckLengths(Tensor lengths, long batch, long length)
    {
        if (lengths.dtype != ScalarType.Int64 || lengths.dim() != 1 || lengths.shape[0] != batch)
            throw new ArgumentException(
                $"lengths: expected (Bt = {batch}) int64, got {lengths.dtype} of shape ({string.Join(", ", lengths.shape)}).",
                nameof(lengths));
        long[] values = lengths.cpu().data<long>().ToArray();
        foreach (long value in values)
            if (value < 0 || value > length)
                throw new ArgumentException(
                    $"lengths: expected every length in [0, L = {length}], got {value}.", nameof(lengths));
        return values;
    }
}

/// <summary>
/// The discretised system of one <see cref="StateSpaceLayer"/> for the recurrent mode: Ā, B̄, C and D computed once
/// (<see cref="StateSpaceLayer.Discretize"/>), then one token per <see cref="Step"/>. Owns its tensors.
/// </summary>
public abstract class StateSpaceStepSystem : IDisposable
{
    protected StateSpaceStepSystem(long channels, long stateWidth)
    {
        Channels = channels;
        StateWidth = stateWidth;
    }

    public long Channels { get; }

    public long StateWidth { get; }

    /// <summary>input (Bt, H), state (Bt, H, W) -> output (Bt, H) and the next state (new tensors).</summary>
    public abstract (Tensor Output, Tensor Next) Step(Tensor input, Tensor state);

    public abstract void Dispose();
}

/// <summary>Diagonal complex system (S4D): x' = Ā ⊙ x + B̄ u, y = 2 Re(C · x') + D u over N/2 modes.</summary>
internal sealed class DiagonalStepSystem : StateSpaceStepSystem
{
    private readonly Tensor transition, input, output, skip;

    /// <param name="transition">Ā (H, N/2) complex.</param>
    /// <param name="input">B̄ (H, N/2) complex.</param>
    /// <param name="output">C (H, N/2) complex.</param>
    /// <param name="skip">D (H) real.</param>
    public DiagonalStepSystem(Tensor transition, Tensor input, Tensor output, Tensor skip)
        : base(transition.shape[0], transition.shape[1])
    {
        this.transition = transition.detach().DetachFromDisposeScope();
        this.input = input.detach().DetachFromDisposeScope();
        this.output = output.detach().DetachFromDisposeScope();
        this.skip = skip.detach().clone().DetachFromDisposeScope();
    }

    public override (Tensor Output, Tensor Next) Step(Tensor u, Tensor state)
    {
        var next = transition * state + input * u.unsqueeze(-1);
        var y = (output * next).sum(-1).real * 2 + skip * u;
        return (y, next);
    }

    public override void Dispose()
    {
        transition.Dispose();
        input.Dispose();
        output.Dispose();
        skip.Dispose();
    }
}

/// <summary>Dense real system (S4 in real coordinates, LSSL): x' = Ā x + B̄ u, y = C · x' + D u.</summary>
internal sealed class DenseStepSystem : StateSpaceStepSystem
{
    private readonly Tensor transition, input, output, skip;

    /// <param name="transition">Ā (H, N, N).</param>
    /// <param name="input">B̄ (H, N).</param>
    /// <param name="output">C (H, N).</param>
    /// <param name="skip">D (H).</param>
    public DenseStepSystem(Tensor transition, Tensor input, Tensor output, Tensor skip)
        : base(transition.shape[0], transition.shape[1])
    {
        this.transition = transition.detach().DetachFromDisposeScope();
        this.input = input.detach().DetachFromDisposeScope();
        this.output = output.detach().DetachFromDisposeScope();
        this.skip = skip.detach().clone().DetachFromDisposeScope();
    }

    public override (Tensor Output, Tensor Next) Step(Tensor u, Tensor state)
    {
        var next = transition.matmul(state.unsqueeze(-1)).squeeze(-1) + input * u.unsqueeze(-1);
        var y = (output * next).sum(-1) + skip * u;
        return (y, next);
    }

    public override void Dispose()
    {
        transition.Dispose();
        input.Dispose();
        output.Dispose();
        skip.Dispose();
    }
}
