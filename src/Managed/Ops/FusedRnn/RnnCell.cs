namespace HybridSeq.Managed;

/// <summary>The recurrent cells of the fused recurrence (values equal the C enum hs_rnn_cell).</summary>
public enum RnnCell
{
    /// <summary>LSTM: gates (i, f, g, o) in PyTorch's order, states (h, c).</summary>
    Lstm = 0,

    /// <summary>GRU: gates (r, z, n) in PyTorch's order, state (h); the recurrent bias of n sits inside the reset.</summary>
    Gru = 1,

    /// <summary>xLSTM's sLSTM: gates (i, f, z, o) with exponential input gate, states (h, c, n, m).</summary>
    Slstm = 2,
}

/// <summary>Gate and state counts of each cell, as documented in hybridseq.h (a test checks them against the native
/// hs_rnn_cell_info). Kept on the managed side so that modules can size their parameters without loading the
/// native library.</summary>
public static class RnnCellInfo
{
    /// <summary>G: gate vectors per step (the gate dimension of wx, R and b is G * hidden).</summary>
    public static int Gates(this RnnCell cell) => cell switch
    {
        RnnCell.Lstm => 4,
        RnnCell.Gru => 3,
        RnnCell.Slstm => 4,
        _ => throw UnknownCell(cell),
    };

    /// <summary>S: state vectors per sequence, in the order of every state tensor (S, Bt, H): LSTM (h, c), GRU (h),
    /// sLSTM (h, c, n, m). Index 0 is always h.</summary>
    public static int States(this RnnCell cell) => cell switch
    {
        RnnCell.Lstm => 2,
        RnnCell.Gru => 1,
        RnnCell.Slstm => 4,
        _ => throw UnknownCell(cell),
    };

    /// <summary>Throws an ArgumentException naming <paramref name="argumentName"/> unless the value is a defined cell.</summary>
    public static void Validate(RnnCell cell, string argumentName = "cell")
    {
        if (!Enum.IsDefined(cell))
            throw UnknownCell(cell, argumentName);
    }

    private static ArgumentException UnknownCell(RnnCell cell, string argumentName = "cell")
        => new($"{argumentName}: expected Lstm, Gru or Slstm, got the undefined value {(int)cell}.", argumentName);
}
