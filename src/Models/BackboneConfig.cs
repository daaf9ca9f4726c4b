using HybridSeq.Managed;
using HybridSeq.Models.Convolutional;
using HybridSeq.Models.Recurrent;

namespace HybridSeq.Models;

/// <summary>
/// The hyper-parameters of one <see cref="SequenceBackbone"/>, whatever its family; a JSON record stored in checkpoints
/// inside the model config that holds it. Fields a family does not use keep their defaults and are ignored.
/// </summary>
/// <param name="Family">lstm, gru, slstm, mamba, tcn, wavenet or tcnca.</param>
/// <param name="ModelDimension">d: the width (the RNNs' hidden size, Mamba's d_model, the TCN's channels per level,
/// WaveNet's residual and skip channels, TCNCA's width).</param>
/// <param name="Layers">Stacked layers (TCN: levels of temporal blocks; WaveNet: gated layers).</param>
/// <param name="StateDimension">mamba: the SSM state size N.</param>
/// <param name="Heads">lstm, gru, slstm: heads of the recurrent weights; tcnca: attention heads (must divide d).</param>
/// <param name="KernelSize">tcn, wavenet, tcnca: the width K of the dilated causal convolutions.</param>
/// <param name="Dropout">tcn, wavenet, tcnca: dropout after each convolution in training.</param>
/// <param name="DilationCycle">wavenet: dilations 1, 2, ..., 2^(cycle-1), repeated (0: doubling through every layer).</param>
/// <param name="ChunkSize">tcnca: the attention chunk (attention reads the chunk's earlier steps only).</param>
public sealed record BackboneConfig(
    string Family,
    int ModelDimension = 64,
    int Layers = 2,
    int StateDimension = 16,
    int Heads = 1,
    int KernelSize = 7,
    double Dropout = 0.0,
    int DilationCycle = 0,
    int ChunkSize = 32)
{
    public const string Tcn = "tcn";
    public const string WaveNet = "wavenet";
    public const string TcnCa = "tcnca";

    /// <summary>Every backbone family, in registry order.</summary>
    public static IReadOnlyList<string> Families { get; } =
        [ModelFamilies.Mamba, ModelFamilies.Lstm, ModelFamilies.Gru, ModelFamilies.Slstm, Tcn, WaveNet, TcnCa,
            ModelFamilies.S4D, ModelFamilies.S4, ModelFamilies.Lssl];

    /// <summary>The state-space families (s4d, s4, lssl): their StateDimension must be even for s4d and s4.</summary>
    public static IReadOnlyList<string> StateSpaceFamilies { get; } = [ModelFamilies.S4D, ModelFamilies.S4, ModelFamilies.Lssl];

    /// <summary>The convolutional families (streaming backbones with a receptive field).</summary>
    public static IReadOnlyList<string> ConvolutionalFamilies { get; } = [Tcn, WaveNet, TcnCa];

    public void Validate()
    {
        if (!Families.Contains(Family))
            throw new ArgumentOutOfRangeException(nameof(Family), Family,
                $"BackboneConfig.Family must be one of {string.Join(", ", Families)}, got '{Family}'.");
        Require(ModelDimension >= 1, ModelDimension, nameof(ModelDimension), "at least 1");
        Require(Layers >= 1, Layers, nameof(Layers), "at least 1");
        Require(StateDimension >= 1, StateDimension, nameof(StateDimension), "at least 1");
        Require(Heads >= 1 && ModelDimension % Heads == 0, Heads, nameof(Heads), $"at least 1 and divide ModelDimension = {ModelDimension}");
        Require(KernelSize >= 1, KernelSize, nameof(KernelSize), "at least 1");
        Require(Dropout is >= 0 and < 1, Dropout, nameof(Dropout), "in [0, 1)");
        Require(DilationCycle is >= 0 and <= 30, DilationCycle, nameof(DilationCycle), "in [0, 30]");
        Require(ChunkSize >= 1, ChunkSize, nameof(ChunkSize), "at least 1");
        if (Family is ModelFamilies.S4D or ModelFamilies.S4)
            Require(StateDimension % 2 == 0, StateDimension, nameof(StateDimension), $"even for {Family} (N/2 conjugate pairs)");
        if (ConvolutionalFamilies.Contains(Family))
            Require(Layers <= 30, Layers, nameof(Layers), "at most 30 for the convolutional families (dilation 2^layer)");
    }

    /// <summary>The steps of the past an output can depend on (itself included), for the convolutional families;
    /// null for the recurrent ones and Mamba (unbounded). TCN: 1 + 2 (K - 1) (2^Layers - 1); WaveNet: 1 + (K - 1) x
    /// the sum of the dilations; TCNCA: its convolutions' 1 + (K - 1) (2^Layers - 1) plus up to ChunkSize - 1 per layer
    /// through attention (an upper bound: the attention span depends on the position in the chunk).</summary>
    public long? ReceptiveField => Family switch
    {
        Tcn => 1 + 2L * (KernelSize - 1) * ((1L << Layers) - 1),
        WaveNet => 1 + (KernelSize - 1) * Enumerable.Range(0, Layers).Sum(i => WaveNetBackbone.Dilation(i, DilationCycle)),
        TcnCa => 1 + (KernelSize - 1) * ((1L << Layers) - 1) + (long)Layers * (ChunkSize - 1),
        _ => null,
    };

    /// <summary>The default backbone of <paramref name="family"/> for sequences of <paramref name="length"/> steps:
    /// the recurrent families and Mamba as in their language models; the convolutional ones with the fewest layers
    /// whose receptive field covers the length (the TCN paper sizes its networks so).</summary>
    public static BackboneConfig For(string family, int length)
    {
        var config = family switch
        {
            ModelFamilies.Slstm => new BackboneConfig(family, Heads: 4),
            // The state-space language models' defaults (StateSpaceConfig.For): N 64 for s4d, 32 for s4 and lssl.
            ModelFamilies.S4D => new BackboneConfig(family, StateDimension: 64),
            ModelFamilies.S4 or ModelFamilies.Lssl => new BackboneConfig(family, StateDimension: 32),
            Tcn => new BackboneConfig(family, ModelDimension: 32, KernelSize: 7),
            WaveNet => new BackboneConfig(family, ModelDimension: 32, KernelSize: 2),
            TcnCa => new BackboneConfig(family, ModelDimension: 32, Heads: 2, KernelSize: 4, ChunkSize: 32),
            _ => new BackboneConfig(family),
        };
        config.Validate();
        return ConvolutionalFamilies.Contains(family) ? config.Covering(length) : config;
    }

    /// <summary>This config with the fewest layers (at least 1) whose receptive field covers
    /// <paramref name="length"/> steps (convolutional families only; the others are returned as they are).</summary>
    public BackboneConfig Covering(int length)
    {
        if (!ConvolutionalFamilies.Contains(Family)) return this;
        var config = this with { Layers = 1 };
        // The convolutional part must cover the length by itself (TCNCA's attention span is not guaranteed).
        while (config.Layers < 30 && config.ConvolutionSpan < length) config = config with { Layers = config.Layers + 1 };
        return config;
    }

    /// <summary>The receptive field of the convolutions alone (TCNCA without its attention).</summary>
    private long ConvolutionSpan => Family == TcnCa ? 1 + (KernelSize - 1) * ((1L << Layers) - 1) : ReceptiveField ?? 0;

    private static void Require(bool ok, object value, string name, string expected)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"BackboneConfig.{name} must be {expected}, got {value}.");
    }
}

/// <summary>Builds the backbone of a <see cref="BackboneConfig"/>.</summary>
public static class SequenceBackbones
{
    /// <summary>The backbone of <paramref name="config"/>, named <paramref name="name"/>, reading and returning d
    /// features per step (weights from torch's global generator).</summary>
    public static SequenceBackbone Create(BackboneConfig config, string name = "backbone")
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        int d = config.ModelDimension;
        return config.Family switch
        {
            ModelFamilies.Lstm => new RecurrentBackbone(name, RnnCell.Lstm, d, config.Layers, config.Heads),
            ModelFamilies.Gru => new RecurrentBackbone(name, RnnCell.Gru, d, config.Layers, config.Heads),
            ModelFamilies.Slstm => new RecurrentBackbone(name, RnnCell.Slstm, d, config.Layers, config.Heads),
            ModelFamilies.Mamba => new MambaBackbone(name, d, config.Layers, config.StateDimension),
            ModelFamilies.S4D or ModelFamilies.S4 or ModelFamilies.Lssl => new StateSpaceBackbone(name,
                StateSpace.StateSpaceConfig.For(config.Family switch
                {
                    ModelFamilies.S4D => StateSpace.StateSpaceKind.S4D,
                    ModelFamilies.S4 => StateSpace.StateSpaceKind.S4,
                    _ => StateSpace.StateSpaceKind.Lssl,
                }, vocabularySize: 1) with
                {
                    ModelDimension = d,
                    Layers = config.Layers,
                    StateDimension = config.StateDimension,
                }),
            BackboneConfig.Tcn => new TemporalConvNet(name, d, Enumerable.Repeat(d, config.Layers).ToArray(),
                config.KernelSize, config.Dropout),
            BackboneConfig.WaveNet => new WaveNetBackbone(name, d, config.Layers, config.KernelSize, config.DilationCycle,
                config.Dropout),
            _ => new TcnCaBackbone(name, d, config.Layers, config.KernelSize, config.Heads, config.ChunkSize, config.Dropout),
        };
    }
}
