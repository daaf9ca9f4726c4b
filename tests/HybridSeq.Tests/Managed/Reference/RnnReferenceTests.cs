using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Reference;

/// <summary>The oracle itself: RnnReference (no native code) against TorchSharp's nn.LSTM / nn.GRU, and its sLSTM
/// against the unstabilised textbook recurrence, so that the native-vs-reference tests compare with something
/// independently right.</summary>
[TestFixture]
public sealed class RnnReferenceTests
{
    private const long InputSize = 4, Hidden = 5, Batch = 3, Steps = 6;

    [TestCase(RnnCell.Lstm)]
    [TestCase(RnnCell.Gru)]
    public void MatchesTorchSingleLayer(RnnCell cell)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(11);
        var generator = new torch.Generator(12);
        Tensor input = torch.randn([Steps, Batch, InputSize], dtype: ScalarType.Float64, generator: generator);
        Tensor h0 = torch.randn([1, Batch, Hidden], dtype: ScalarType.Float64, generator: generator);
        Tensor c0 = torch.randn([1, Batch, Hidden], dtype: ScalarType.Float64, generator: generator);

        Tensor expected, expectedH;
        Tensor? expectedC = null;
        nn.Module module;
        if (cell == RnnCell.Lstm)
        {
            LSTM lstm = nn.LSTM(InputSize, Hidden, dtype: ScalarType.Float64);
            (expected, expectedH, expectedC) = lstm.forward(input, (h0, c0));
            module = lstm;
        }
        else
        {
            GRU gru = nn.GRU(InputSize, Hidden, dtype: ScalarType.Float64);
            (expected, expectedH) = gru.forward(input, h0);
            module = gru;
        }
        var p = module.named_parameters().ToDictionary(x => x.name, x => (Tensor)x.parameter);
        Tensor wx = nn.functional.linear(input, p["weight_ih_l0"], p["bias_ih_l0"]);
        Tensor s0 = cell == RnnCell.Lstm ? torch.cat([h0, c0]) : h0;
        (Tensor y, Tensor sLast) = RnnReference.Forward(cell, wx, p["weight_hh_l0"].unsqueeze(0), p["bias_hh_l0"], s0);

        TensorAssert.Close(y, expected, "y");
        TensorAssert.Close(sLast[0], expectedH[0], "h_n");
        if (expectedC is not null)
            TensorAssert.Close(sLast[1], expectedC[0], "c_n");
    }

    /// <summary>The stabiliser m changes nothing observable: h equals the plain recurrence c = sigmoid(f~) c +
    /// exp(i~) tanh(z~), n = sigmoid(f~) n + exp(i~), h = sigmoid(o~) c / n started from the same c / n ratio
    /// (c0 / n0 scaled by exp(m0)).</summary>
    [Test]
    public void SlstmEqualsTheUnstabilisedRecurrence()
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator(13);
        const long heads = 2, headDim = 3, hidden = heads * headDim;
        Tensor wx = torch.randn([Steps, Batch, 4 * hidden], dtype: ScalarType.Float64, generator: generator);
        Tensor r = torch.randn([heads, 4 * headDim, headDim], dtype: ScalarType.Float64, generator: generator) * 0.4;
        Tensor b = torch.randn([4 * hidden], dtype: ScalarType.Float64, generator: generator) * 0.1;
        Tensor h0 = torch.randn([Batch, hidden], dtype: ScalarType.Float64, generator: generator) * 0.5;
        Tensor c0 = torch.randn([Batch, hidden], dtype: ScalarType.Float64, generator: generator);
        Tensor n0 = torch.rand([Batch, hidden], dtype: ScalarType.Float64, generator: generator) + 0.5;
        Tensor m0 = torch.randn([Batch, hidden], dtype: ScalarType.Float64, generator: generator) * 0.3;

        (Tensor y, _) = RnnReference.Forward(RnnCell.Slstm, wx, r, b, torch.stack([h0, c0, n0, m0]));

        Tensor dense = RnnReference.BlockDiagonal(r, 4);
        Tensor h = h0, c = c0 * torch.exp(m0), n = n0 * torch.exp(m0);
        for (int t = 0; t < Steps; t++)
        {
            Tensor[] g = (wx[t] + torch.matmul(h, dense.t()) + b).split(hidden, dim: 1);
            Tensor input = torch.exp(g[0]), forget = torch.sigmoid(g[1]);
            c = forget * c + input * torch.tanh(g[2]);
            n = forget * n + input;
            h = torch.sigmoid(g[3]) * c / n;
            TensorAssert.Close(y[t], h, $"h at step {t}");
        }
    }
}
