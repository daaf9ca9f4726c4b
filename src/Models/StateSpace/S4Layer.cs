using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>
/// S4 (Gu, Goel, Ré 2022): the DPLR state matrix A = Λ − P P* over N/2 conjugate pairs (the full system has the N
/// modes [λ, conj λ] and is real), initialised from the HiPPO-LegS normal-plus-low-rank decomposition
/// (<see cref="Hippo.LegSDecomposition"/>), bilinear discretisation with a learnable log step per channel.
/// <para>Convolution mode: the truncated generating function Σ_{l&lt;L} K_l z^l = C̃ (I − Ā z)⁻¹ B̄ with
/// C̃ = C (I − Ā^L), evaluated at the roots of unity z = ω_k = exp(−2πik/L), where
/// (I − Ā z)⁻¹ B̄ = 2/(1 + z) · (g I − A)⁻¹ B, g = (2/Δ)(1 − z)/(1 + z); the Woodbury identity turns the resolvent
/// of Λ − P P* into four conjugate-symmetric Cauchy sums k(a, b) = Σ_n a_n b_n/(g − λ_n) (<see cref="SsmKernels.Cauchy"/>,
/// with w = Δλ and z = Δg so one set of points serves every channel):
/// K̂(ω) = 2/(1 + ω) [k(C̃, B) − k(C̃, P) k(P*, B)/(1 + k(P*, P))], and K = irfft(K̂). At ω = −1 (even L) the limit
/// K̂ = (Δ/2) C̃ B is used.</para>
/// <para>Recurrent mode and the state sums use the same system in real coordinates (x = a + ib ↦ [a; b]):
/// A_r = [[Re Λ, −Im Λ], [Im Λ, Re Λ]] − 2 p_r p_rᵀ with p_r = [Re p; Im p], B_r = [Re b; Im b],
/// C_r = [2 Re c, −2 Im c], so states are (Bt, H, N) real.</para>
/// </summary>
public sealed class S4Layer : DenseStateSpaceLayer
{
    // Field names are the parameter names in checkpoints.
    private readonly Parameter log_dt;            // (H)
    private readonly Parameter log_lambda_real;   // (H, N/2): Re Λ = −exp(.)
    private readonly Parameter lambda_imag;       // (H, N/2)
    private readonly Parameter P;                 // (H, N/2, 2)
    private readonly Parameter B;                 // (H, N/2, 2)
    private readonly Parameter C;                 // (Directions, H, N/2, 2)
    private readonly Parameter D;                 // (H)

    /// <summary>Builds the layer from HiPPO-LegS; C, D and the step sizes come from torch's global generator.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="channels">H.</param>
    /// <param name="stateSize">N (even).</param>
    /// <param name="bidirectional">Add an anti-causal kernel (its own C; convolution mode only).</param>
    /// <param name="dtMin">Smallest initial step size (log-uniform in [dtMin, dtMax]).</param>
    /// <param name="dtMax">Largest initial step size.</param>
    public S4Layer(string name, int channels, int stateSize = 64, bool bidirectional = false,
        double dtMin = 0.001, double dtMax = 0.1) : base(name, channels, stateSize, bidirectional, evenStateSize: true)
    {
        StepSizes.Check(dtMin, dtMax);
        int modes = stateSize / 2;
        using (no_grad())
        {
            var nplr = Hippo.LegSDecomposition(stateSize);
            log_lambda_real = nn.Parameter((-nplr.Lambda.real).log().to_type(ScalarType.Float32).repeat(channels, 1));
            lambda_imag = nn.Parameter(nplr.Lambda.imag.to_type(ScalarType.Float32).repeat(channels, 1));
            P = nn.Parameter(view_as_real(nplr.P).to_type(ScalarType.Float32).repeat(channels, 1, 1));
            B = nn.Parameter(view_as_real(nplr.B).to_type(ScalarType.Float32).repeat(channels, 1, 1));
            C = nn.Parameter(randn([Directions, channels, modes, 2]) * Math.Sqrt(0.5));
            D = nn.Parameter(randn(channels));
            log_dt = nn.Parameter(StepSizes.LogUniform(channels, dtMin, dtMax));
        }
        RegisterComponents();
    }

    protected override Tensor Skip => D;

    /// <summary>Λ (H, N/2) complex.</summary>
    public Tensor Lambda() => complex(-log_lambda_real.exp(), lambda_imag);

    /// <summary>The continuous system in real coordinates: A_r (H, N, N), B_r (H, N), C_r (Directions, H, N).</summary>
    public (Tensor A, Tensor B, Tensor C) RealSystem()
    {
        var lambda = Lambda();
        var re = lambda.real;
        var im = lambda.imag;
        var rotation = cat([cat([diag_embed(re), diag_embed(-im)], -1), cat([diag_embed(im), diag_embed(re)], -1)], -2);
        var pr = P.transpose(-1, -2).reshape(Channels, StateSize);                // [Re p; Im p]
        var a = rotation - 2 * pr.unsqueeze(-1) * pr.unsqueeze(-2);
        var b = B.transpose(-1, -2).reshape(Channels, StateSize);
        var c = cat([2 * C.select(-1, 0), -2 * C.select(-1, 1)], -1);            // (Directions, H, N)
        return (a, b, c);
    }

    public override (Tensor Transition, Tensor Input, Tensor Output) DenseSystem()
    {
        var (a, b, c) = RealSystem();
        var (transition, input) = Bilinear(a, b, log_dt.exp());
        return (transition, input, c);
    }

    public override Tensor Kernel(long length)
    {
        if (length < 1)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length: expected at least 1, got {length}.");
        var (transition, _, outputReal) = DenseSystem();
        long modes = StateSize / 2;
        ScalarType complexType = ComposedSsmKernels.ComplexOf(outputReal.dtype);

        // C̃ = C (I − Ā^L) in real coordinates, then back to the complex half: c̃ = (c̃_a − i c̃_b)/2.
        var tilde = outputReal - outputReal.unsqueeze(-2).matmul(MatrixPower(transition, length)).squeeze(-2);
        var ct = complex(tilde.narrow(-1, 0, modes), -tilde.narrow(-1, modes, modes)) / 2;   // (Dir, H, N/2)

        var lambda = Lambda();
        var p = view_as_complex(P);
        var b = view_as_complex(B);
        var dt = log_dt.exp();
        var w = lambda * dt.unsqueeze(-1);                                       // Δλ (H, N/2)

        // The rfft bins k in [0, L/2]; at ω = −1 (k = L/2, L even) g is infinite and the limit is used instead.
        long bins = length / 2 + 1;
        long regular = length % 2 == 0 ? bins - 1 : bins;
        var angle = arange(regular, dtype: outputReal.dtype, device: outputReal.device) * (-2 * Math.PI / length);
        var omega = polar(ones_like(angle), angle);                              // (regular) complex
        var z = (1 - omega) / (1 + omega) * 2;                                   // Δg

        long rows = Directions * Channels;
        var wRows = w.unsqueeze(0).expand(Directions, Channels, modes).reshape(rows, modes);
        var dtRows = dt.to_type(complexType).unsqueeze(-1);                      // (H, 1)
        Tensor Sum(Tensor v, Tensor points) => SsmKernels.Cauchy(v, points, z);
        var kCB = Sum((ct * b).reshape(rows, modes), wRows).reshape(Directions, Channels, regular) * dtRows;
        var kCP = Sum((ct * p).reshape(rows, modes), wRows).reshape(Directions, Channels, regular) * dtRows;
        var kPB = Sum(p.conj() * b, w) * dtRows;                                 // (H, regular)
        var kPP = Sum(p.conj() * p, w) * dtRows;
        var resolvent = kCB - kCP * kPB / (1 + kPP);
        var spectrum = resolvent * (2 / (1 + omega));
        if (regular < bins)
        {
            // K̂(−1) = (Δ/2) C̃_full B_full = Δ Re Σ_n c̃_n b_n.
            var limit = ((ct * b).sum(-1).real * dt).to_type(complexType).unsqueeze(-1);
            spectrum = cat([spectrum, limit], -1);
        }
        return fft.irfft(spectrum, length, -1);
    }
}
