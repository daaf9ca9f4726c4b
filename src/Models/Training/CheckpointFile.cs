using System.Text.Json;

namespace HybridSeq.Models.Training;

/// <summary>
/// The checkpoint file layout (little-endian BinaryWriter): the magic string, a format version (int32), the
/// metadata as a JSON string, then the model's TorchSharp state dict, then the optimizer's TorchSharp state dict.
/// </summary>
internal static class CheckpointFile
{
    // The magic predates the other model families; it is kept so that a checkpoint of the Mamba-only format 1 is
    // reported by its version ("format version 1; this HybridSeq reads version 2") instead of as a foreign file.
    private const string Magic = "HybridSeq.MambaCheckpoint";
    // 2: the metadata names the model family and the task and holds their configs as JSON (see CheckpointMetadata).
    private const int FormatVersion = 2;

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
