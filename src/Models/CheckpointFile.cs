using System.Text.Json;

namespace HybridSeq.Models;

/// <summary>One point of a training curve: a step and a value (loss or accuracy).</summary>
public sealed record CurvePoint(int Step, double Value);

/// <summary>Everything of a training run except tensors: enough to rebuild the model, the task and the schedule.</summary>
public sealed record CheckpointMetadata(
    MambaConfig Model,
    SelectiveCopyingTask Task,
    TrainingOptions Options,
    int CompletedSteps,
    IReadOnlyList<CurvePoint> Losses,
    IReadOnlyList<CurvePoint> Accuracies);

/// <summary>
/// The checkpoint file layout (little-endian BinaryWriter): the magic string, a format version (int32), the
/// metadata as a JSON string, then the model's TorchSharp state dict, then the optimizer's TorchSharp state dict.
/// </summary>
internal static class CheckpointFile
{
    private const string Magic = "HybridSeq.MambaCheckpoint";
    private const int FormatVersion = 1;

    /// <summary>Writes a complete checkpoint to a temporary file beside <paramref name="path"/>, then renames it
    /// over <paramref name="path"/>, so readers never see a half-written file.</summary>
    public static void Write(string path, CheckpointMetadata metadata, Action<BinaryWriter> writeModel,
        Action<BinaryWriter> writeOptimizer)
    {
        string fullPath = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        string temporaryPath = fullPath + ".tmp";
        try
        {
            using (var stream = File.Create(temporaryPath))
            using (var writer = new BinaryWriter(stream))
            {
                writer.Write(Magic);
                writer.Write(FormatVersion);
                writer.Write(JsonSerializer.Serialize(metadata));
                writeModel(writer);
                writeOptimizer(writer);
            }
            File.Move(temporaryPath, fullPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporaryPath)) File.Delete(temporaryPath);
        }
    }

    /// <summary>Reads and checks the header of a checkpoint; the reader is left at the model state dict.</summary>
    public static CheckpointMetadata ReadMetadata(BinaryReader reader, string path)
    {
        string magic;
        int version;
        string json;
        try
        {
            magic = reader.ReadString();
            version = magic == Magic ? reader.ReadInt32() : 0;
            json = magic == Magic ? reader.ReadString() : "";
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            throw new InvalidDataException($"'{path}' is not a HybridSeq checkpoint: its header is truncated.", e);
        }
        if (magic != Magic)
            throw new InvalidDataException($"'{path}' is not a HybridSeq checkpoint (expected the header '{Magic}').");
        if (version != FormatVersion)
            throw new InvalidDataException(
                $"'{path}' has checkpoint format version {version}; this HybridSeq reads version {FormatVersion}.");
        return JsonSerializer.Deserialize<CheckpointMetadata>(json)
            ?? throw new InvalidDataException($"'{path}' has an empty metadata record.");
    }
}
