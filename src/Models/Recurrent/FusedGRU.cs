using HybridSeq.Managed;

namespace HybridSeq.Models.Recurrent;

/// <summary>GRU on the fused recurrence; with heads = 1 it computes exactly what PyTorch's nn.GRU computes (gates
/// r, z, n with the reset applied to the recurrent part of n including bias_hh; state (h)) and can take its weights
/// (<see cref="LoadFromTorch"/>). See <see cref="FusedRecurrentNetwork"/> for shapes and parameters.</summary>
public sealed class FusedGRU(long inputSize, long hiddenSize, int numLayers = 1, long heads = 1,
    bool bidirectional = false, double dropout = 0, bool batchFirst = false, string name = nameof(FusedGRU))
    : FusedRecurrentNetwork(name, RnnCell.Gru, inputSize, hiddenSize, heads, numLayers, bidirectional, dropout,
        batchFirst)
{
    /// <summary>Copies the weights of a TorchSharp nn.GRU with the same sizes (this module needs heads = 1).</summary>
    public void LoadFromTorch(TorchSharp.Modules.GRU module) => LoadFromTorchStateDict(module.state_dict());
}
