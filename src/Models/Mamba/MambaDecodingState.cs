using HybridSeq.Models.Decoding;
using static TorchSharp.torch;

namespace HybridSeq.Models.Mamba;

/// <summary>The decoding state of a <see cref="MambaLanguageModel"/>: one <see cref="MambaLayerCache"/> per layer.
/// Never changed after it is created (see <see cref="IDecodingState"/>); owns its caches.</summary>
public sealed class MambaDecodingState : IDecodingState
{
    private readonly MambaLayerCache[] layers;

    internal MambaDecodingState(MambaConfig config, MambaLayerCache[] layers)
    {
        Config = config;
        this.layers = layers;
    }

    /// <summary>The config of the model that made this state (its sizes).</summary>
    public MambaConfig Config { get; }

    /// <summary>One cache per layer, first layer first.</summary>
    public IReadOnlyList<MambaLayerCache> Layers => layers;

    public long BatchSize => layers[0].ScanState.shape[0];

    public Device Device => layers[0].ScanState.device;

    public IDecodingState Select(Tensor rows)
    {
        var indices = DecodingChecks.Rows(rows, BatchSize, Device);
        return new MambaDecodingState(Config, layers.Select(layer => layer.SelectRows(indices)).ToArray());
    }

    /// <summary>A copy with its own tensors: what <see cref="MambaLanguageModel.Step"/> advances in place.</summary>
    internal MambaDecodingState Clone() => new(Config, layers.Select(layer => layer.Clone()).ToArray());

    public void Dispose()
    {
        foreach (var layer in layers) layer.Dispose();
    }
}
