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
/// Writes and reads the checkpoint of a training run: the one place that knows the byte format (today
/// <see cref="CheckpointFile"/>: metadata JSON, then TorchSharp state dicts of the model and the optimizer), so the
/// format can change without touching the trainer or the CLI.
/// </summary>
public static class RunCheckpoint
{
    /// <summary>The checkpoint's file name inside a run's output folder.</summary>
    public const string FileName = "model.ckpt";

    /// <summary>The checkpoint path of the run folder <paramref name="directory"/>.</summary>
    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>Writes metadata, model weights and optimizer state (through a temporary file: an interrupted save
    /// never leaves a truncated checkpoint).</summary>
    public static void Save(string path, CheckpointMetadata metadata, nn.Module model, OptimizerHelper optimizer) =>
        CheckpointFile.Write(path, metadata, writer => model.save(writer), writer => optimizer.save_state_dict(writer));

    /// <summary>Reads and checks the metadata only.</summary>
    public static CheckpointMetadata ReadMetadata(string path)
    {
        using var stream = OpenExisting(path);
        using var reader = new BinaryReader(stream);
        return ReadHeader(reader, path);
    }

    /// <summary>The model alone (no trainer, no optimizer) on <paramref name="device"/>, in evaluation mode, with
    /// the metadata it was saved with.</summary>
    public static (CheckpointMetadata Metadata, LanguageModel Model) LoadModel(string path, Device device)
    {
        using var stream = OpenExisting(path);
        using var reader = new BinaryReader(stream);
        var metadata = ReadHeader(reader, path);
        var model = ModelFamilies.Create(metadata.ReadModelConfig());
        try
        {
            model.load(reader, strict: true);
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
        using var stream = OpenExisting(path);
        using var reader = new BinaryReader(stream);
        var metadata = ReadHeader(reader, path);
        model.load(reader, strict: true);
        optimizer.load_state_dict(reader);
        return metadata;
    }

    private static FileStream OpenExisting(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"No checkpoint at '{path}'.", path);
        return File.OpenRead(path);
    }

    private static CheckpointMetadata ReadHeader(BinaryReader reader, string path)
    {
        var metadata = CheckpointFile.ReadMetadata(reader, path);
        if (metadata.Options is null || metadata.Losses is null || metadata.Accuracies is null || metadata.ModelFamily is null
            || metadata.TaskName is null)
            throw new InvalidDataException($"'{path}' has an incomplete metadata record.");
        return metadata with { LengthAccuracies = metadata.LengthAccuracies ?? [] };
    }
}
