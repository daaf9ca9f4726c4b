using System.Text.Json.Serialization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Seq2Seq;

/// <summary>The attention of a <see cref="Seq2SeqModel"/>'s decoder over the encoder states.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Seq2SeqAttention>))]
public enum Seq2SeqAttention
{
    /// <summary>No attention: the decoder reads the source only through the encoder's final state (Sutskever et
    /// al. 2014).</summary>
    None,

    /// <summary>Bahdanau et al.'s additive score v^T tanh(W_q h + W_m m).</summary>
    Additive,

    /// <summary>Luong et al.'s dot score h . m.</summary>
    Dot,

    /// <summary>Luong et al.'s general score h^T W_a m.</summary>
    General,
}

/// <summary>
/// Scores a decoder query against every encoder state and returns the attention weights (a softmax over the valid
/// source positions: padded positions get weight exactly 0) and the context (the weighted sum of the encoder states).
/// Parameters: additive W_q (H, H), W_m (H, H) with bias, v (H); general W_a (H, H); dot none.
/// </summary>
public sealed class AttentionLayer : nn.Module
{
    private readonly Linear? query;
    private readonly Linear? memory;
    private readonly Parameter? score;
    private readonly Linear? general;

    public AttentionLayer(string name, Seq2SeqAttention kind, long hidden) : base(name)
    {
        if (kind is not (Seq2SeqAttention.Additive or Seq2SeqAttention.Dot or Seq2SeqAttention.General))
            throw new ArgumentOutOfRangeException(nameof(kind), kind,
                $"kind: expected Additive, Dot or General (None has no attention layer), got {kind}.");
        Kind = kind;
        if (kind == Seq2SeqAttention.Additive)
        {
            query = nn.Linear(hidden, hidden, hasBias: false);
            memory = nn.Linear(hidden, hidden, hasBias: true);
            double bound = 1.0 / Math.Sqrt(hidden);
            score = new Parameter(torch.empty(hidden));
            using (no_grad()) nn.init.uniform_(score, -bound, bound);
        }
        else if (kind == Seq2SeqAttention.General)
        {
            general = nn.Linear(hidden, hidden, hasBias: false);
        }
        RegisterComponents();
    }

    public Seq2SeqAttention Kind { get; }

    /// <summary>What the scores need from the memory once per encoded batch: W_m m for additive attention (B, S, H),
    /// W_a^T-applied memory for general attention (so a score is h . (W_a m)), the memory itself for dot.</summary>
    public Tensor PrepareMemory(Tensor memoryStates) => Kind switch
    {
        Seq2SeqAttention.Additive => memory!.forward(memoryStates),
        // h^T W_a m = h . (W_a m): nn.Linear applies W_a to m.
        Seq2SeqAttention.General => general!.forward(memoryStates),
        _ => memoryStates,
    };

    /// <summary>
    /// queries (B, T, H), memory (B, S, H), prepared = <see cref="PrepareMemory"/>(memory), mask (B, S) bool (true =
    /// a valid source position; at least one per row) -> weights (B, T, S) (rows sum to 1, 0 at masked positions) and
    /// context (B, T, H).
    /// </summary>
    public (Tensor Weights, Tensor Context) forward(Tensor queries, Tensor memoryStates, Tensor prepared, Tensor mask)
    {
        Tensor scores = Kind == Seq2SeqAttention.Additive
            // (B, T, 1, H) + (B, 1, S, H) -> tanh -> . v -> (B, T, S)
            ? torch.tanh(query!.forward(queries).unsqueeze(2) + prepared.unsqueeze(1)).matmul(score!)
            : queries.matmul(prepared.transpose(1, 2));
        scores = scores.masked_fill(mask.logical_not().unsqueeze(1), double.NegativeInfinity);
        var weights = scores.softmax(-1);
        return (weights, weights.matmul(memoryStates));
    }
}
