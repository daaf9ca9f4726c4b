using System.Text;
using System.Text.Json;
using HybridSeq.Models.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models.Training;

/// <summary>One point of a training curve: a step and a value (loss or accuracy).</summary>
public sealed record CurvePoint(int Step, double Value);

/// <summary>
/// Everything of a training run except tensors: which model (family + config) and task (name + config), the
/// options, the step reached, the curves and the final evaluation per length. Enough to rebuild the model alone
/// (eval, generate) or the whole trainer (resume).
/// </summary>
public sealed record CheckpointMetadata(
    string ModelFamily,
    JsonElement ModelConfig,
    string TaskName,
    JsonElement TaskConfig,
    TrainingOptions Options,
    int CompletedSteps,
    IReadOnlyList<CurvePoint> Losses,
    IReadOnlyList<CurvePoint> Accuracies,
    IReadOnlyList<LengthAccuracy> LengthAccuracies)
{
    /// <summary>The model config, read by its family's record type and validated.</summary>
    public IModelConfig ReadModelConfig() => ModelFamilies.FromJson(ModelFamily, ModelConfig);

    /// <summary>The task, read by its record type and validated.</summary>
    public ISequenceTask ReadTask() => TaskRegistry.FromJson(TaskName, TaskConfig);
}

/// <summary>
/// Writes and reads the checkpoint of a training run: the one place that knows the byte format (a
/// <see cref="CheckpointStore"/> file: the metadata record as JSON, the model's state dict as the safetensors weights
/// section, the optimizer's TorchSharp state dict as the extra section "optimizer", and a SHA-256 that every read
/// verifies), so the format can change without touching the trainer or the CLI.
/// </summary>
public static class RunCheckpoint
{
    /// <summary>The checkpoint's file name inside a run's output folder.</summary>
    public const string FileName = "model.ckpt";

    /// <summary>The name of the extra section that holds the optimizer state.</summary>
    public const string OptimizerExtra = "optimizer";

    /// <summary>The checkpoint path of the run folder <paramref name="directory"/>.</summary>
    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>Writes metadata, model weights and optimizer state durably (<see cref="DurableFile"/>: an
    /// interrupted save leaves the previous checkpoint or none, never a part). Replaces an existing file: whether a
    /// run may replace one is decided before training starts (the CLI refuses unless --resume or --overwrite), and a
    /// run rewrites its own checkpoint at every evaluation.</summary>
    public static void Save(string path, CheckpointMetadata metadata, nn.Module model, OptimizerHelper optimizer)
    {
        string json = JsonSerializer.Serialize(metadata);
        byte[] optimizerState;
        using (var buffer = new MemoryStream())
        {
            using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
                optimizer.save_state_dict(writer);
            optimizerState = buffer.ToArray();
        }
        using var scope = NewDisposeScope();
        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in model.state_dict())
            weights.Add(name, tensor.detach().cpu());
        CheckpointStore.Write(path, json, weights, new Dictionary<string, byte[]> { [OptimizerExtra] = optimizerState },
            overwrite: true);
    }

    /// <summary>Reads and checks the metadata only (the whole file is still verified against its checksum).</summary>
    public static CheckpointMetadata ReadMetadata(string path)
    {
        RequireFile(path);
        return ParseMetadata(CheckpointStore.ReadMetadata(path), path);
    }

    /// <summary>The model alone (no trainer, no optimizer) on <paramref name="device"/>, in evaluation mode, with
    /// the metadata it was saved with.</summary>
    public static (CheckpointMetadata Metadata, LanguageModel Model) LoadModel(string path, Device device)
    {
        RequireFile(path);
        using var checkpoint = CheckpointStore.Read(path);
        var metadata = ParseMetadata(checkpoint.MetadataJson, path);
        var model = ModelFamilies.Create(metadata.ReadModelConfig());
        try
        {
            LoadWeights(checkpoint, model);
            model.to(device);
            model.eval();
            return (metadata, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads the weights into <paramref name="model"/> and the optimizer state into
    /// <paramref name="optimizer"/> (both built from this checkpoint's metadata); returns the metadata.</summary>
    public static CheckpointMetadata LoadInto(string path, nn.Module model, OptimizerHelper optimizer)
    {
        RequireFile(path);
        using var checkpoint = CheckpointStore.Read(path);
        var metadata = ParseMetadata(checkpoint.MetadataJson, path);
        if (!checkpoint.Extras.TryGetValue(OptimizerExtra, out byte[]? optimizerState))
            throw new InvalidDataException(
                $"'{checkpoint.Path}' has no optimizer state (no extra section '{OptimizerExtra}'); it cannot resume a run.");
        LoadWeights(checkpoint, model);
        using var reader = new BinaryReader(new MemoryStream(optimizerState, writable: false));
        optimizer.load_state_dict(reader);
        if (reader.BaseStream.Position != reader.BaseStream.Length)
            throw new InvalidDataException(
                $"'{checkpoint.Path}': the optimizer state has {reader.BaseStream.Length - reader.BaseStream.Position} " +
                $"bytes left over after the optimizer read its {reader.BaseStream.Position}; it belongs to another optimizer.");
        return metadata;
    }

    // The header of the earlier format (BinaryWriter strings: a length byte, then the text), recognised only to say
    // what the file is: that format is not read any more.
    private const string EarlierMagic = "HybridSeq.MambaCheckpoint";

    private static void RequireFile(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"No checkpoint at '{path}'.", path);
        byte[] expected = [(byte)EarlierMagic.Length, .. Encoding.ASCII.GetBytes(EarlierMagic)];
        byte[] start = new byte[expected.Length];
        using (var stream = File.OpenRead(path))
        {
            if (stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false) < start.Length) return;
        }
        if (start.AsSpan().SequenceEqual(expected))
            throw new InvalidDataException(
                $"'{Path.GetFullPath(path)}' is a checkpoint of an earlier HybridSeq format ('{EarlierMagic}', without a " +
                $"checksum), which this HybridSeq no longer reads; train the run again.");
    }

    /// <summary>Copies the checkpoint's weights into <paramref name="model"/>'s state dict, strictly: every entry
    /// present with the same shape and dtype, no extra ones; checked completely before anything is copied.</summary>
    private static void LoadWeights(Checkpoint checkpoint, nn.Module model)
    {
        var targets = model.state_dict();
        foreach (var (name, target) in targets)
        {
            if (!checkpoint.Weights.TryGetValue(name, out var source))
                throw new InvalidDataException(
                    $"'{checkpoint.Path}' has no weight '{name}' (expected {Describe(target)}) for this {model.GetType().Name}.");
            if (source.dtype != target.dtype || !source.shape.SequenceEqual(target.shape))
                throw new InvalidDataException(
                    $"'{checkpoint.Path}': the weight '{name}' is {Describe(source)}; this {model.GetType().Name} expects " +
                    $"{Describe(target)}.");
        }
        var unexpected = checkpoint.Weights.Keys.Where(name => !targets.ContainsKey(name)).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException(
                $"'{checkpoint.Path}' has weights this {model.GetType().Name} does not: " +
                $"{string.Join(", ", unexpected.Select(n => $"'{n}'"))}.");
        using var noGrad = no_grad();
        foreach (var (name, target) in targets)
            target.copy_(checkpoint.Weights[name]);
    }

    private static string Describe(Tensor tensor) => $"{tensor.dtype} [{string.Join(", ", tensor.shape)}]";

    private static CheckpointMetadata ParseMetadata(string json, string path)
    {
        CheckpointMetadata? metadata;
        try
        {
            metadata = JsonSerializer.Deserialize<CheckpointMetadata>(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' has a metadata record that is not a training run's: {e.Message}", e);
        }
        if (metadata is null)
            throw new InvalidDataException($"'{path}' has an empty metadata record.");
        if (metadata.Options is null || metadata.Losses is null || metadata.Accuracies is null || metadata.ModelFamily is null
            || metadata.TaskName is null)
            throw new InvalidDataException($"'{path}' has an incomplete metadata record.");
        return metadata with { LengthAccuracies = metadata.LengthAccuracies ?? [] };
    }
}
