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
/// Everything of a training run except tensors: the metadata version, which model (family + config) and task (name,
/// kind + config, metric names), the options, the step reached, the curves and the final evaluation per size.
/// Enough to rebuild the model alone (eval, generate) or the whole trainer (resume).
/// </summary>
/// <param name="Version">The metadata layout: <see cref="CurrentVersion"/>; version 1 (before the task contract,
/// no Version field) is refused by name.</param>
/// <param name="ModelFamily">The model's family name.</param>
/// <param name="ModelConfig">The model's config record (its family's type).</param>
/// <param name="TaskName">The task's registry name.</param>
/// <param name="TaskKind">The task's <see cref="ITask.Kind"/> when it was saved (checked against the task read back).</param>
/// <param name="TaskConfig">The task's config record.</param>
/// <param name="MetricNames">The task's metric names, in order (the first is the one in Accuracies).</param>
/// <param name="Options">The training options.</param>
/// <param name="CompletedSteps">Optimizer steps taken.</param>
/// <param name="Losses">The training loss after every step.</param>
/// <param name="Accuracies">The primary held-out metric after every evaluation.</param>
/// <param name="LengthAccuracies">The last evaluation at every size of the task, every metric.</param>
public sealed record CheckpointMetadata(
    int Version,
    string ModelFamily,
    JsonElement ModelConfig,
    string TaskName,
    string TaskKind,
    JsonElement TaskConfig,
    IReadOnlyList<string> MetricNames,
    TrainingOptions Options,
    int CompletedSteps,
    IReadOnlyList<CurvePoint> Losses,
    IReadOnlyList<CurvePoint> Accuracies,
    IReadOnlyList<EvaluationResult> LengthAccuracies)
{
    /// <summary>The metadata version this code writes and reads: 2 (task kind and metric names, per-size
    /// evaluations of every metric).</summary>
    public const int CurrentVersion = 2;

    /// <summary>The model config, read by its family's record type and validated.</summary>
    public IModelConfig ReadModelConfig() => ModelFamilies.FromJson(ModelFamily, ModelConfig);

    /// <summary>The task, read by its record type and validated; its kind and metrics must be those saved.</summary>
    public ITask ReadTask()
    {
        var task = TaskRegistry.FromJson(TaskName, TaskConfig);
        if (task.Kind != TaskKind)
            throw new InvalidDataException(
                $"The checkpoint's task {TaskName} was saved as kind '{TaskKind}'; this HybridSeq's {TaskName} is kind '{task.Kind}'.");
        var names = task.Metrics.Select(m => m.Name).ToList();
        if (!names.SequenceEqual(MetricNames))
            throw new InvalidDataException(
                $"The checkpoint's task {TaskName} was saved with metrics {string.Join(", ", MetricNames)}; this HybridSeq's has {string.Join(", ", names)}.");
        return task;
    }
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

    // NaN stands for a metric with nothing counted; JSON has no literal for it otherwise.
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The checkpoint path of the run folder <paramref name="directory"/>.</summary>
    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>Writes metadata, model weights and optimizer state durably (<see cref="DurableFile"/>: an
    /// interrupted save leaves the previous checkpoint or none, never a part). Replaces an existing file: whether a
    /// run may replace one is decided before training starts (the CLI refuses unless --resume or --overwrite), and a
    /// run rewrites its own checkpoint at every evaluation.</summary>
    public static void Save(string path, CheckpointMetadata metadata, nn.Module model, OptimizerHelper optimizer)
    {
        string json = JsonSerializer.Serialize(metadata, JsonOptions);
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
    public static (CheckpointMetadata Metadata, TaskModel Model) LoadModel(string path, Device device)
    {
        RequireFile(path);
        using var checkpoint = CheckpointStore.Read(path);
        var metadata = ParseMetadata(checkpoint.MetadataJson, path);
        var model = ModelFamilies.Build(metadata.ReadModelConfig());
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
            using (var document = JsonDocument.Parse(json))
            {
                // Version 1 (before the task contract) had no Version field.
                int version = document.RootElement.ValueKind == JsonValueKind.Object &&
                              document.RootElement.TryGetProperty(nameof(CheckpointMetadata.Version), out var field) &&
                              field.TryGetInt32(out int value) ? value : 1;
                if (version != CheckpointMetadata.CurrentVersion)
                    throw new InvalidDataException(
                        $"'{path}' has training metadata of version {version}" +
                        (version == 1 ? " (written before tasks of every kind, without task kind and metric names)" : "") +
                        $"; this HybridSeq reads version {CheckpointMetadata.CurrentVersion} only. Train the run again.");
            }
            metadata = JsonSerializer.Deserialize<CheckpointMetadata>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' has a metadata record that is not a training run's: {e.Message}", e);
        }
        if (metadata is null)
            throw new InvalidDataException($"'{path}' has an empty metadata record.");
        if (metadata.Options is null || metadata.Losses is null || metadata.Accuracies is null || metadata.ModelFamily is null
            || metadata.TaskName is null || metadata.TaskKind is null || metadata.MetricNames is null)
            throw new InvalidDataException($"'{path}' has an incomplete metadata record.");
        return metadata with { LengthAccuracies = metadata.LengthAccuracies ?? [] };
    }
}
