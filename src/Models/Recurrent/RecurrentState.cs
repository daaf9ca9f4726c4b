using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Recurrent;

/// <summary>The recurrent state of a stacked (optionally bidirectional) fused RNN: one (S, Bt, H) tensor per layer
/// and direction, S in the cell's state order (LSTM h, c; GRU h; sLSTM h, c, n, m). Immutable: the modules return a
/// new state instead of changing the one they were given.</summary>
public sealed record RecurrentState
{
    /// <summary>Wraps existing per-layer tensors. <paramref name="perLayer"/> is indexed layer * directions +
    /// direction (direction 1 = reverse), each (S, Bt, H) with S = cell.States().</summary>
    public RecurrentState(RnnCell cell, int numLayers, int directions, IReadOnlyList<Tensor> perLayer)
    {
        RnnCellInfo.Validate(cell);
        if (numLayers < 1)
            throw new ArgumentException($"numLayers: expected at least 1, got {numLayers}.", nameof(numLayers));
        if (directions is not (1 or 2))
            throw new ArgumentException($"directions: expected 1 or 2, got {directions}.", nameof(directions));
        ArgumentNullException.ThrowIfNull(perLayer);
        if (perLayer.Count != numLayers * directions)
            throw new ArgumentException(
                $"perLayer: expected numLayers * directions = {numLayers * directions} tensors, got {perLayer.Count}.",
                nameof(perLayer));
        for (int i = 0; i < perLayer.Count; i++)
        {
            Tensor t = perLayer[i];
            if (t.dim() != 3 || t.shape[0] != cell.States() || !t.shape.SequenceEqual(perLayer[0].shape))
                throw new ArgumentException(
                    $"perLayer[{i}]: expected shape (S, Bt, H) with S = {cell.States()} for {cell}, the same for " +
                    $"every layer, got ({string.Join(", ", t.shape)}) (perLayer[0] is " +
                    $"({string.Join(", ", perLayer[0].shape)})).", nameof(perLayer));
        }
        Cell = cell;
        NumLayers = numLayers;
        Directions = directions;
        PerLayer = perLayer;
    }

    public RnnCell Cell { get; }
    public int NumLayers { get; }
    /// <summary>1, or 2 for a bidirectional module.</summary>
    public int Directions { get; }
    /// <summary>(S, Bt, H) per layer and direction, indexed layer * Directions + direction.</summary>
    public IReadOnlyList<Tensor> PerLayer { get; }

    public long Batch => PerLayer[0].shape[1];
    public long Hidden => PerLayer[0].shape[2];

    /// <summary>(S, Bt, H) of one layer and direction (0 forward, 1 reverse).</summary>
    public Tensor this[int layer, int direction] => PerLayer[layer * Directions + direction];

    /// <summary>State component <paramref name="index"/> (0 = h; LSTM 1 = c; sLSTM 1 = c, 2 = n, 3 = m) of every
    /// layer and direction stacked as (numLayers * directions, Bt, H): PyTorch's h_n / c_n layout.</summary>
    public Tensor Component(int index)
    {
        if (index < 0 || index >= Cell.States())
            throw new ArgumentOutOfRangeException(nameof(index), index,
                $"expected a state index in [0, {Cell.States()}) for {Cell}.");
        return torch.stack(PerLayer.Select(t => t[index]));
    }

    /// <summary>h of every layer and direction, (numLayers * directions, Bt, H), like PyTorch's h_n.</summary>
    public Tensor H => Component(0);

    /// <summary>Builds a state from PyTorch-style components, each (numLayers * directions, Bt, H) in the cell's
    /// state order: (h0, c0) for an LSTM, (h0) for a GRU, (h0, c0, n0, m0) for an sLSTM.</summary>
    public static RecurrentState FromComponents(RnnCell cell, int numLayers, int directions,
        params Tensor[] components)
    {
        RnnCellInfo.Validate(cell);
        if (components.Length != cell.States())
            throw new ArgumentException(
                $"components: expected {cell.States()} tensors for {cell}, got {components.Length}.",
                nameof(components));
        for (int s = 0; s < components.Length; s++)
        {
            if (components[s].dim() != 3 || components[s].shape[0] != numLayers * directions)
                throw new ArgumentException(
                    $"components[{s}]: expected shape (numLayers * directions = {numLayers * directions}, Bt, H), " +
                    $"got ({string.Join(", ", components[s].shape)}).", nameof(components));
        }
        var perLayer = Enumerable.Range(0, numLayers * directions)
            .Select(i => torch.stack(components.Select(c => c[i]))).ToArray();
        return new RecurrentState(cell, numLayers, directions, perLayer);
    }

    /// <summary>The zero state (sLSTM: n = m = 0 too, as the kernel assumes when no s0 is given).</summary>
    public static RecurrentState Zeros(RnnCell cell, int numLayers, int directions, long batch, long hidden,
        ScalarType dtype, Device device)
    {
        var perLayer = Enumerable.Range(0, numLayers * directions)
            .Select(_ => torch.zeros([cell.States(), batch, hidden], dtype: dtype, device: device)).ToArray();
        return new RecurrentState(cell, numLayers, directions, perLayer);
    }
}
