using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed.Reference;

/// <summary>The fused recurrence composed from plain TorchSharp ops with a sequential loop over time: obviously
/// correct, differentiable by TorchSharp's own autograd, and SLOW (a small op chain per step). It is the baseline
/// for tests and the readable specification of <see cref="FusedRnn"/>, never the production path.</summary>
public static class RnnReference
{
    /// <summary>Same arguments, shapes and results as <see cref="FusedRnn.Forward"/> (without the CUDA-only TF32
    /// switch): wx (T, Bt, G*H), R (NH, G*DH, DH), b (G*H), s0 (S, Bt, H), lengths (Bt) int64.
    /// Returns Y (T, Bt, H) and SLast (S, Bt, H).</summary>
    public static (Tensor Y, Tensor SLast) Forward(RnnCell cell, Tensor wx, Tensor R, Tensor b, Tensor? s0 = null,
        Tensor? lengths = null, bool reverse = false)
    {
        long steps = wx.shape[0], batch = wx.shape[1], hidden = R.shape[0] * R.shape[2];
        int stateCount = cell.States();
        Tensor[] state = s0 is null
            ? Enumerable.Range(0, stateCount)
                .Select(_ => torch.zeros([batch, hidden], dtype: wx.dtype, device: wx.device)).ToArray()
            : s0.unbind(0);
        Tensor? lengthsOnDevice = lengths?.to(wx.device);

        var ys = new Tensor[steps];
        for (long i = 0; i < steps; i++)
        {
            long t = reverse ? steps - 1 - i : i;
            Tensor[] next = CellStep(cell, wx[t], RecurrentProjection(R, state[0], cell.Gates()) + b, state, hidden);
            if (lengthsOnDevice is null)
            {
                state = next;
                ys[t] = next[0];
                continue;
            }
            // Right padding: steps at t >= lengths[b] leave the states alone and output 0. Going backwards, the
            // states therefore stay s0 until the sequence's last valid step, where its reverse run starts.
            Tensor active = (lengthsOnDevice > t).view(batch, 1);
            state = next.Zip(state, (n, s) => torch.where(active, n, s)).ToArray();
            ys[t] = torch.where(active, next[0], torch.zeros_like(next[0]));
        }
        return (torch.stack(ys), torch.stack(state));
    }

    /// <summary>R h for every head: h (Bt, H) -> (Bt, G*H) gate-major, where gate q, head k, unit j is
    /// sum_l R[k][q*DH + j][l] * h[k*DH + l].</summary>
    public static Tensor RecurrentProjection(Tensor R, Tensor h, int gates)
    {
        long heads = R.shape[0], headDim = R.shape[2], batch = h.shape[0];
        Tensor perHead = h.view(batch, heads, headDim).permute(1, 2, 0);       // (NH, DH, Bt)
        Tensor projected = torch.matmul(R, perHead).permute(2, 0, 1);          // (Bt, NH, G*DH)
        return projected.reshape(batch, heads, gates, headDim).permute(0, 2, 1, 3).reshape(batch, gates * heads * headDim);
    }

    /// <summary>The dense (G*H, H) matrix equal to the head-wise R (NH, G*DH, DH): block-diagonal within each gate,
    /// dense[q*H + k*DH + j, k*DH + l] = R[k][q*DH + j][l], zero across heads.</summary>
    public static Tensor BlockDiagonal(Tensor R, int gates)
    {
        long heads = R.shape[0], headDim = R.shape[2], hidden = heads * headDim;
        Tensor dense = torch.zeros([gates * hidden, hidden], dtype: R.dtype, device: R.device);
        for (long q = 0; q < gates; q++)
        for (long k = 0; k < heads; k++)
        {
            long row = q * hidden + k * headDim, column = k * headDim;
            dense[TensorIndex.Slice(row, row + headDim), TensorIndex.Slice(column, column + headDim)] =
                R[TensorIndex.Single(k), TensorIndex.Slice(q * headDim, (q + 1) * headDim)];
        }
        return dense;
    }

    // One step of the cell from the pre-activations: wxT (Bt, G*H) (input part), recurrent (Bt, G*H) = R h + b.
    // Returns the new states in the cell's order (h first).
    private static Tensor[] CellStep(RnnCell cell, Tensor wxT, Tensor recurrent, Tensor[] state, long hidden)
    {
        switch (cell)
        {
            case RnnCell.Lstm:
            {
                Tensor[] g = (wxT + recurrent).split(hidden, dim: 1);
                Tensor i = torch.sigmoid(g[0]), f = torch.sigmoid(g[1]), z = torch.tanh(g[2]), o = torch.sigmoid(g[3]);
                Tensor c = f * state[1] + i * z;
                return [o * torch.tanh(c), c];
            }
            case RnnCell.Gru:
            {
                Tensor[] x = wxT.split(hidden, dim: 1), r = recurrent.split(hidden, dim: 1);
                Tensor reset = torch.sigmoid(x[0] + r[0]), update = torch.sigmoid(x[1] + r[1]);
                // PyTorch's GRU: the reset gate scales the recurrent part of n including its bias.
                Tensor candidate = torch.tanh(x[2] + reset * r[2]);
                return [(1 - update) * candidate + update * state[0]];
            }
            case RnnCell.Slstm:
            {
                Tensor[] g = (wxT + recurrent).split(hidden, dim: 1);
                Tensor logForget = nn.functional.logsigmoid(g[1]);
                // The stabiliser m keeps exp() of the input gate bounded; the ratio c / n does not depend on it.
                Tensor m = torch.maximum(logForget + state[3], g[0]);
                Tensor i = torch.exp(g[0] - m), f = torch.exp(logForget + state[3] - m);
                Tensor c = f * state[1] + i * torch.tanh(g[2]);
                Tensor n = f * state[2] + i;
                return [torch.sigmoid(g[3]) * c / n, c, n, m];
            }
            default:
                throw new ArgumentException($"cell: expected Lstm, Gru or Slstm, got the undefined value {(int)cell}.",
                    nameof(cell));
        }
    }
}
