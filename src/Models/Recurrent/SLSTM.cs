using HybridSeq.Managed;

namespace HybridSeq.Models.Recurrent;

/// <summary>xLSTM's sLSTM on the fused recurrence: exponential input gate, log-sigmoid forget gate, normaliser n and
/// stabiliser m (gates i, f, z, o; state (h, c, n, m)), usually with several heads. See
/// <see cref="FusedRecurrentNetwork"/> for shapes and parameters and hybridseq.h for the cell's equations.</summary>
public sealed class SLSTM(long inputSize, long hiddenSize, int numLayers = 1, long heads = 1,
    bool bidirectional = false, double dropout = 0, bool batchFirst = false, string name = nameof(SLSTM))
    : FusedRecurrentNetwork(name, RnnCell.Slstm, inputSize, hiddenSize, heads, numLayers, bidirectional, dropout,
        batchFirst);
