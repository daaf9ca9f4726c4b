using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The one-node layer (input projection + recurrence, wx and dwx in scratch) against its composition
/// FusedRnn.Forward(Linear.Forward(...)): the same kernels run on the same values, so outputs and every
/// gradient must be equal bit for bit, whichever inputs require grad; plus its argument checks.</summary>
[TestFixture]
public sealed class FusedRnnLayerTests
{
    public static IEnumerable<TestCaseData> Cases()
    {
        RnnCell[] cells = [RnnCell.Lstm, RnnCell.Gru, RnnCell.Slstm];
        foreach (RnnCell cell in cells)
        foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            yield return new TestCaseData(new RnnCase(cell, Batch: 3, Steps: 7, Heads: 2, HeadDim: 5, HasS0: true,
                HasLengths: true, Reverse: true), dtype, true).SetName($"{cell} {dtype} all inputs");
            yield return new TestCaseData(new RnnCase(cell, Batch: 4, Steps: 1, Heads: 1, HeadDim: 9), dtype, false)
                .SetName($"{cell} {dtype} T1, input without grad");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void EqualsTheComposedOpsBitForBit(RnnCase c, ScalarType dtype, bool inputNeedsGrad)
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator((ulong)c.Seed);
        const long inputSize = 6;
        long gateWidth = c.Gates * c.Hidden;
        Tensor x = torch.randn([c.Steps, c.Batch, inputSize], generator: generator, dtype: dtype);
        Tensor wIH = torch.randn([gateWidth, inputSize], generator: generator, dtype: dtype) * 0.4;
        Tensor bIH = torch.randn([gateWidth], generator: generator, dtype: dtype) * 0.1;
        Tensor r = torch.randn([c.Heads, c.Gates * c.HeadDim, c.HeadDim], generator: generator, dtype: dtype) * 0.3;
        Tensor b = torch.randn([gateWidth], generator: generator, dtype: dtype) * 0.1;
        Tensor? s0 = c.HasS0 ? torch.rand([c.States, c.Batch, c.Hidden], generator: generator, dtype: dtype) : null;
        Tensor? lengths = c.HasLengths ? torch.tensor(c.LengthValues()) : null;
        Tensor dy = torch.randn([c.Steps, c.Batch, c.Hidden], generator: generator, dtype: dtype);
        Tensor dsLast = torch.randn([c.States, c.Batch, c.Hidden], generator: generator, dtype: dtype);

        List<Tensor> Run(bool layer)
        {
            Tensor[] leaves = [x.clone(), wIH.clone(), bIH.clone(), r.clone(), b.clone(), s0?.clone() ?? torch.empty(0)];
            for (int i = 0; i < leaves.Length; i++)
                if (i > 0 || inputNeedsGrad)
                    leaves[i].requires_grad_(true);
            Tensor? s0Leaf = s0 is null ? null : leaves[5];
            (Tensor y, Tensor sLast) = layer
                ? FusedRnnLayer.Forward(c.Cell, leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], s0Leaf, lengths,
                    c.Reverse)
                : FusedRnn.Forward(c.Cell, Linear.Forward(leaves[0], leaves[1], leaves[2]), leaves[3],
                    leaves[4], s0Leaf, lengths, c.Reverse);
            torch.autograd.backward([y, sLast], [dy, dsLast]);
            var results = new List<Tensor> { y.detach(), sLast.detach() };
            for (int i = 0; i < leaves.Length; i++)
            {
                if (i == 5 && s0 is null)
                    continue;
                if (i == 0 && !inputNeedsGrad)
                    Assert.That(leaves[0].grad, Is.Null, "x without requires_grad gets no gradient");
                else
                    results.Add(leaves[i].grad!);
            }
            return results;
        }

        List<Tensor> composed = Run(layer: false), fused = Run(layer: true);
        Assert.That(fused.Count, Is.EqualTo(composed.Count));
        for (int i = 0; i < composed.Count; i++)
        {
            Assert.That(fused[i].shape, Is.EqualTo(composed[i].shape), $"result {i} shape");
            Assert.That(fused[i].equal(composed[i]).all().item<bool>(), Is.True, $"result {i} differs");
        }
    }

    [Test]
    public void NoGradForwardEqualsTheRecordedOne()
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator(5);
        Tensor x = torch.randn([5, 2, 3], generator: generator);
        Tensor wIH = torch.randn([8, 3], generator: generator).requires_grad_(true);
        Tensor r = torch.randn([1, 8, 2], generator: generator), b = torch.zeros(8);
        (Tensor recorded, Tensor recordedLast) = FusedRnnLayer.Forward(RnnCell.Lstm, x, wIH, null, r, b);
        Tensor inference, inferenceLast;
        using (torch.no_grad())
            (inference, inferenceLast) = FusedRnnLayer.Forward(RnnCell.Lstm, x, wIH, null, r, b);
        Assert.That(recorded.requires_grad, Is.True);
        Assert.That(inference.requires_grad, Is.False);
        Assert.That(inference.equal(recorded).all().item<bool>(), Is.True);
        Assert.That(inferenceLast.equal(recordedLast).all().item<bool>(), Is.True);
    }

    [Test]
    public void BadArgumentsNameTheArgument()
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = torch.zeros(5, 2, 3), wIH = torch.zeros(8, 3), r = torch.zeros(1, 8, 2), b = torch.zeros(8);
        var rank = Assert.Catch<ArgumentException>(() => FusedRnnLayer.Forward(RnnCell.Lstm, torch.zeros(2, 3), wIH,
            null, r, b))!;
        Assert.That(rank.ParamName, Is.EqualTo("x"));
        Assert.That(rank.Message, Does.Contain("(T, Bt, I)").And.Contain("(2, 3)"));
        var weight = Assert.Catch<ArgumentException>(() => FusedRnnLayer.Forward(RnnCell.Lstm, x, torch.zeros(8, 4),
            null, r, b))!;
        Assert.That(weight.ParamName, Is.EqualTo("weightIH"));
        Assert.That(weight.Message, Does.Contain("K = 3").And.Contain("(8, 4)"));
        // W_ih's rows (G*H = 12) disagree with R (G*DH = 8, H = 2): the shim checks R against the projection and
        // names R, with both sides of the mismatch.
        var gates = Assert.Catch<ArgumentException>(() => FusedRnnLayer.Forward(RnnCell.Lstm, x,
            torch.zeros(12, 3).requires_grad_(true), null, r, b))!;
        Assert.That(gates.ParamName, Is.EqualTo("R"));
        Assert.That(gates.Message, Does.Contain("H = NH*DH = 2").And.Contain("'wx' has G*H = 12"));
        // A null recurrence argument is named before any work, with and without autograd.
        var nullR = Assert.Throws<ArgumentNullException>(() => FusedRnnLayer.Forward(RnnCell.Lstm, x, wIH, null,
            null!, b))!;
        Assert.That(nullR.ParamName, Is.EqualTo("R"));
        using (torch.no_grad())
        {
            var badBias = Assert.Catch<ArgumentException>(() => FusedRnnLayer.Forward(RnnCell.Lstm, x, wIH, null,
                r, torch.zeros(7)))!;
            Assert.That(badBias.ParamName, Is.EqualTo("b"));
        }
        // The layer's input in a dtype no kernel takes is named as the layer's x (not as W_ih, and not as the
        // projection wx the recurrence sees).
        var intInput = Assert.Catch<ArgumentException>(() => FusedRnnLayer.Forward(RnnCell.Lstm,
            x.to(ScalarType.Int32), wIH, null, r, b))!;
        Assert.That(intInput.ParamName, Is.EqualTo("x"));
        Assert.That(intInput.Message, Does.Contain("float32 or float64").And.Contain("int32"));
    }
}
