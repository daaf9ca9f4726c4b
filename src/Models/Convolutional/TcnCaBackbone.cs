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

    /// <summary>A chunk x (Bt, T, d) with the convolution's state (advanced in place) and the current attention
    /// chunk's keys and values, (Bt, H, ChunkSize, dh) each, of which row b holds <paramref name="fill"/>[b] (its
    /// absolute position mod ChunkSize, (Bt) int64) and zeros after: returns the output (Bt, T, d) and the keys and
    /// values after these T steps (same layout).</summary>
    internal (Tensor Y, Tensor Keys, Tensor Values) Step(Tensor x, Tensor convState, Tensor keys, Tensor values, Tensor fill)
    {
        var h = norm.forward(x);
        var u = nn.functional.silu(conv.Step(convState, h.transpose(1, 2))).transpose(1, 2);
        var (q, k, v) = (Heads(q_proj.forward(u)), Heads(k_proj.forward(u)), Heads(v_proj.forward(h)));
        var valid = full_like(fill, x.shape[1]);
        var (attention, nextKeys, nextValues) = ChunkedAttention(q, k, v, keys, values, fill, valid);
        return (x + out_proj.forward(Merge(attention) * sigmoid(gate_proj.forward(u))), nextKeys, nextValues);
    }

    /// <summary>Right-padded sequences x (Bt, L, d) of valid lengths (Bt) int64 from the start: returns the output
    /// (valid before each row's length), the convolution's state after each row's last valid step (Bt, d,
    /// StateLength) and the keys and values of each row's current chunk, (Bt, H, ChunkSize, dh), the first
    /// lengths[b] mod ChunkSize of row b filled, zeros after (what <see cref="Step"/> reads).</summary>
    internal (Tensor Y, Tensor ConvState, Tensor Keys, Tensor Values) Prefill(Tensor x, Tensor lengths)
    {
        var h = norm.forward(x);
        var (mixed, convState) = conv.Forward(h.transpose(1, 2), lengths);
        var u = nn.functional.silu(mixed).transpose(1, 2);
        var (q, k, v) = (Heads(q_proj.forward(u)), Heads(k_proj.forward(u)), Heads(v_proj.forward(h)));
        var empty = zeros([x.shape[0], heads, chunk, headDimension], x.dtype, x.device);
        var (attention, keys, values) = ChunkedAttention(q, k, v, empty, empty, zeros_like(lengths), lengths);
        return (x + out_proj.forward(Merge(attention) * sigmoid(gate_proj.forward(u))), convState, keys, values);
    }

    /// <summary>Chunked causal attention of T new steps q, k, v (Bt, H, T, dh) continuing each row's current chunk:
    /// keys and values (Bt, H, ChunkSize, dh) with the first fill[b] (fill (Bt) int64 in [0, ChunkSize)) of row b
    /// filled and zeros after; the first valid[b] (valid (Bt) int64 in [0, T]) new steps of row b are real, the rest
    /// right padding. Returns the attention (Bt, H, T, dh) (meaningful before valid[b]) and the chunk's keys and
    /// values after row b's valid steps, in the same layout (fill (fill + valid) mod ChunkSize).</summary>
    private (Tensor Attention, Tensor Keys, Tensor Values) ChunkedAttention(Tensor q, Tensor k, Tensor v, Tensor keys,
        Tensor values, Tensor fill, Tensor valid)
    {
        long batch = q.shape[0], steps = q.shape[2];
        // Rows sit at different positions in their chunks. Placing row b's chunk so far at slots 0 .. fill[b] - 1 and
        // its new steps from slot fill[b] on lines every row's chunk boundaries up at multiples of ChunkSize, so the
        // chunks are blocks of ChunkSize slots for all rows at once; the blocks cover every slot a new step can reach.
        long blocks = (2 * chunk - 2 + steps) / chunk, padded = blocks * chunk;
        var querySlots = fill.unsqueeze(1) + arange(steps, ScalarType.Int64, q.device).unsqueeze(0);  // (Bt, T)
        var slots = querySlots.reshape(batch, 1, steps, 1).expand(batch, heads, steps, headDimension);
        var tail = zeros([batch, heads, padded - chunk, headDimension], q.dtype, q.device);
        // Slots after the last real step stay zero or hold padding; causal masking keeps every real query off them.
        Tensor Place(Tensor before, Tensor added) => cat([before, tail], 2).scatter(2, slots, added);
        var (placedKeys, placedValues) = (Place(keys, k), Place(values, v));
        Tensor attention;
        if (steps < chunk)
        {
            // Few new steps (decoding one token at a time): score only the real queries, each against the slots of
            // its own block up to itself (at most two blocks in all), instead of whole ChunkSize x ChunkSize blocks.
            var keySlots = arange(padded, ScalarType.Int64, q.device).reshape(1, 1, padded);
            var query = querySlots.unsqueeze(2);
            var visible = keySlots.le(query).logical_and(keySlots.div(chunk, RoundingMode.floor)
                .eq(query.div(chunk, RoundingMode.floor)));  // (Bt, T, padded)
            var scores = matmul(q, placedKeys.transpose(2, 3)) / Math.Sqrt(headDimension);  // (Bt, H, T, padded)
            scores = scores.masked_fill(visible.logical_not().unsqueeze(1), double.NegativeInfinity);
            attention = matmul(softmax(scores, -1), placedValues);
        }
        else
        {
            // Many new steps (a prefill): one causal attention per block, as the full forward does. The queries of
            // the buffer's slots are never read: zeros (each still sees its own key, so no softmax is empty).
            Tensor Blocked(Tensor t) => t.reshape(batch, heads, blocks, chunk, headDimension).transpose(1, 2)
                .reshape(batch * blocks, heads, chunk, headDimension);
            attention = nn.functional.scaled_dot_product_attention(Blocked(Place(zeros_like(keys), q)),
                Blocked(placedKeys), Blocked(placedValues), is_casual: true);
            attention = attention.reshape(batch, blocks, heads, chunk, headDimension).transpose(1, 2)
                .reshape(batch, heads, padded, headDimension).gather(2, slots);
        }

        // The chunk after row b's last valid step: block (fill + valid) / ChunkSize, its first (fill + valid) mod
        // ChunkSize slots. That block lies past the placed ones only when the last step ends a chunk, and then none
        // of its slots is kept: any block will do.
        var end = fill + valid;
        var block = end.div(chunk, RoundingMode.floor).clamp_max(blocks - 1).reshape(batch, 1, 1, 1, 1)
            .expand(batch, heads, 1, chunk, headDimension);
        var kept = (arange(chunk, ScalarType.Int64, q.device).unsqueeze(0) < end.remainder(chunk).unsqueeze(1))
            .reshape(batch, 1, chunk, 1);
        Tensor Current(Tensor placed) => placed.reshape(batch, heads, blocks, chunk, headDimension).gather(2, block)
            .squeeze(2).masked_fill(kept.logical_not(), 0.0).contiguous();
        return (attention, Current(placedKeys), Current(placedValues));
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
/// convolution's past inputs and the current chunk's keys and values, and each row's position, so a right-padded
/// batch of sequences of different lengths can be prefilled at once (<see cref="Prefill"/>).
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

    /// <summary>Per layer: the convolution's past inputs (Bt, d, (K - 1) 2^layer), then the current chunk's keys and
    /// values, (Bt, H, ChunkSize, dh) each (row b's first positions[b] mod ChunkSize filled, zeros after); last, each
    /// row's absolute position, (Bt) int64 (so rows may sit at different positions; Select keeps them with their
    /// rows). All zero here.</summary>
    public override BackboneState InitialState(long batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected at least 1 sequence, got {batch}.");
        using var noGrad = no_grad();
        var tensors = new List<Tensor>();
        Tensor? first = null;
        foreach (var layer in layers)
        {
            var conv = layer.Convolution.InitialState(batch);
            first ??= conv;
            tensors.Add(conv);
            tensors.Add(zeros([batch, layer.HeadCount, ChunkSize, layer.HeadDimension], conv.dtype, conv.device));
            tensors.Add(zeros([batch, layer.HeadCount, ChunkSize, layer.HeadDimension], conv.dtype, conv.device));
        }
        tensors.Add(zeros([batch], ScalarType.Int64, first!.device));
        return new BackboneState(this, tensors, 0, batch);
    }

    /// <summary>Sequences of different lengths at once (right padding): x (Bt, L, d), lengths (Bt) int64 in [0, L]
    /// -> the outputs (valid before each row's length) and the state of each row after its own last valid step (its
    /// position lengths[b]), from which <see cref="Step"/> continues every row as if it had been fed alone. As
    /// TemporalConvNet's, the state's <see cref="BackboneState.Position"/> is 0 (the rows' positions differ; the state
    /// holds them).</summary>
    public (Tensor Y, BackboneState State) Prefill(Tensor x, Tensor lengths)
    {
        CheckPrefill(x, lengths);
        using var noGrad = no_grad();
        var rowLengths = lengths.to(x.device);
        // The padding is zeroed: attention weighs padded values by exactly 0, which a NaN or infinite one would
        // still turn into NaN; the convolutions never read it.
        var padding = arange(x.shape[1], ScalarType.Int64, x.device).unsqueeze(0).ge(rowLengths.unsqueeze(1));
        var h = x.masked_fill(padding.unsqueeze(2), 0.0);
        var tensors = new List<Tensor>();
        foreach (var layer in layers)
        {
            var (y, conv, keys, values) = layer.Prefill(h, rowLengths);
            tensors.Add(conv);
            tensors.Add(keys);
            tensors.Add(values);
            h = y;
        }
        tensors.Add(rowLengths.clone());
        return (norm_f.forward(h), new BackboneState(this, tensors, 0, x.shape[0]));
    }

    public override (Tensor Y, BackboneState Next) Step(Tensor x, BackboneState state)
    {
        CheckStep(x, state, 3 * layers.Count + 1);
        using var noGrad = no_grad();
        var next = new Tensor[3 * layers.Count + 1];
        var positions = state.Tensors[^1];
        var fill = positions.remainder(ChunkSize);
        var h = x;
        int i = 0;
        foreach (var layer in layers)
        {
            var conv = state.Tensors[3 * i].clone();
            var (y, keys, values) = layer.Step(h, conv, state.Tensors[3 * i + 1], state.Tensors[3 * i + 2], fill);
            (next[3 * i], next[3 * i + 1], next[3 * i + 2]) = (conv, keys, values);
            h = y;
            i++;
        }
        next[^1] = positions + x.shape[1];
        return (norm_f.forward(h), new BackboneState(this, next, state.Position + x.shape[1], state.BatchSize));
    }

    public override bool IsDecayed(string parameterName) =>
        parameterName.EndsWith("weight_v", StringComparison.Ordinal) || parameterName.EndsWith("proj.weight", StringComparison.Ordinal);
}
