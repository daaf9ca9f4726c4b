using HybridSeq.Managed;

namespace HybridSeq.Models.Recurrent;

/// <summary>LSTM on the fused recurrence; with heads = 1 it computes exactly what PyTorch's nn.LSTM computes (gates
/// i, f, g, o; state (h, c)) and can take its weights (<see cref="LoadFromTorch"/>). See
/// <see cref="FusedRecurrentNetwork"/> for shapes and parameters.</summary>
public sealed class FusedLSTM(long inputSize, long hiddenSize, int numLayers = 1, long heads = 1,
    bool bidirectional = false, double dropout = 0, bool batchFirst = false, string name = nameof(FusedLSTM))
    : FusedRecurrentNetwork(name, RnnCell.Lstm, inputSize, hiddenSize, heads, numLayers, bidirectional, dropout,
        batchFirst)
{
    /// <summary>Copies the weights of a TorchSharp nn.LSTM with the same sizes (this module needs heads = 1).</summary>
    public void LoadFromTorch(TorchSharp.Modules.LSTM module) => LoadFromTorchStateDict(module.state_dict());
}
