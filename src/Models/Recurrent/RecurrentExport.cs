using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Recurrent;

/// <summary>
/// The inverse of <see cref="FusedLSTM.LoadFromTorch"/> / <see cref="FusedGRU.LoadFromTorch"/>: the weights of a
/// one-head fused module in PyTorch's nn.LSTM / nn.GRU layout, and TorchSharp modules built from them. Per layer k and
/// direction (suffix "" forward, "_reverse" reverse):
/// <code>
/// weight_ih_l{k}{suffix}  (G*H, I_k)   as the fused module
/// weight_hh_l{k}{suffix}  (G*H, H)     the fused (1, G*H, H) without its head axis
/// bias_ih_l{k}{suffix}    (G*H)
/// bias_hh_l{k}{suffix}    (G*H)
/// </code>
/// Gate order is PyTorch's in both (LSTM i, f, g, o; GRU r, z, n), so nothing is permuted. A module with heads &gt; 1
/// is refused: its recurrent matrix is block-diagonal, which nn.LSTM / nn.GRU cannot express.
/// </summary>
public static class RecurrentExport
{
    /// <summary>The module's weights under nn.LSTM / nn.GRU state_dict names and shapes (heads = 1). The tensors are
    /// detached views of the parameters (no copies): clone them to keep a snapshot while training goes on. Works for
    /// an <see cref="SLSTM"/> too (same names; PyTorch has no such module, but
    /// <see cref="FusedRecurrentNetwork.LoadFromTorchStateDict"/> takes them back).</summary>
    /// <exception cref="InvalidOperationException">heads &gt; 1.</exception>
    public static Dictionary<string, Tensor> ToTorchStateDict(this FusedRecurrentNetwork module)
    {
        ArgumentNullException.ThrowIfNull(module);
        RequireDense(module);
        var stateDict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int layer = 0; layer < module.NumLayers; layer++)
        for (int direction = 0; direction < module.Directions; direction++)
        {
            string suffix = $"_l{layer}" + (direction == 1 ? "_reverse" : "");
            var (weightIH, biasIH, weightHH, biasHH) = module.LayerParameters(layer, direction);
            // nn.LSTM registers w_ih, w_hh, b_ih, b_hh per layer and direction; the same order here.
            stateDict.Add("weight_ih" + suffix, weightIH.detach());
            stateDict.Add("weight_hh" + suffix, weightHH.detach().reshape(weightHH.shape[1], weightHH.shape[2]));
            stateDict.Add("bias_ih" + suffix, biasIH.detach());
            stateDict.Add("bias_hh" + suffix, biasHH.detach());
        }
        return stateDict;
    }

    /// <summary>A new TorchSharp nn.LSTM with this module's sizes, layers, direction count, batch_first, dropout,
    /// dtype, device and training mode, holding copies of its weights: it computes what this module computes.</summary>
    /// <exception cref="InvalidOperationException">heads &gt; 1.</exception>
    public static LSTM ToTorch(this FusedLSTM module)
    {
        ArgumentNullException.ThrowIfNull(module);
        RequireDense(module);
        var (dtype, device) = DTypeAndDevice(module);
        LSTM target = nn.LSTM(module.InputSize, module.HiddenSize, module.NumLayers, bias: true,
            batchFirst: module.BatchFirst, dropout: module.Dropout, bidirectional: module.Directions == 2,
            device: device, dtype: dtype);
        CopyInto(module, target, target.state_dict());
        return target;
    }

    /// <summary>A new TorchSharp nn.GRU built like <see cref="ToTorch(FusedLSTM)"/>.</summary>
    /// <exception cref="InvalidOperationException">heads &gt; 1.</exception>
    public static GRU ToTorch(this FusedGRU module)
    {
        ArgumentNullException.ThrowIfNull(module);
        RequireDense(module);
        var (dtype, device) = DTypeAndDevice(module);
        GRU target = nn.GRU(module.InputSize, module.HiddenSize, module.NumLayers, bias: true,
            batchFirst: module.BatchFirst, dropout: module.Dropout, bidirectional: module.Directions == 2,
            device: device, dtype: dtype);
        CopyInto(module, target, target.state_dict());
        return target;
    }

    /// <summary>Copies this module's weights into an existing nn.LSTM, which must have the same input size, hidden
    /// size, layers, directions and biases (checked through its parameter names and shapes). Its batch_first and
    /// dropout, which no weight records, stay the caller's; values are converted to its dtype and device.</summary>
    /// <exception cref="InvalidOperationException">heads &gt; 1.</exception>
    /// <exception cref="ArgumentException">The target's parameters differ in names or shapes.</exception>
    public static void ExportTo(this FusedLSTM module, LSTM target)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(target);
        RequireDense(module);
        CopyInto(module, target, target.state_dict());
    }

    /// <summary>Copies this module's weights into an existing nn.GRU; as <see cref="ExportTo(FusedLSTM, LSTM)"/>.</summary>
    public static void ExportTo(this FusedGRU module, GRU target)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(target);
        RequireDense(module);
        CopyInto(module, target, target.state_dict());
    }

    private static void RequireDense(FusedRecurrentNetwork module)
    {
        if (module.Heads != 1)
            throw new InvalidOperationException(
                $"{module.GetName()}: has heads = {module.Heads}; its recurrent matrix is block-diagonal " +
                $"({module.Heads} blocks of {module.HiddenSize / module.Heads}), which PyTorch's nn.LSTM / nn.GRU " +
                "cannot express. Only a module with heads = 1 exports to them.");
    }

    private static (ScalarType DType, Device Device) DTypeAndDevice(FusedRecurrentNetwork module)
    {
        var (weightIH, _, _, _) = module.LayerParameters(0, 0);
        return (weightIH.dtype, weightIH.device);
    }

    private static void CopyInto(FusedRecurrentNetwork module, nn.Module target,
        IDictionary<string, Tensor> targetState)
    {
        var source = module.ToTorchStateDict();
        var missing = source.Keys.Where(k => !targetState.ContainsKey(k)).ToList();
        var unexpected = targetState.Keys.Where(k => !source.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new ArgumentException(
                $"target: expected the parameters of a {module.NumLayers}-layer " +
                $"{(module.Directions == 2 ? "bidirectional " : "")}{module.Cell} with biases " +
                $"({string.Join(", ", source.Keys)}); it lacks [{string.Join(", ", missing)}] and has extra " +
                $"[{string.Join(", ", unexpected)}].", nameof(target));
        foreach (var (name, tensor) in source)
        {
            Tensor destination = targetState[name];
            if (!destination.shape.SequenceEqual(tensor.shape))
                throw new ArgumentException(
                    $"target: expected '{name}' of shape ({string.Join(", ", tensor.shape)}) (input size " +
                    $"{module.InputSize}, hidden size {module.HiddenSize}), got ({string.Join(", ", destination.shape)}).",
                    nameof(target));
        }
        using var noGrad = no_grad();
        foreach (var (name, tensor) in source) targetState[name].copy_(tensor);
        target.train(module.training);
    }
}
