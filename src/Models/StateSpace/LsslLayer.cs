using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>
/// LSSL, the linear state-space layer of Gu et al. (2021): the HiPPO-LegS A (N, N) and B (N) shared by the H
/// channels (learned or fixed), a step size per channel (learned or fixed), C (H, N) and D (H) learned; bilinear
/// discretisation Ā_h = (I − Δ_h A/2)⁻¹(I + Δ_h A/2). Its convolution kernel is the Krylov sum K_l = C Ā^l B̄,
/// computed by doubling (log₂ L products of (H, N, N) matrices); states are (Bt, H, N) real.
/// </summary>
public sealed class LsslLayer : DenseStateSpaceLayer
{
    // Field names are the parameter (or, when fixed, buffer) names in checkpoints.
    private readonly Tensor A;                    // (N, N)
    private readonly Tensor B;                    // (N)
    private readonly Tensor log_dt;               // (H)
    private readonly Parameter C;                 // (Directions, H, N)
    private readonly Parameter D;                 // (H)

    /// <param name="name">Module name.</param>
    /// <param name="channels">H.</param>
    /// <param name="stateSize">N.</param>
    /// <param name="learnA">Learn A and B (else they stay HiPPO-LegS, as buffers).</param>
    /// <param name="learnDt">Learn the step sizes (else they stay at their initial values, as a buffer).</param>
    /// <param name="bidirectional">Add an anti-causal kernel (its own C; convolution mode only).</param>
    /// <param name="dtMin">Smallest initial step size (log-uniform in [dtMin, dtMax]).</param>
    /// <param name="dtMax">Largest initial step size.</param>
    public LsslLayer(string name, int channels, int stateSize = 64, bool learnA = false, bool learnDt = true,
        bool bidirectional = false, double dtMin = 0.001, double dtMax = 0.1)
        : base(name, channels, stateSize, bidirectional, evenStateSize: false)
    {
        StepSizes.Check(dtMin, dtMax);
        LearnA = learnA;
        LearnDt = learnDt;
        using (no_grad())
        {
            var a = Hippo.LegSMatrix(stateSize).to_type(ScalarType.Float32);
            var b = Hippo.LegSInput(stateSize).to_type(ScalarType.Float32);
            var dt = StepSizes.LogUniform(channels, dtMin, dtMax);
            A = learnA ? nn.Parameter(a) : a;
            B = learnA ? nn.Parameter(b) : b;
            log_dt = learnDt ? nn.Parameter(dt) : dt;
            C = nn.Parameter(randn([Directions, channels, stateSize]) / Math.Sqrt(stateSize));
            D = nn.Parameter(randn(channels));
        }
        RegisterComponents();
    }

    public bool LearnA { get; }

    public bool LearnDt { get; }

    protected override Tensor Skip => D;

    public override (Tensor Transition, Tensor Input, Tensor Output) DenseSystem()
    {
        var (transition, input) = Bilinear(A, B, log_dt.exp());
        return (transition, input, C);
    }

    public override Tensor Kernel(long length)
    {
        if (length < 1)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length: expected at least 1, got {length}.");
        var (transition, input, output) = DenseSystem();
        var rows = Observability(output, transition, length);                  // (Dir, H, L, N)
        return rows.matmul(input.unsqueeze(-1)).squeeze(-1);                    // (Dir, H, L)
    }
}
