using HybridSeq.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Convolutional;

/// <summary>
/// One layer of <see cref="TcnCaBackbone"/>, after MEGA-chunk with its EMA replaced by a dilated convolution (the TCNCA
/// idea): h = RMSNorm(x); u = SiLU(dilated causal conv(h)); queries and keys from u, values from h, a sigmoid gate from
/// u; causal softmax attention inside fixed chunks of ChunkSize steps (a step attends to the earlier steps of its
/// chunk and itself); x + out_proj(attention * gate). Batch-first (Bt, L, d).
/// </summary>
public sealed class TcnCaLayer : nn.Module<Tensor, Tensor>
{
    private readonly RMSNorm norm;
    private readonly DilatedConvolution conv;
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear gate_proj;
    private readonly Linear out_proj;
    private readonly Dropout dropout;
    private readonly int heads;
    private readonly int headDimension;
    private readonly int chunk;

    public TcnCaLayer(string name, int width, int kernelSize, long dilation, int heads, int chunk, double dropout) : base(name)
    {
        if (heads < 1 || width % heads != 0)
            throw new ArgumentOutOfRangeException(nameof(heads), heads, $"heads: expected a divisor of the width {width}, got {heads}.");
        if (chunk < 1) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, $"chunk: expected at least 1 step, got {chunk}.");
        this.heads = heads;
        headDimension = width / heads;
        this.chunk = chunk;
        norm = new RMSNorm("norm", width);
        conv = new DilatedConvolution("conv", width, width, kernelSize, dilation, weightNorm: false);
        q_proj = nn.Linear(width, width);
        k_proj = nn.Linear(width, width);
        v_proj = nn.Linear(width, width);
        gate_proj = nn.Linear(width, width);
        out_proj = nn.Linear(width, width);
        this.dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    internal DilatedConvolution Convolution => conv;
    internal int HeadCount => heads;
    internal int HeadDimension => headDimension;

    public override Tensor forward(Tensor x)
    {
        var h = norm.forward(x);
        var u = nn.functional.silu(conv.forward(h.transpose(1, 2))).transpose(1, 2);
        var (q, k, v) = (Heads(q_proj.forward(u)), Heads(k_proj.forward(u)), Heads(v_proj.forward(h)));  // (Bt, H, L, dh)
        long batch = x.shape[0], length = x.shape[1];
        long chunks = (length + chunk - 1) / chunk, padded = chunks * chunk;
        if (padded != length)
        {
            // Padding at the end only: causal attention never lets a real step see a padded one.
            (q, k, v) = (Pad(q, padded), Pad(k, padded), Pad(v, padded));
        }
        Tensor Chunked(Tensor t) => t.reshape(batch, heads, chunks, chunk, headDimension).transpose(1, 2)
            .reshape(batch * chunks, heads, chunk, headDimension);
        var attention = nn.functional.scaled_dot_product_attention(Chunked(q), Chunked(k), Chunked(v), is_casual: true);
        attention = attention.reshape(batch, chunks, heads, chunk, headDimension).transpose(1, 2)
            .reshape(batch, heads, padded, headDimension).narrow(2, 0, length);
        return x + dropout.forward(out_proj.forward(Merge(attention) * sigmoid(gate_proj.forward(u))));
    }

    /// <summary>A chunk x (Bt, T, d) at absolute step <paramref name="position"/>, with the convolution's state
    /// (advanced in place) and the current attention chunk's keys and values so far, (Bt, H, position mod ChunkSize,
    /// dh) each: returns the output and the keys and values after these T steps.</summary>
    internal (Tensor Y, Tensor Keys, Tensor Values) Step(Tensor x, Tensor convState, Tensor keys, Tensor values, long position)
    {
        var h = norm.forward(x);
        var u = nn.functional.silu(conv.Step(convState, h.transpose(1, 2))).transpose(1, 2);
        var (q, k, v) = (Heads(q_proj.forward(u)), Heads(k_proj.forward(u)), Heads(v_proj.forward(h)));
        long length = x.shape[1];
        var outputs = new List<Tensor>();
        long done = 0;
        while (done < length)
        {
            long offset = (position + done) % chunk;
            if (offset == 0)
            {
                keys = keys.narrow(2, 0, 0);
                values = values.narrow(2, 0, 0);
            }
            long take = Math.Min(length - done, chunk - offset);
            var qs = q.narrow(2, done, take);
            keys = cat([keys, k.narrow(2, done, take)], 2);
            values = cat([values, v.narrow(2, done, take)], 2);
            var scores = matmul(qs, keys.transpose(2, 3)) / Math.Sqrt(headDimension);  // (Bt, H, take, offset + take)
            // Query i (step offset + i of the chunk) sees the keys of steps 0 .. offset + i.
            var visible = arange(offset + take, device: x.device).unsqueeze(0)
                .le(arange(take, device: x.device).unsqueeze(1) + offset);
            scores = scores.masked_fill(visible.logical_not(), double.NegativeInfinity);
            outputs.Add(matmul(softmax(scores, -1), values));
            done += take;
        }
        if ((position + length) % chunk == 0)
        {
            keys = keys.narrow(2, 0, 0);
            values = values.narrow(2, 0, 0);
        }
        var attention = Merge(cat(outputs, 2));
        return (x + out_proj.forward(attention * sigmoid(gate_proj.forward(u))), keys.contiguous(), values.contiguous());
    }

    /// <summary>(Bt, L, d) -> (Bt, H, L, dh).</summary>
    private Tensor Heads(Tensor t) => t.reshape(t.shape[0], t.shape[1], heads, headDimension).transpose(1, 2);

    /// <summary>(Bt, H, L, dh) -> (Bt, L, d).</summary>
    private Tensor Merge(Tensor t) => t.transpose(1, 2).reshape(t.shape[0], t.shape[2], heads * headDimension);

    private static Tensor Pad(Tensor t, long length) =>
        nn.functional.pad(t, [0, 0, 0, length - t.shape[2]]);
}

/// <summary>
/// TCNCA (Temporal Convolution Network with Chunked Attention), in this project's simplified form: layers of
/// <see cref="TcnCaLayer"/> (dilated convolutional mixing feeding gated attention inside fixed-size chunks), the
/// dilation doubling per layer, and a final RMSNorm. Batch-first (Bt, L, d) -> (Bt, L, d). Streams: per layer the
/// convolution's past inputs and the current chunk's keys and values.
/// </summary>
public sealed class TcnCaBackbone : StreamingBackbone
{
    private readonly ModuleList<TcnCaLayer> layers;
    private readonly RMSNorm norm_f;
    private readonly int width;

    public TcnCaBackbone(string name, int width, int layers, int kernelSize, int heads, int chunkSize, double dropout)
        : base(name)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), layers, $"layers: expected at least 1, got {layers}.");
        this.width = width;
        ChunkSize = chunkSize;
        this.layers = nn.ModuleList(Enumerable.Range(0, layers).Select(i =>
            new TcnCaLayer($"layer{i}", width, kernelSize, 1L << i, heads, chunkSize, dropout)).ToArray());
        norm_f = new RMSNorm("norm_f", width);
        RegisterComponents();
    }

    public int ChunkSize { get; }
    public override int InputWidth => width;
    public override int OutputWidth => width;

    public override Tensor forward(Tensor hidden)
    {
        foreach (var layer in layers) hidden = layer.forward(hidden);
        return norm_f.forward(hidden);
    }

    /// <summary>Per layer: the convolution's past inputs (Bt, d, (K - 1) 2^layer), then the chunk's keys and values
    /// so far, (Bt, H, 0, dh) each at the start.</summary>
    public override BackboneState InitialState(long batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected at least 1 sequence, got {batch}.");
        using var noGrad = no_grad();
        var tensors = new List<Tensor>();
        foreach (var layer in layers)
        {
            var conv = layer.Convolution.InitialState(batch);
            tensors.Add(conv);
            tensors.Add(zeros([batch, layer.HeadCount, 0, layer.HeadDimension], conv.dtype, conv.device));
            tensors.Add(zeros([batch, layer.HeadCount, 0, layer.HeadDimension], conv.dtype, conv.device));
        }
        return new BackboneState(this, tensors, 0, batch);
    }

    public override (Tensor Y, BackboneState Next) Step(Tensor x, BackboneState state)
    {
        CheckStep(x, state, 3 * layers.Count);
        using var noGrad = no_grad();
        var next = new Tensor[3 * layers.Count];
        var h = x;
        int i = 0;
        foreach (var layer in layers)
        {
            var conv = state.Tensors[3 * i].clone();
            var (y, keys, values) = layer.Step(h, conv, state.Tensors[3 * i + 1], state.Tensors[3 * i + 2], state.Position);
            (next[3 * i], next[3 * i + 1], next[3 * i + 2]) = (conv, keys.clone(), values.clone());
            h = y;
            i++;
        }
        return (norm_f.forward(h), new BackboneState(this, next, state.Position + x.shape[1], state.BatchSize));
    }

    public override bool IsDecayed(string parameterName) =>
        parameterName.EndsWith("weight_v", StringComparison.Ordinal) || parameterName.EndsWith("proj.weight", StringComparison.Ordinal);
}
