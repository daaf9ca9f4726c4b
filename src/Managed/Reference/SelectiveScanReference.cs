using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed.Reference;

/// <summary>The selective scan composed from plain TorchSharp ops with a sequential loop over time: obviously
/// correct and differentiable by TorchSharp's own autograd, and SLOW (one small op chain per time step, O(L) graph
/// nodes). It is the baseline for tests and the CPU benchmark, never the production path.</summary>
public static class SelectiveScanReference
{
    /// <summary>Same arguments, shapes and results as <see cref="SelectiveScan.Forward"/> (without the CUDA-only
    /// deterministic switch): u, delta, z (Bt, Dm, L); A (Dm, N); B, C (Dm, N) or (Bt, G, N, L); D, deltaBias (Dm);
    /// h0 (Bt, Dm, N); lengths (Bt) int64. Returns Output (Bt, Dm, L) and LastState (Bt, Dm, N).</summary>
    public static (Tensor Output, Tensor LastState) Forward(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C,
        Tensor? D = null, Tensor? z = null, Tensor? deltaBias = null, bool deltaSoftplus = false, Tensor? h0 = null,
        Tensor? lengths = null)
    {
        long batch = u.shape[0], dim = u.shape[1], length = u.shape[2], state = A.shape[1];

        Tensor dt = deltaBias is null ? delta : delta + deltaBias.unsqueeze(-1);
        if (deltaSoftplus)
            dt = torch.nn.functional.softplus(dt);

        // Everything per step as (Bt, Dm, L, N).
        Tensor decay = torch.exp(dt.unsqueeze(-1) * A.unsqueeze(1));
        Tensor bPerStep = PerChannelPerStep(B, dim).expand(batch, dim, length, state);
        Tensor cPerStep = PerChannelPerStep(C, dim).expand(batch, dim, length, state);
        Tensor drive = dt.unsqueeze(-1) * bPerStep * u.unsqueeze(-1);

        Tensor h = h0 ?? torch.zeros([batch, dim, state], dtype: u.dtype, device: u.device);
        Tensor? lengthsOnDevice = lengths?.to(u.device);
        var ys = new List<Tensor>((int)length);
        for (long t = 0; t < length; t++)
        {
            Tensor next = decay[.., .., t] * h + drive[.., .., t];
            ys.Add((next * cPerStep[.., .., t]).sum(-1));
            // Right padding: the state stops at lengths[b].
            h = lengthsOnDevice is null ? next : torch.where((lengthsOnDevice > t).view(batch, 1, 1), next, h);
        }
        Tensor y = torch.stack(ys, dim: 2);
        if (D is not null)
            y = y + D.unsqueeze(-1) * u;
        if (z is not null)
            y = y * torch.nn.functional.silu(z);
        if (lengthsOnDevice is not null)
        {
            Tensor valid = torch.arange(length, device: u.device).unsqueeze(0) < lengthsOnDevice.unsqueeze(-1);
            y = y * valid.unsqueeze(1).to(y.dtype);
        }
        return (y, h);
    }

    // (Dm, N) -> (1, Dm, 1, N) broadcast over batch and time; (Bt, G, N, L) -> (Bt, Dm, L, N), channel d reading
    // group d / (Dm / G).
    private static Tensor PerChannelPerStep(Tensor bc, long dim)
    {
        if (bc.dim() == 2)
            return bc.unsqueeze(0).unsqueeze(2);
        long groups = bc.shape[1];
        return bc.repeat_interleave(dim / groups, dim: 1).permute(0, 1, 3, 2);
    }
}
