using HybridSeq.Managed;
using HybridSeq.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
// HybridSeq.Managed.Linear is the op; the layers here are TorchSharp modules.
using Linear = TorchSharp.Modules.Linear;

namespace HybridSeq.Models.Mamba;

/// <summary>
/// Per-layer recurrent state for step-by-step generation with <see cref="MambaBlock.Step"/>, which advances it in
/// place (the block-level API; <see cref="MambaDecodingState"/> wraps one per layer behind the immutable step
/// contract). Owns its two tensors.
/// </summary>
public sealed class MambaLayerCache : IDisposable
{
    /// <summary>The streaming state of the causal convolution (<see cref="CausalConv1d.Step"/>): its last d_conv - 1
    /// inputs, oldest first: (Bt, d_inner, d_conv - 1).</summary>
    public Tensor ConvolutionState { get; }

    /// <summary>The SSM state h[t-1]: (Bt, d_inner, N) for the selective scan, (Bt, d_inner, N/2) complex for the
    /// S4D mixer.</summary>
    public Tensor ScanState { get; }

    /// <summary>Zero state (the state before the first token), matching the zero padding of the full forward.</summary>
    public MambaLayerCache(long batch, MambaConfig config, Device device, ScalarType dtype)
    {
        // The cache owns its tensors (disposed with it), so they leave any dispose scope they were made in.
        ConvolutionState = zeros([batch, config.InnerDimension, config.ConvolutionWidth - 1], dtype, device)
            .DetachFromDisposeScope();
        ScanState = (config.Mixer == MambaMixer.S4D
            ? zeros([batch, config.InnerDimension, config.StateDimension / 2], StateSpace.ComposedSsmKernels.ComplexOf(dtype), device)
            : zeros([batch, config.InnerDimension, config.StateDimension], dtype, device)).DetachFromDisposeScope();
    }

    private MambaLayerCache(Tensor convolutionState, Tensor scanState)
    {
        ConvolutionState = convolutionState.DetachFromDisposeScope();
        ScanState = scanState.DetachFromDisposeScope();
    }

    /// <summary>A copy that owns new tensors (stepping it leaves this cache as it is).</summary>
    public MambaLayerCache Clone() => new(ConvolutionState.clone(), ScanState.clone());

    /// <summary>A new cache whose row i is row rows[i] of this one; rows (R) int64 on this cache's device.</summary>
    public MambaLayerCache SelectRows(Tensor rows) =>
        new(ConvolutionState.index_select(0, rows), ScanState.index_select(0, rows));

    public void Dispose()
    {
        ConvolutionState.Dispose();
        ScanState.Dispose();
    }
}

/// <summary>
/// The Mamba-1 mixer (selective SSM block): in_proj -> depthwise causal conv1d with fused SiLU (<see cref="CausalConv1d"/>) -> x_proj (delta, B, C)
/// -> dt_proj -> selective scan (time-varying B and C, one group, softplus(delta + dt bias), skip D, gate SiLU(z))
/// -> out_proj. Input and output (Bt, L, d_model) for the full sequence, (Bt, d_model) for one step.
/// With <see cref="MambaMixer.S4D"/> the selective scan (and x_proj, dt_proj, A_log, D) is replaced by a
/// time-invariant <see cref="StateSpace.S4DLayer"/> over the d_inner channels (its own D), the rest of the block
/// unchanged: the LTI baseline of the Mamba paper.
/// </summary>
public sealed class MambaBlock : nn.Module<Tensor, Tensor>
{
    // Field names are the parameter names in checkpoints; they follow mamba_simple.py.
    private readonly Linear in_proj;
    private readonly CausalConv1d conv1d;
    private readonly Linear? x_proj;
    private readonly Linear? dt_proj;
    private readonly Parameter? A_log;
    private readonly Parameter? D;
    private readonly StateSpace.S4DLayer? s4d;
    private readonly Linear out_proj;

    private readonly MambaConfig config;

    /// <summary>Builds the block with Mamba's initialisation, drawing from torch's global generator.</summary>
    /// <param name="name">Module name (the prefix of its parameter names).</param>
    /// <param name="config">Sizes; d_inner, N, dt_rank and d_conv come from here.</param>
    /// <param name="dtMin">Smallest initial step size delta (after softplus).</param>
    /// <param name="dtMax">Largest initial step size delta; initial deltas are log-uniform in [dtMin, dtMax].</param>
    public MambaBlock(string name, MambaConfig config, double dtMin = 0.001, double dtMax = 0.1) : base(name)
    {
        config.Validate();
        this.config = config;
        long dInner = config.InnerDimension, dState = config.StateDimension, dtRank = config.ResolvedDtRank;

        in_proj = nn.Linear(config.ModelDimension, 2 * dInner, hasBias: false);
        // Output t sees inputs t-d_conv+1..t; weight (d_inner, 1, d_conv) and bias (d_inner) as nn.Conv1d's, so
        // mamba_simple.py checkpoints load as they are. SiLU is fused into the op.
        conv1d = new CausalConv1d("conv1d", dInner, config.ConvolutionWidth, bias: true, silu: true);
        // The selective path draws its weights in the same order as before the S4D option existed.
        if (config.Mixer == MambaMixer.Selective)
        {
            x_proj = nn.Linear(dInner, dtRank + 2 * dState, hasBias: false);
            dt_proj = nn.Linear(dtRank, dInner, hasBias: true);
        }
        out_proj = nn.Linear(dInner, config.ModelDimension, hasBias: false);
        if (config.Mixer == MambaMixer.S4D)
        {
            s4d = new StateSpace.S4DLayer("s4d", (int)dInner, (int)dState, dtMin: dtMin, dtMax: dtMax);
            RegisterComponents();
            return;
        }

        using (no_grad())
        {
            // Keeps delta = dt_proj(x) near the bias at the start, so the initial step sizes come from the bias.
            double dtInitStd = Math.Pow(dtRank, -0.5);
            nn.init.uniform_(dt_proj!.weight, -dtInitStd, dtInitStd);

            // Initial step sizes log-uniform in [dtMin, dtMax]; the bias is their inverse softplus so that
            // softplus(bias) == dt. Clamped so the inverse stays finite.
            var dt = exp(rand(dInner) * (Math.Log(dtMax) - Math.Log(dtMin)) + Math.Log(dtMin)).clamp_min(1e-4);
            var inverseSoftplus = dt + log(-expm1(-dt));
            dt_proj.bias!.copy_(inverseSoftplus);
        }

        // S4D-real: A[d, n] = -(n + 1) for every channel; stored as log(-A) so that A stays negative in training.
        var aReal = arange(1, dState + 1, dtype: ScalarType.Float32).repeat(dInner, 1);
        A_log = nn.Parameter(aReal.log());
        D = nn.Parameter(ones(dInner));
        RegisterComponents();
    }

    /// <summary>out_proj, exposed so the language model can rescale it for its depth (prenorm residual init).</summary>
    internal Linear OutputProjection => out_proj;

    /// <summary>Full-sequence forward. hidden (Bt, L, d_model) -> (Bt, L, d_model).</summary>
    public override Tensor forward(Tensor hidden)
    {
        long dState = config.StateDimension, dtRank = config.ResolvedDtRank;

        var xz = in_proj.forward(hidden).transpose(1, 2);              // (Bt, 2*d_inner, L)
        var halves = xz.chunk(2, dim: 1);
        var x = halves[0];                                               // (Bt, d_inner, L)
        var z = halves[1].contiguous();                                  // (Bt, d_inner, L)

        x = conv1d.forward(x);                                           // (Bt, d_inner, L), SiLU applied
        if (s4d is not null)
            return out_proj.forward(s4d.forward(x.transpose(1, 2)) * nn.functional.silu(z.transpose(1, 2)));

        var xDbl = x_proj!.forward(x.transpose(1, 2));                   // (Bt, L, dt_rank + 2N)
        var parts = xDbl.split([dtRank, dState, dState], dim: -1);
        // dt_proj without its bias: the scan adds the bias itself (delta_bias) before the softplus.
        var delta = nn.functional.linear(parts[0], dt_proj!.weight).transpose(1, 2).contiguous(); // (Bt, d_inner, L)
        var b = parts[1].transpose(1, 2).unsqueeze(1).contiguous();      // (Bt, 1, N, L)
        var c = parts[2].transpose(1, 2).unsqueeze(1).contiguous();      // (Bt, 1, N, L)

        var (y, _) = SelectiveScan.Forward(x.contiguous(), delta, StateMatrix(), b, c, D, z, dt_proj!.bias,
            deltaSoftplus: true);                                        // (Bt, d_inner, L)
        return out_proj.forward(y.transpose(1, 2));
    }

    /// <summary>
    /// One recurrent step, equal to one time step of <see cref="forward"/>. hidden (Bt, d_model) -> (Bt, d_model).
    /// Advances <paramref name="cache"/> in place. Not differentiable (call under no_grad).
    /// </summary>
    public Tensor Step(Tensor hidden, MambaLayerCache cache)
    {
        CheckStepArguments(hidden, cache);
        long dState = config.StateDimension, dtRank = config.ResolvedDtRank;

        var halves = in_proj.forward(hidden).chunk(2, dim: -1);
        var x = halves[0];                                               // (Bt, d_inner)
        var z = halves[1].contiguous();                                  // (Bt, d_inner)

        // The convolution's streaming step advances the cache's state in place (SiLU applied).
        x = conv1d.Step(cache.ConvolutionState, x.unsqueeze(-1)).squeeze(-1); // (Bt, d_inner)
        if (s4d is not null)
        {
            // LTI: the discretisation is O(d_inner N) elementwise work, the price of one step, so it is not cached.
            using var system = s4d.Discretize();
            var (output, next) = s4d.Step(x, cache.ScanState, system);
            cache.ScanState.copy_(next);
            return out_proj.forward(output * nn.functional.silu(z));
        }

        var parts = x_proj!.forward(x).split([dtRank, dState, dState], dim: -1);
        var delta = nn.functional.linear(parts[0], dt_proj!.weight).contiguous(); // (Bt, d_inner)
        var b = parts[1].unsqueeze(1).contiguous();                      // (Bt, 1, N)
        var c = parts[2].unsqueeze(1).contiguous();                      // (Bt, 1, N)

        var y = SelectiveScan.Step(cache.ScanState, x.contiguous(), delta, StateMatrix(), b, c, D, z, dt_proj!.bias,
            deltaSoftplus: true);                                        // (Bt, d_inner)
        return out_proj.forward(y);
    }

    // The native scan checks its own tensors, but a cache of another batch, size or device would first meet
    // TorchSharp's cat/mul (an opaque libtorch error) and a null one a NullReferenceException.
    private void CheckStepArguments(Tensor hidden, MambaLayerCache cache)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        if (hidden.dim() != 2 || hidden.shape[1] != config.ModelDimension)
            throw new ArgumentException(
                $"hidden: expected shape (Bt, d_model = {config.ModelDimension}), got ({string.Join(", ", hidden.shape)}).",
                nameof(hidden));
        if (cache is null)
            throw new ArgumentNullException(nameof(cache),
                "cache: expected the layer's MambaLayerCache (new MambaLayerCache(batch, config, device, dtype)), got null.");
        long[] window = [hidden.shape[0], config.InnerDimension, config.ConvolutionWidth - 1];
        long[] state = [hidden.shape[0], config.InnerDimension,
            config.Mixer == MambaMixer.S4D ? config.StateDimension / 2 : config.StateDimension];
        if (!cache.ConvolutionState.shape.SequenceEqual(window) || !cache.ScanState.shape.SequenceEqual(state))
            throw new ArgumentException(
                $"cache: expected a convolution state ({string.Join(", ", window)}) and a scan state " +
                $"({string.Join(", ", state)}) for a batch of {hidden.shape[0]}, got " +
                $"({string.Join(", ", cache.ConvolutionState.shape)}) and " +
                $"({string.Join(", ", cache.ScanState.shape)}).", nameof(cache));
        if (!Decoding.DecodingChecks.SameDevice(cache.ScanState.device, hidden.device))
            throw new ArgumentException(
                $"cache: expected a cache on the input's device {hidden.device}, got one on {cache.ScanState.device}.",
                nameof(cache));
    }

    /// <summary>A = -exp(A_log): (d_inner, N), strictly negative so the recurrence decays.</summary>
    private Tensor StateMatrix() => -A_log!.exp();
}
