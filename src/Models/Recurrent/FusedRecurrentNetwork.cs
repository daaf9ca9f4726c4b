using HybridSeq.Managed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Recurrent;

/// <summary>
/// A stacked, optionally bidirectional recurrent network on the fused recurrence (<see cref="FusedRnn"/>): the shared
/// base of <see cref="FusedLSTM"/>, <see cref="FusedGRU"/> and <see cref="SLSTM"/>. Per layer and direction, one
/// <see cref="FusedRnnLayer"/>: the input projection wx = x W_ih^T + b_ih as one matmul over all steps, then one fused
/// kernel call for the recurrence.
/// Parameters per layer k and direction (suffix "" forward, "_reverse" reverse), named like PyTorch's nn.LSTM:
///   weight_ih_l{k}{suffix}  (G*H, I_k)        I_0 = inputSize, I_k = H * directions above
///   bias_ih_l{k}{suffix}    (G*H)
///   weight_hh_l{k}{suffix}  (NH, G*DH, DH)    head-wise recurrent weights (NH = 1: PyTorch's (G*H, H) as (1, G*H, H))
///   bias_hh_l{k}{suffix}    (G*H)
/// Input (T, Bt, I), or (Bt, T, I) with batchFirst; output (T, Bt, H * directions) likewise.
/// </summary>
public abstract class FusedRecurrentNetwork : nn.Module<Tensor, RecurrentState?, Tensor?, (Tensor Output, RecurrentState State)>
{
    /// <summary>Builds the parameters with PyTorch's RNN initialisation: every one uniform(-1/sqrt(H), 1/sqrt(H)),
    /// drawn from torch's global generator.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="cell">The recurrent cell.</param>
    /// <param name="inputSize">I: features of the input.</param>
    /// <param name="hiddenSize">H: features of h; must be divisible by <paramref name="heads"/>.</param>
    /// <param name="heads">NH: independent heads of the recurrent weights (block-diagonal R), DH = H / NH.</param>
    /// <param name="numLayers">Stacked layers; layer k > 0 reads layer k-1's output.</param>
    /// <param name="bidirectional">Run a reverse direction too and concatenate both outputs (features 2H).</param>
    /// <param name="dropout">Dropout probability on each layer's output except the last, in training mode.</param>
    /// <param name="batchFirst">Input and output are (Bt, T, features) instead of (T, Bt, features).</param>
    protected FusedRecurrentNetwork(string name, RnnCell cell, long inputSize, long hiddenSize, long heads,
        int numLayers, bool bidirectional, double dropout, bool batchFirst) : base(name)
    {
        RnnCellInfo.Validate(cell);
        if (inputSize < 1)
            throw new ArgumentException($"inputSize: expected at least 1, got {inputSize}.", nameof(inputSize));
        if (hiddenSize < 1)
            throw new ArgumentException($"hiddenSize: expected at least 1, got {hiddenSize}.", nameof(hiddenSize));
        if (heads < 1 || hiddenSize % heads != 0)
            throw new ArgumentException(
                $"heads: expected a positive divisor of hiddenSize = {hiddenSize}, got {heads}.", nameof(heads));
        if (numLayers < 1)
            throw new ArgumentException($"numLayers: expected at least 1, got {numLayers}.", nameof(numLayers));
        if (dropout is < 0 or > 1 || double.IsNaN(dropout))
            throw new ArgumentException($"dropout: expected a probability in [0, 1], got {dropout}.", nameof(dropout));

        Cell = cell;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        Heads = heads;
        NumLayers = numLayers;
        Directions = bidirectional ? 2 : 1;
        Dropout = dropout;
        BatchFirst = batchFirst;

        long gates = cell.Gates(), headDim = hiddenSize / heads;
        double bound = 1.0 / Math.Sqrt(hiddenSize);
        for (int layer = 0; layer < numLayers; layer++)
        for (int direction = 0; direction < Directions; direction++)
        {
            long layerInput = layer == 0 ? inputSize : hiddenSize * Directions;
            string suffix = Suffix(layer, direction);
            RegisterUniform("weight_ih" + suffix, [gates * hiddenSize, layerInput], bound);
            RegisterUniform("bias_ih" + suffix, [gates * hiddenSize], bound);
            RegisterUniform("weight_hh" + suffix, [heads, gates * headDim, headDim], bound);
            RegisterUniform("bias_hh" + suffix, [gates * hiddenSize], bound);
        }
    }

    public RnnCell Cell { get; }
    public long InputSize { get; }
    public long HiddenSize { get; }
    public long Heads { get; }
    public int NumLayers { get; }
    /// <summary>1, or 2 when bidirectional.</summary>
    public int Directions { get; }
    public double Dropout { get; }
    public bool BatchFirst { get; }
    /// <summary>CUDA only: permit TF32 tensor cores for the recurrent matmul (about 1e-3 relative error); false
    /// guarantees full fp32. The current CUDA kernels have no TF32 path and compute in fp32 either way.</summary>
    public bool AllowTf32 { get; set; }

    /// <summary>The four parameters of one layer and direction (0 forward, 1 reverse). Looked up by name on each
    /// call, so they follow the module through .to(device) and load_state_dict.</summary>
    public (Parameter WeightIH, Parameter BiasIH, Parameter WeightHH, Parameter BiasHH) LayerParameters(int layer,
        int direction)
    {
        string suffix = Suffix(layer, direction);
        return (Registered("weight_ih" + suffix), Registered("bias_ih" + suffix), Registered("weight_hh" + suffix),
            Registered("bias_hh" + suffix));
    }

    private Parameter Registered(string name) => get_parameter(name) ?? throw new InvalidOperationException(
        $"{GetName()}: parameter '{name}' is missing; it is registered by the constructor and must not be removed.");

    /// <summary>The whole sequence through every layer.</summary>
    /// <param name="input">(T, Bt, I), or (Bt, T, I) with batchFirst.</param>
    /// <param name="state">initial state (zeros when null); see <see cref="RecurrentState"/>.</param>
    /// <param name="lengths">optional (Bt) int64 valid lengths (right padding): outputs are 0 from lengths[b] on,
    /// final states are those at each sequence's last valid step, and the reverse direction starts there.</param>
    /// <returns>Output (T, Bt, H * directions) (batch first if so configured) and the final state of every layer
    /// and direction.</returns>
    public override (Tensor Output, RecurrentState State) forward(Tensor input, RecurrentState? state,
        Tensor? lengths)
    {
        Tensor x = CheckInput(input, rank: 3, "(T, Bt, I) or with batchFirst (Bt, T, I)");
        if (BatchFirst)
            x = x.transpose(0, 1);
        CheckState(state, x.shape[1], x.device);

        var finalStates = new Tensor[NumLayers * Directions];
        for (int layer = 0; layer < NumLayers; layer++)
        {
            var outputs = new Tensor[Directions];
            for (int direction = 0; direction < Directions; direction++)
            {
                (Parameter weightIH, Parameter biasIH, Parameter weightHH, Parameter biasHH) =
                    LayerParameters(layer, direction);
                (outputs[direction], finalStates[layer * Directions + direction]) = FusedRnnLayer.Forward(Cell, x,
                    weightIH, biasIH, weightHH, biasHH, state?[layer, direction], lengths, reverse: direction == 1,
                    AllowTf32);
            }
            x = Directions == 1 ? outputs[0] : torch.cat(outputs, dim: 2);
            if (layer < NumLayers - 1 && Dropout > 0 && training)
                x = nn.functional.dropout(x, Dropout, training: true);
        }
        Tensor output = BatchFirst ? x.transpose(0, 1) : x;
        return (output, new RecurrentState(Cell, NumLayers, Directions, finalStates));
    }

    /// <summary>The whole sequence from the zero state, without lengths.</summary>
    public (Tensor Output, RecurrentState State) forward(Tensor input) => forward(input, null, null);

    /// <summary>One step of every layer for decoding, equal to one step of <see cref="forward(Tensor, RecurrentState?, Tensor?)"/>
    /// (no dropout: decoding is inference). Unidirectional modules only. Runs without autograd.</summary>
    /// <param name="input">(Bt, I): the input at this step.</param>
    /// <param name="state">the state after the previous step (zeros when null); not modified.</param>
    /// <returns>Output (Bt, H) of the last layer and the new state.</returns>
    public (Tensor Output, RecurrentState State) Step(Tensor input, RecurrentState? state = null)
    {
        if (Directions != 1)
            throw new InvalidOperationException(
                $"{GetName()}: Step runs one step forward in time, which a bidirectional module cannot do (its " +
                "reverse direction needs the whole sequence); call forward with the full sequence instead.");
        Tensor x = CheckInput(input, rank: 2, "(Bt, I)");
        CheckState(state, x.shape[0], x.device);
        using var noGrad = torch.no_grad();
        var next = new Tensor[NumLayers];
        for (int layer = 0; layer < NumLayers; layer++)
        {
            (Parameter weightIH, Parameter biasIH, Parameter weightHH, Parameter biasHH) = LayerParameters(layer, 0);
            next[layer] = state is null
                ? torch.zeros([Cell.States(), x.shape[0], HiddenSize], dtype: x.dtype, device: x.device)
                : state[layer, 0].clone();
            x = FusedRnn.Step(Cell, HybridSeq.Managed.Linear.Forward(x, weightIH, biasIH), weightHH, biasHH,
                next[layer]);
        }
        return (x, new RecurrentState(Cell, NumLayers, 1, next));
    }

    /// <summary>Copies PyTorch-layout RNN weights (nn.LSTM / nn.GRU state_dict names: weight_ih_l{k}{_reverse},
    /// weight_hh_l{k}{_reverse} (G*H, H), bias_ih_l{k}{_reverse}, bias_hh_l{k}{_reverse}) into this module.
    /// Requires heads == 1 and the same sizes; a missing bias (bias=False in PyTorch) loads as zeros.</summary>
    public void LoadFromTorchStateDict(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        if (Heads != 1)
            throw new InvalidOperationException(
                $"{GetName()}: PyTorch weights describe a dense recurrent matrix; this module has heads = {Heads}, " +
                "loading needs heads = 1.");
        using var noGrad = torch.no_grad();
        for (int layer = 0; layer < NumLayers; layer++)
        for (int direction = 0; direction < Directions; direction++)
        {
            string suffix = Suffix(layer, direction);
            (Parameter weightIH, Parameter biasIH, Parameter weightHH, Parameter biasHH) =
                LayerParameters(layer, direction);
            CopyRequired(stateDict, "weight_ih" + suffix, weightIH, weightIH.shape);
            CopyRequired(stateDict, "weight_hh" + suffix, weightHH, [weightHH.shape[1], weightHH.shape[2]]);
            CopyOptionalBias(stateDict, "bias_ih" + suffix, biasIH);
            CopyOptionalBias(stateDict, "bias_hh" + suffix, biasHH);
        }
    }

    private static string Suffix(int layer, int direction) => $"_l{layer}" + (direction == 1 ? "_reverse" : "");

    private void RegisterUniform(string name, long[] shape, double bound)
    {
        var parameter = new Parameter(torch.empty(shape));
        using (torch.no_grad())
            nn.init.uniform_(parameter, -bound, bound);
        register_parameter(name, parameter);
    }

    private Tensor CheckInput(Tensor input, int rank, string symbolic)
    {
        ArgumentNullException.ThrowIfNull(input, nameof(input));
        if (input.dim() != rank || input.shape[^1] != InputSize)
            throw new ArgumentException(
                $"input: expected shape {symbolic} with I = {InputSize}, got ({string.Join(", ", input.shape)}).",
                nameof(input));
        return input;
    }

    private void CheckState(RecurrentState? state, long batch, Device device)
    {
        if (state is null)
            return;
        // The native recurrence would reject it too, but with a message about a tensor the caller never named.
        if (!Decoding.DecodingChecks.SameDevice(state.PerLayer[0].device, device))
            throw new ArgumentException(
                $"state: expected a state on the input's device {device}, got one on {state.PerLayer[0].device}.",
                nameof(state));
        if (state.Cell != Cell || state.NumLayers != NumLayers || state.Directions != Directions ||
            state.Batch != batch || state.Hidden != HiddenSize)
            throw new ArgumentException(
                $"state: expected a {Cell} state of {NumLayers} layer(s) x {Directions} direction(s), batch {batch}, " +
                $"hidden {HiddenSize}; got a {state.Cell} state of {state.NumLayers} x {state.Directions}, batch " +
                $"{state.Batch}, hidden {state.Hidden}.", nameof(state));
    }

    private static void CopyRequired(IReadOnlyDictionary<string, Tensor> stateDict, string key, Parameter target,
        long[] expectedShape)
    {
        if (!stateDict.TryGetValue(key, out Tensor? source))
            throw new ArgumentException($"stateDict: expected an entry '{key}', found none (keys: " +
                                        $"{string.Join(", ", stateDict.Keys)}).", nameof(stateDict));
        if (!source.shape.SequenceEqual(expectedShape))
            throw new ArgumentException(
                $"stateDict: expected '{key}' of shape ({string.Join(", ", expectedShape)}), got " +
                $"({string.Join(", ", source.shape)}).", nameof(stateDict));
        target.copy_(source.reshape(target.shape));
    }

    private static void CopyOptionalBias(IReadOnlyDictionary<string, Tensor> stateDict, string key, Parameter target)
    {
        if (stateDict.ContainsKey(key))
            CopyRequired(stateDict, key, target, target.shape);
        else
            target.zero_();
    }
}
