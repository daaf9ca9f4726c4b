using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>The initialisations of S4D's diagonal A (Gu et al. 2022, "On the Parameterization and Initialization
/// of Diagonal State Space Models").</summary>
public enum S4DInit
{
    /// <summary>S4D-Lin: A_n = −1/2 + iπn.</summary>
    Lin,

    /// <summary>S4D-Inv: A_n = −1/2 + i (N/π)(N/(2n+1) − 1).</summary>
    Inv,

    /// <summary>S4D-LegS: the eigenvalues of HiPPO-LegS's normal part, with B = V* B_LegS.</summary>
    LegS,
}

/// <summary>
/// S4D: a diagonal state-space layer. Each channel h has N/2 complex modes (one of each conjugate pair, so the
/// system is real): A = −exp(log_A_real) + i A_imag (Re A &lt; 0 by construction), B, C complex, a learnable log
/// step size log_dt per channel and the skip D. Discretised by ZOH (Ā = exp(ΔA), B̄ = (exp(ΔA) − 1)/A · B) or
/// bilinear (Ā = (1 + ΔA/2)/(1 − ΔA/2), B̄ = Δ B/(1 − ΔA/2)); the kernel K_l = 2 Re Σ_n C_n B̄_n Ā_n^l is the
/// conjugate-symmetric Vandermonde sum (<see cref="SsmKernels.Vandermonde"/>) with v = C ⊙ B̄, x = log Ā.
/// States are (Bt, H, N/2) complex.
/// </summary>
public sealed class S4DLayer : StateSpaceLayer
{
    // Field names are the parameter names in checkpoints.
    private readonly Parameter log_dt;       // (H)
    private readonly Parameter log_A_real;   // (H, N/2): Re A = −exp(log_A_real)
    private readonly Parameter A_imag;       // (H, N/2)
    private readonly Parameter B;            // (H, N/2, 2): real and imaginary parts
    private readonly Parameter C;            // (Directions, H, N/2, 2)
    private readonly Parameter D;            // (H)

    /// <summary>Builds the layer, drawing C, D and the step sizes from torch's global generator.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="channels">H.</param>
    /// <param name="stateSize">N (even): N/2 complex modes per channel.</param>
    /// <param name="init">The initialisation of A (and B for S4D-LegS; B = 1 otherwise).</param>
    /// <param name="discretization">ZOH or bilinear.</param>
    /// <param name="bidirectional">Add an anti-causal kernel (its own C; convolution mode only).</param>
    /// <param name="dtMin">Smallest initial step size; initial steps are log-uniform in [dtMin, dtMax].</param>
    /// <param name="dtMax">Largest initial step size.</param>
    public S4DLayer(string name, int channels, int stateSize = 64, S4DInit init = S4DInit.Lin,
        SsmDiscretization discretization = SsmDiscretization.Zoh, bool bidirectional = false,
        double dtMin = 0.001, double dtMax = 0.1) : base(name, channels, stateSize, bidirectional, evenStateSize: true)
    {
        if (!Enum.IsDefined(init))
            throw new ArgumentOutOfRangeException(nameof(init), init, $"init: expected Lin, Inv or LegS, got {init}.");
        if (!Enum.IsDefined(discretization))
            throw new ArgumentOutOfRangeException(nameof(discretization), discretization,
                $"discretization: expected Zoh or Bilinear, got {discretization}.");
        StepSizes.Check(dtMin, dtMax);
        Init = init;
        Discretization = discretization;
        int modes = stateSize / 2;
        using (no_grad())
        {
            Tensor a;
            Tensor b;
            switch (init)
            {
                case S4DInit.Lin:
                    a = Hippo.S4DLin(stateSize);
                    b = complex(ones(modes, ScalarType.Float64), zeros(modes, ScalarType.Float64));
                    break;
                case S4DInit.Inv:
                    a = Hippo.S4DInv(stateSize);
                    b = complex(ones(modes, ScalarType.Float64), zeros(modes, ScalarType.Float64));
                    break;
                default:
                    var nplr = Hippo.LegSDecomposition(stateSize);
                    a = nplr.Lambda;
                    b = nplr.B;
                    break;
            }
            log_A_real = nn.Parameter((-a.real).log().to_type(ScalarType.Float32).repeat(channels, 1));
            A_imag = nn.Parameter(a.imag.to_type(ScalarType.Float32).repeat(channels, 1));
            B = nn.Parameter(view_as_real(b).to_type(ScalarType.Float32).repeat(channels, 1, 1));
            // C ~ complex normal of unit variance (each part variance 1/2), as in S4D.
            C = nn.Parameter(randn([Directions, channels, modes, 2]) * Math.Sqrt(0.5));
            D = nn.Parameter(randn(channels));
            log_dt = nn.Parameter(StepSizes.LogUniform(channels, dtMin, dtMax));
        }
        RegisterComponents();
    }

    public S4DInit Init { get; }

    public SsmDiscretization Discretization { get; }

    public override long StateWidth => StateSize / 2;

    protected override bool ComplexState => true;

    protected override Tensor Skip => D;

    /// <summary>The continuous A (H, N/2) complex.</summary>
    public Tensor StateMatrix() => complex(-log_A_real.exp(), A_imag);

    /// <summary>(log Ā (H, N/2), B̄ (H, N/2), C (Directions, H, N/2)), complex.</summary>
    private (Tensor LogTransition, Tensor Input, Tensor Output) Discrete()
    {
        var a = StateMatrix();
        var dt = log_dt.exp().unsqueeze(-1);                                 // (H, 1)
        var dtA = a * dt;
        var b = view_as_complex(B);
        Tensor logTransition, input;
        if (Discretization == SsmDiscretization.Zoh)
        {
            logTransition = dtA;
            input = (dtA.exp() - 1) / a * b;
        }
        else
        {
            var denominator = 1 - dtA / 2;
            logTransition = ((1 + dtA / 2) / denominator).log();
            input = b * dt / denominator;
        }
        return (logTransition, input, view_as_complex(C));
    }

    public override Tensor Kernel(long length)
    {
        if (length < 1)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length: expected at least 1, got {length}.");
        var (logTransition, input, output) = Discrete();
        long modes = StateWidth;
        var v = (output * input).reshape(Directions * Channels, modes);
        var x = logTransition.unsqueeze(0).expand(Directions, Channels, modes).reshape(Directions * Channels, modes);
        return SsmKernels.Vandermonde(v, x, length).reshape(Directions, Channels, length);
    }

    protected override Tensor InitialStateResponse(Tensor initialState, long length)
    {
        var (logTransition, _, output) = Discrete();
        long batch = initialState.shape[0], modes = StateWidth;
        // y_t gets 2 Re Σ_n C_n Ā_n^{t+1} x0_n: a Vandermonde sum with v = C ⊙ Ā ⊙ x0 per row.
        var v = (output[0] * logTransition.exp() * initialState).reshape(batch * Channels, modes);
        var x = logTransition.unsqueeze(0).expand(batch, Channels, modes).reshape(batch * Channels, modes);
        return SsmKernels.Vandermonde(v, x, length).reshape(batch, Channels, length);
    }

    protected override Tensor FinalState(Tensor u, Tensor lengths, long[] lengthValues, Tensor? initialState)
    {
        var (logTransition, input, _) = Discrete();
        long length = u.shape[2];
        // Ā^m for m < L: (H, N/2, L); the state is Σ_m Ā^m B̄ u_{len−1−m}.
        var powers = (logTransition.unsqueeze(-1) * arange(length, dtype: u.dtype, device: u.device)).exp();
        var reversed = ReverseWithinLengths(u, lengths).to_type(powers.dtype);
        var state = einsum("bhm,hnm->bhn", reversed, powers) * input;
        if (initialState is not null)
        {
            var steps = lengths.to_type(u.dtype).reshape(-1, 1, 1);
            state = state + (logTransition.unsqueeze(0) * steps).exp() * initialState;
        }
        return state;
    }

    protected override StateSpaceStepSystem CreateStepSystem()
    {
        var (logTransition, input, output) = Discrete();
        return new DiagonalStepSystem(logTransition.exp(), input, output[0], D);
    }
}

/// <summary>The log-uniform step-size initialisation shared by the S4 family.</summary>
internal static class StepSizes
{
    public static void Check(double dtMin, double dtMax)
    {
        if (!(dtMin > 0) || !double.IsFinite(dtMin))
            throw new ArgumentOutOfRangeException(nameof(dtMin), dtMin, $"dtMin: expected a positive step size, got {dtMin}.");
        if (!(dtMax >= dtMin) || !double.IsFinite(dtMax))
            throw new ArgumentOutOfRangeException(nameof(dtMax), dtMax,
                $"dtMax: expected a finite step size of at least dtMin = {dtMin}, got {dtMax}.");
    }

    /// <summary>(H) float32 log step sizes, uniform in [log dtMin, log dtMax].</summary>
    public static Tensor LogUniform(int channels, double dtMin, double dtMax) =>
        rand(channels) * (Math.Log(dtMax) - Math.Log(dtMin)) + Math.Log(dtMin);
}
