using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Recurrent;

/// <summary>FusedLSTM / FusedGRU / SLSTM modules: the same weights give what TorchSharp's own nn.LSTM / nn.GRU give
/// (outputs, final states, gradients of input and every parameter), stepping equals the full forward, lengths in a
/// bidirectional stack equal each sequence alone, dropout, parameter layout and initialisation.</summary>
[TestFixture]
public sealed class RecurrentModuleTests
{
    private const long InputSize = 5, Hidden = 7, Batch = 3, Steps = 9;

    public sealed record TorchCase(int Layers, bool Bidirectional, bool BatchFirst, bool InitialState)
    {
        public int Directions => Bidirectional ? 2 : 1;
        public override string ToString() =>
            $"layers {Layers}{(Bidirectional ? " bidirectional" : "")}{(BatchFirst ? " batchFirst" : "")}" +
            $"{(InitialState ? " state" : "")}";
    }

    public static IEnumerable<TorchCase> TorchCases()
    {
        yield return new TorchCase(1, false, false, false);
        yield return new TorchCase(2, true, false, true);
        yield return new TorchCase(3, false, true, true);
        yield return new TorchCase(2, true, true, false);
    }

    [TestCaseSource(nameof(TorchCases))]
    public void FusedLstmMatchesTorchLstm(TorchCase c)
    {
        foreach (ScalarType dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        {
            using var scope = torch.NewDisposeScope();
            torch.manual_seed(1);
            LSTM reference = nn.LSTM(InputSize, Hidden, c.Layers, batchFirst: c.BatchFirst,
                bidirectional: c.Bidirectional, dtype: dtype);
            var fused = new FusedLSTM(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional,
                batchFirst: c.BatchFirst);
            fused.to(dtype);
            fused.LoadFromTorch(reference);

            var generator = new torch.Generator(2);
            Tensor input = Random(generator, dtype, c.BatchFirst ? [Batch, Steps, InputSize] : [Steps, Batch, InputSize]);
            Tensor h0 = Random(generator, dtype, c.Layers * c.Directions, Batch, Hidden);
            Tensor c0 = Random(generator, dtype, c.Layers * c.Directions, Batch, Hidden);
            Tensor outputWeights = Random(generator, dtype, c.BatchFirst ? [Batch, Steps, Hidden * c.Directions]
                : [Steps, Batch, Hidden * c.Directions]);
            Tensor hWeights = Random(generator, dtype, c.Layers * c.Directions, Batch, Hidden);
            Tensor cWeights = Random(generator, dtype, c.Layers * c.Directions, Batch, Hidden);

            Tensor referenceInput = input.clone().requires_grad_(true);
            (Tensor expected, Tensor expectedH, Tensor expectedC) =
                reference.forward(referenceInput, c.InitialState ? (h0, c0) : null);
            Tensor fusedInput = input.clone().requires_grad_(true);
            RecurrentState? state = c.InitialState
                ? RecurrentState.FromComponents(RnnCell.Lstm, c.Layers, c.Directions, h0, c0)
                : null;
            (Tensor actual, RecurrentState final) = fused.forward(fusedInput, state, null);

            double scale = dtype == ScalarType.Float32 ? 5 : 1;
            TensorAssert.Close(actual, expected, $"{dtype} output", scale);
            TensorAssert.Close(final.H, expectedH, $"{dtype} h_n", scale);
            TensorAssert.Close(final.Component(1), expectedC, $"{dtype} c_n", scale);

            ((expected * outputWeights).sum() + (expectedH * hWeights).sum() + (expectedC * cWeights).sum()).backward();
            ((actual * outputWeights).sum() + (final.H * hWeights).sum() + (final.Component(1) * cWeights).sum())
                .backward();
            CompareGradients(reference, fused, referenceInput, fusedInput, dtype, scale);
        }
    }

    [TestCaseSource(nameof(TorchCases))]
    public void FusedGruMatchesTorchGru(TorchCase c)
    {
        foreach (ScalarType dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        {
            using var scope = torch.NewDisposeScope();
            torch.manual_seed(3);
            GRU reference = nn.GRU(InputSize, Hidden, c.Layers, batchFirst: c.BatchFirst,
                bidirectional: c.Bidirectional, dtype: dtype);
            var fused = new FusedGRU(InputSize, Hidden, c.Layers, bidirectional: c.Bidirectional,
                batchFirst: c.BatchFirst);
            fused.to(dtype);
            fused.LoadFromTorch(reference);

            var generator = new torch.Generator(4);
            Tensor input = Random(generator, dtype, c.BatchFirst ? [Batch, Steps, InputSize] : [Steps, Batch, InputSize]);
            Tensor h0 = Random(generator, dtype, c.Layers * c.Directions, Batch, Hidden);
            Tensor outputWeights = Random(generator, dtype, c.BatchFirst ? [Batch, Steps, Hidden * c.Directions]
                : [Steps, Batch, Hidden * c.Directions]);
            Tensor hWeights = Random(generator, dtype, c.Layers * c.Directions, Batch, Hidden);

            Tensor referenceInput = input.clone().requires_grad_(true);
            (Tensor expected, Tensor expectedH) = reference.forward(referenceInput, c.InitialState ? h0 : null!);
            Tensor fusedInput = input.clone().requires_grad_(true);
            RecurrentState? state = c.InitialState
                ? RecurrentState.FromComponents(RnnCell.Gru, c.Layers, c.Directions, h0)
                : null;
            (Tensor actual, RecurrentState final) = fused.forward(fusedInput, state, null);

            double scale = dtype == ScalarType.Float32 ? 5 : 1;
            TensorAssert.Close(actual, expected, $"{dtype} output", scale);
            TensorAssert.Close(final.H, expectedH, $"{dtype} h_n", scale);

            ((expected * outputWeights).sum() + (expectedH * hWeights).sum()).backward();
            ((actual * outputWeights).sum() + (final.H * hWeights).sum()).backward();
            CompareGradients(reference, fused, referenceInput, fusedInput, dtype, scale);
        }
    }

    // Input gradient and every parameter's gradient, matched by PyTorch's parameter names.
    private static void CompareGradients(nn.Module reference, FusedRecurrentNetwork fused, Tensor referenceInput,
        Tensor fusedInput, ScalarType dtype, double scale)
    {
        TensorAssert.Close(fusedInput.grad!, referenceInput.grad!, $"{dtype} d input", scale);
        var fusedParameters = fused.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        int compared = 0;
        foreach ((string name, Parameter parameter) in reference.named_parameters())
        {
            Tensor? grad = fusedParameters[name].grad;
            Assert.That(grad, Is.Not.Null, $"{dtype} d{name} was not produced");
            TensorAssert.Close(grad!.reshape(parameter.shape), parameter.grad!, $"{dtype} d{name}", scale);
            compared++;
        }
        Assert.That(compared, Is.EqualTo(fusedParameters.Count), "every fused parameter has a PyTorch counterpart");
    }

    public static IEnumerable<FusedRecurrentNetwork> StepModules()
    {
        yield return new FusedLSTM(InputSize, 6, numLayers: 2, heads: 2);
        yield return new FusedGRU(InputSize, 6, numLayers: 2, heads: 1);
        yield return new SLSTM(InputSize, 6, numLayers: 2, heads: 3);
    }

    /// <summary>Step on every layer, step by step, reproduces the full forward from the same initial state.</summary>
    [TestCaseSource(nameof(StepModules))]
    public void StepLoopEqualsForward(FusedRecurrentNetwork module)
    {
        using var scope = torch.NewDisposeScope();
        module.to(ScalarType.Float64);
        var generator = new torch.Generator(5);
        Tensor input = Random(generator, ScalarType.Float64, Steps, Batch, InputSize);
        var components = Enumerable.Range(0, module.Cell.States())
            .Select(_ => Random(generator, ScalarType.Float64, module.NumLayers, Batch, module.HiddenSize))
            .ToArray();
        if (module.Cell == RnnCell.Slstm)
            components[2] = components[2].abs() + 0.5; // the normaliser n is positive after any step
        RecurrentState initial = RecurrentState.FromComponents(module.Cell, module.NumLayers, 1, components);

        (Tensor expected, RecurrentState expectedFinal) = module.forward(input, initial, null);
        RecurrentState state = initial;
        var outputs = new List<Tensor>();
        for (int t = 0; t < Steps; t++)
        {
            (Tensor y, state) = module.Step(input[t], state);
            outputs.Add(y);
        }
        TensorAssert.Close(torch.stack(outputs), expected, $"{module.Cell} step outputs");
        for (int s = 0; s < module.Cell.States(); s++)
            TensorAssert.Close(state.Component(s), expectedFinal.Component(s), $"{module.Cell} final state {s}");
        // Step returned new states: the initial one is unchanged.
        TensorAssert.Identical(initial.H, components[0], "initial h after stepping");
    }

    /// <summary>Lengths through a 2-layer bidirectional stack: each sequence's output, both directions' final states,
    /// equal running that sequence alone (so the reverse direction starts at each sequence's own end).</summary>
    [TestCase(RnnCell.Lstm)]
    [TestCase(RnnCell.Gru)]
    [TestCase(RnnCell.Slstm)]
    public void BidirectionalLengthsEqualEachSequenceAlone(RnnCell cell)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(6);
        FusedRecurrentNetwork module = cell switch
        {
            RnnCell.Lstm => new FusedLSTM(InputSize, 6, numLayers: 2, bidirectional: true, batchFirst: true),
            RnnCell.Gru => new FusedGRU(InputSize, 6, numLayers: 2, bidirectional: true, batchFirst: true),
            _ => new SLSTM(InputSize, 6, numLayers: 2, heads: 2, bidirectional: true, batchFirst: true),
        };
        module.to(ScalarType.Float64);
        Tensor input = Random(new torch.Generator(7), ScalarType.Float64, Batch, Steps, InputSize);
        long[] lengths = [Steps, 4, 1];
        (Tensor output, RecurrentState final) = module.forward(input, null, torch.tensor(lengths));

        for (int b = 0; b < lengths.Length; b++)
        {
            int n = (int)lengths[b];
            (Tensor alone, RecurrentState aloneFinal) = module.forward(input[b..(b + 1), ..n]);
            TensorAssert.Close(output[b..(b + 1), ..n], alone, $"output of sequence {b}");
            Assert.That(torch.count_nonzero(output[b, n..]).item<long>(), Is.Zero, $"padded output of sequence {b}");
            for (int s = 0; s < cell.States(); s++)
                TensorAssert.Close(final.Component(s)[.., b..(b + 1)], aloneFinal.Component(s),
                    $"final state {s} of sequence {b}");
        }
    }

    [Test]
    public void DropoutActsBetweenLayersOnlyInTraining()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(8);
        var withDropout = new FusedLSTM(InputSize, 6, numLayers: 2, dropout: 0.5);
        var without = new FusedLSTM(InputSize, 6, numLayers: 2);
        without.load_state_dict(withDropout.state_dict());
        Tensor input = torch.randn(Steps, Batch, InputSize);

        withDropout.eval();
        using (torch.no_grad())
        {
            TensorAssert.Identical(withDropout.forward(input).Output, without.forward(input).Output, "eval output");
            withDropout.train();
            Tensor trained = withDropout.forward(input).Output;
            Assert.That((trained - without.forward(input).Output).abs().max().item<float>(), Is.GreaterThan(1e-3f),
                "dropout between the layers changes the output in training");
        }
        var single = new FusedLSTM(InputSize, 6, dropout: 0.5);
        using (torch.no_grad())
            TensorAssert.Identical(single.forward(input).Output, single.forward(input).Output,
                "one layer: no dropout after the last layer");
    }

    [Test]
    public void ParametersHaveTorchNamesHeadWiseShapesAndTorchInitialisation()
    {
        using var scope = torch.NewDisposeScope();
        var module = new SLSTM(InputSize, 6, numLayers: 2, heads: 3, bidirectional: true);
        var shapes = module.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.That(shapes.Keys, Is.EquivalentTo(new[]
        {
            "weight_ih_l0", "bias_ih_l0", "weight_hh_l0", "bias_hh_l0",
            "weight_ih_l0_reverse", "bias_ih_l0_reverse", "weight_hh_l0_reverse", "bias_hh_l0_reverse",
            "weight_ih_l1", "bias_ih_l1", "weight_hh_l1", "bias_hh_l1",
            "weight_ih_l1_reverse", "bias_ih_l1_reverse", "weight_hh_l1_reverse", "bias_hh_l1_reverse",
        }));
        Assert.That(shapes["weight_ih_l0"], Is.EqualTo(new long[] { 24, InputSize }));
        Assert.That(shapes["weight_ih_l1_reverse"], Is.EqualTo(new long[] { 24, 12 }));
        Assert.That(shapes["weight_hh_l1"], Is.EqualTo(new long[] { 3, 8, 2 }));
        Assert.That(shapes["bias_hh_l0_reverse"], Is.EqualTo(new long[] { 24 }));

        double bound = 1 / Math.Sqrt(6);
        foreach ((string name, Parameter p) in module.named_parameters())
        {
            Assert.That(p.abs().max().item<float>(), Is.LessThanOrEqualTo(bound), $"{name} within 1/sqrt(H)");
            Assert.That(p.std().item<float>(), Is.GreaterThan(bound / 4), $"{name} spread over the range");
        }
    }

    private static Tensor Random(torch.Generator generator, ScalarType dtype, params long[] shape)
        => torch.randn(shape, dtype: ScalarType.Float64, generator: generator).to(dtype);
}
