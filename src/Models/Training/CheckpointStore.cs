using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HybridSeq.Models.Interop;
using static TorchSharp.torch;

namespace HybridSeq.Models.Training;

/// <summary>A checkpoint read back by <see cref="CheckpointStore.Read"/>. Owns its weight tensors (CPU); dispose it,
/// or take the tensors over, when done.</summary>
public sealed class Checkpoint : IDisposable
{
    internal Checkpoint(string path, string metadataJson, IReadOnlyDictionary<string, Tensor> weights,
        IReadOnlyDictionary<string, string> weightsMetadata, IReadOnlyDictionary<string, byte[]> extras)
    {
        Path = path;
        MetadataJson = metadataJson;
        Weights = weights;
        WeightsMetadata = weightsMetadata;
        Extras = extras;
    }

    /// <summary>The full path it was read from.</summary>
    public string Path { get; }

    /// <summary>The caller's metadata record, exactly the string that was written.</summary>
    public string MetadataJson { get; }

    /// <summary>The weights by name, in the order they were written; CPU tensors with the written dtypes.</summary>
    public IReadOnlyDictionary<string, Tensor> Weights { get; }

    /// <summary>The safetensors "__metadata__" of the weights section (empty unless the writer passed some).</summary>
    public IReadOnlyDictionary<string, string> WeightsMetadata { get; }

    /// <summary>The extra sections by name, exactly the bytes that were written.</summary>
    public IReadOnlyDictionary<string, byte[]> Extras { get; }

    public void Dispose()
    {
        foreach (var tensor in Weights.Values) tensor.Dispose();
    }
}

/// <summary>
/// One file per checkpoint: the caller's metadata (a JSON string the store does not interpret), the model weights as
/// a complete safetensors file, optional opaque extra sections (e.g. the optimizer state from TorchSharp's
/// <c>optimizer.save_state_dict(BinaryWriter)</c>), and a SHA-256 over all of it, verified by every read.
/// <para>Layout, little-endian:</para>
/// <code>
/// offset   bytes  field
/// 0        8      magic "HSEQCKPT"
/// 8        4      format version (uint32) = 1
/// 12       4      section count S (uint32)
/// 16       8      total file length L in bytes, checksum included (uint64)
/// 24       ...    S sections, each: name length (uint32), name (UTF-8), payload length (uint64), payload
///                   "metadata"      the metadata JSON, UTF-8            (first, exactly once)
///                   "weights"       a safetensors file, as is           (second, exactly once)
///                   "extra:NAME"    the caller's bytes for extra NAME   (zero or more, names unique)
/// L-32     32     SHA-256 of bytes [0, L-32)
/// </code>
/// The weights section is byte for byte a safetensors file (<see cref="ExtractWeights"/> copies it out for PyTorch's
/// <c>safetensors.torch.load_file</c>). Writes are durable (<see cref="DurableFile"/>): the target path holds either
/// the previous file or the complete new one, never a part. Reads refuse a truncated, extended, corrupted or foreign
/// file with an <see cref="InvalidDataException"/> whose message names the file and the defect.
/// </summary>
public static class CheckpointStore
{
    /// <summary>The first 8 bytes of every checkpoint.</summary>
    public const string Magic = "HSEQCKPT";

    /// <summary>The layout version this code writes and reads.</summary>
    public const uint FormatVersion = 1;

    /// <summary>Prefix of the section name of an extra (the caller's name follows).</summary>
    public const string ExtraPrefix = "extra:";

    private const string MetadataSection = "metadata";
    private const string WeightsSection = "weights";
    private const int FixedHeaderBytes = 24;
    private const int ChecksumBytes = 32;
    private const int MaxSectionNameBytes = 1024;
    private static readonly byte[] MagicBytes = Encoding.ASCII.GetBytes(Magic);
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Writes a checkpoint durably. Every argument is checked before any file is created, and a failure at
    /// any point leaves neither the target changed nor a temporary file behind.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="metadataJson">The caller's record as JSON (must be well-formed; stored as is).</param>
    /// <param name="weights">Name → tensor (any device; dtypes safetensors stores: F64, F32, F16, BF16, I64, I32,
    /// I16, I8, U8, BOOL), e.g. a module's <c>state_dict()</c>.</param>
    /// <param name="extras">Optional name → bytes sections (names non-empty, at most 1018 UTF-8 bytes).</param>
    /// <param name="overwrite">false: refuse with an IOException when <paramref name="path"/> exists, leaving it
    /// untouched; true: replace it. The caller decides; the store never replaces a file unasked.</param>
    /// <param name="weightsMetadata">Optional safetensors "__metadata__" of the weights section.</param>
    public static void Write(string path, string metadataJson, IReadOnlyDictionary<string, Tensor> weights,
        IReadOnlyDictionary<string, byte[]>? extras, bool overwrite,
        IReadOnlyDictionary<string, string>? weightsMetadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(metadataJson);
        ArgumentNullException.ThrowIfNull(weights);
        byte[] metadataBytes = EncodeMetadata(metadataJson);
        var weightsLayout = SafeTensorsLayout.Plan(weights, weightsMetadata);
        var sections = new List<(byte[] Name, long Length)>
        {
            (Encoding.UTF8.GetBytes(MetadataSection), metadataBytes.Length),
            (Encoding.UTF8.GetBytes(WeightsSection), weightsLayout.TotalLength),
        };
        var extraList = (extras ?? new Dictionary<string, byte[]>()).ToList();
        foreach (var (name, bytes) in extraList)
        {
            if (string.IsNullOrEmpty(name))
                throw new ArgumentException("extras: expected non-empty names, got an empty one.", nameof(extras));
            if (bytes is null)
                throw new ArgumentException($"extras: '{name}' is null; expected its bytes.", nameof(extras));
            byte[] sectionName = EncodeName(ExtraPrefix + name, nameof(extras));
            sections.Add((sectionName, bytes.LongLength));
        }
        long totalLength = FixedHeaderBytes + sections.Sum(s => 4 + s.Name.Length + 8 + s.Length) + ChecksumBytes;

        DurableFile.Write(path, overwrite, file =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var hashed = new HashingWriteStream(file, hash))
            {
                Span<byte> fixedHeader = stackalloc byte[FixedHeaderBytes];
                MagicBytes.CopyTo(fixedHeader);
                BinaryPrimitives.WriteUInt32LittleEndian(fixedHeader[8..], FormatVersion);
                BinaryPrimitives.WriteUInt32LittleEndian(fixedHeader[12..], (uint)sections.Count);
                BinaryPrimitives.WriteUInt64LittleEndian(fixedHeader[16..], (ulong)totalLength);
                hashed.Write(fixedHeader);

                WriteSectionHeader(hashed, sections[0]);
                hashed.Write(metadataBytes);
                WriteSectionHeader(hashed, sections[1]);
                weightsLayout.WriteTo(hashed);
                for (int i = 0; i < extraList.Count; i++)
                {
                    WriteSectionHeader(hashed, sections[2 + i]);
                    hashed.Write(extraList[i].Value);
                }
                if (hashed.Written != totalLength - ChecksumBytes)
                    throw new InvalidOperationException(
                        $"checkpoint writer: planned {totalLength - ChecksumBytes} bytes before the checksum, wrote " +
                        $"{hashed.Written} (a tensor changed size while being written?).");
            }
            file.Write(hash.GetHashAndReset());
        });
    }

    /// <summary>Reads and verifies a whole checkpoint.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a HybridSeq checkpoint, truncated, corrupt (checksum mismatch), or
    /// of another format version; the message names the file.</exception>
    public static Checkpoint Read(string path)
    {
        using var opened = Open(path);
        string metadata = StrictUtf8.GetString(opened.ReadPayload(opened.Section(MetadataSection)));
        var weightsSection = opened.Section(WeightsSection);
        opened.Stream.Position = weightsSection.Offset;
        var weights = SafeTensors.Read(opened.Stream, weightsSection.Length, $"'{opened.Path}' (weights section)");
        try
        {
            var extras = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var section in opened.Sections.Where(s => s.Name.StartsWith(ExtraPrefix, StringComparison.Ordinal)))
                extras.Add(section.Name[ExtraPrefix.Length..], opened.ReadPayload(section));
            return new Checkpoint(opened.Path, metadata, weights.Tensors, weights.Metadata, extras);
        }
        catch
        {
            foreach (var tensor in weights.Tensors.Values) tensor.Dispose();
            throw;
        }
    }

    /// <summary>The metadata JSON of a checkpoint, without building tensors. Still verifies the whole file (its
    /// checksum), so a corrupt checkpoint is refused here as in <see cref="Read"/>.</summary>
    public static string ReadMetadata(string path)
    {
        using var opened = Open(path);
        return StrictUtf8.GetString(opened.ReadPayload(opened.Section(MetadataSection)));
    }

    /// <summary>Copies the weights section of a verified checkpoint to <paramref name="safetensorsPath"/>: a plain
    /// safetensors file, byte for byte what the checkpoint holds (durable write, as <see cref="Write"/>).</summary>
    public static void ExtractWeights(string checkpointPath, string safetensorsPath, bool overwrite)
    {
        using var opened = Open(checkpointPath);
        var section = opened.Section(WeightsSection);
        DurableFile.Write(safetensorsPath, overwrite, destination =>
        {
            opened.Stream.Position = section.Offset;
            CopyExactly(opened.Stream, destination, section.Length);
        });
    }

    private static byte[] EncodeMetadata(string metadataJson)
    {
        byte[] bytes;
        try
        {
            bytes = StrictUtf8.GetBytes(metadataJson);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("metadataJson: expected text that UTF-8 can encode (it holds a lone " +
                                        "surrogate).", nameof(metadataJson), e);
        }
        try
        {
            using var _ = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"metadataJson: expected well-formed JSON, got an error: {e.Message}",
                nameof(metadataJson), e);
        }
        return bytes;
    }

    private static byte[] EncodeName(string name, string argument)
    {
        byte[] bytes;
        try
        {
            bytes = StrictUtf8.GetBytes(name);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"{argument}: the name '{name}' cannot be encoded as UTF-8.", argument, e);
        }
        if (bytes.Length > MaxSectionNameBytes)
            throw new ArgumentException(
                $"{argument}: expected names of at most {MaxSectionNameBytes - ExtraPrefix.Length} UTF-8 bytes, got " +
                $"{bytes.Length - ExtraPrefix.Length} for '{name[..Math.Min(name.Length, 40)]}…'.", argument);
        return bytes;
    }

    private static void WriteSectionHeader(Stream stream, (byte[] Name, long Length) section)
    {
        Span<byte> number = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(number, (uint)section.Name.Length);
        stream.Write(number[..4]);
        stream.Write(section.Name);
        BinaryPrimitives.WriteUInt64LittleEndian(number, (ulong)section.Length);
        stream.Write(number);
    }

    private static void CopyExactly(Stream source, Stream destination, long count)
    {
        byte[] buffer = new byte[(int)Math.Min(1 << 20, Math.Max(count, 1))];
        while (count > 0)
        {
            int chunk = (int)Math.Min(buffer.Length, count);
            source.ReadExactly(buffer, 0, chunk);
            destination.Write(buffer, 0, chunk);
            count -= chunk;
        }
    }

    private sealed record SectionEntry(string Name, long Offset, long Length);

    /// <summary>An open, verified checkpoint: magic, length and checksum checked, section table parsed.</summary>
    private sealed class OpenedCheckpoint : IDisposable
    {
        public required string Path { get; init; }
        public required FileStream Stream { get; init; }
        public required IReadOnlyList<SectionEntry> Sections { get; init; }

        public SectionEntry Section(string name) => Sections.First(s => s.Name == name);

        public byte[] ReadPayload(SectionEntry section)
        {
            if (section.Length > Array.MaxLength)
                throw new InvalidDataException($"'{Path}': the section '{section.Name}' has {section.Length} bytes, " +
                                               "more than one array can hold.");
            var bytes = new byte[section.Length];
            Stream.Position = section.Offset;
            Stream.ReadExactly(bytes);
            return bytes;
        }

        public void Dispose() => Stream.Dispose();
    }

    private static OpenedCheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = System.IO.Path.GetFullPath(path);
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        try
        {
            var sections = Verify(stream, fullPath);
            return new OpenedCheckpoint { Path = fullPath, Stream = stream, Sections = sections };
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static List<SectionEntry> Verify(FileStream stream, string path)
    {
        long actualLength = stream.Length;
        const long minimumLength = FixedHeaderBytes + ChecksumBytes;
        Span<byte> fixedHeader = stackalloc byte[FixedHeaderBytes];
        int headerRead = stream.ReadAtLeast(fixedHeader, FixedHeaderBytes, throwOnEndOfStream: false);

        int magicRead = Math.Min(headerRead, MagicBytes.Length);
        if (!fixedHeader[..magicRead].SequenceEqual(MagicBytes.AsSpan(0, magicRead)) || actualLength == 0)
            throw new InvalidDataException(
                $"'{path}' is not a HybridSeq checkpoint (magic {Describe(fixedHeader[..magicRead])}, expected " +
                $"\"{Magic}\").");
        if (headerRead < FixedHeaderBytes)
            throw new InvalidDataException(
                $"'{path}' is truncated: expected at least {minimumLength} bytes, found {actualLength}.");

        ulong declaredLength = BinaryPrimitives.ReadUInt64LittleEndian(fixedHeader[16..]);
        if (declaredLength != (ulong)actualLength)
            throw new InvalidDataException((ulong)actualLength < declaredLength
                ? $"'{path}' is truncated: expected {declaredLength} bytes, found {actualLength}."
                : $"'{path}' is corrupt: its header declares {declaredLength} bytes, found {actualLength} (data " +
                  "appended, or a damaged header).");
        if (actualLength < minimumLength)
            throw new InvalidDataException(
                $"'{path}' is corrupt: it declares {declaredLength} bytes, less than the {minimumLength} of an empty " +
                "checkpoint.");

        byte[] expected = new byte[ChecksumBytes];
        stream.Position = 0;
        byte[] actual = HashPrefix(stream, actualLength - ChecksumBytes);
        stream.ReadExactly(expected);
        if (!CryptographicOperations.FixedTimeEquals(actual, expected))
            throw new InvalidDataException(
                $"'{path}' is corrupt: checksum mismatch (SHA-256 of its content is {Convert.ToHexStringLower(actual)}, " +
                $"the file records {Convert.ToHexStringLower(expected)}).");

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(fixedHeader[8..]);
        if (version != FormatVersion)
            throw new InvalidDataException(
                $"'{path}' has checkpoint format version {version}; this HybridSeq reads version {FormatVersion}.");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(fixedHeader[12..]);
        return ReadSectionTable(stream, path, count, actualLength - ChecksumBytes);
    }

    // The checksum has passed, so a defect here means a writer that broke the layout, not a damaged disk; the
    // checks keep such a file from being misread all the same.
    private static List<SectionEntry> ReadSectionTable(FileStream stream, string path, uint count, long end)
    {
        InvalidDataException Bad(string what) => new($"'{path}' has a malformed section table: {what}.");
        var sections = new List<SectionEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        long position = FixedHeaderBytes;
        Span<byte> number = stackalloc byte[8];
        for (uint i = 0; i < count; i++)
        {
            if (end - position < 4)
                throw Bad($"section {i} of {count} starts past the end of the content");
            stream.Position = position;
            stream.ReadExactly(number[..4]);
            uint nameLength = BinaryPrimitives.ReadUInt32LittleEndian(number);
            if (nameLength == 0 || nameLength > MaxSectionNameBytes || end - position - 4 < nameLength + 8)
                throw Bad($"section {i} has a name length of {nameLength} bytes");
            byte[] nameBytes = new byte[nameLength];
            stream.ReadExactly(nameBytes);
            string name;
            try
            {
                name = StrictUtf8.GetString(nameBytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException($"'{path}' has a malformed section table: section {i}'s name is not " +
                                               "UTF-8.", e);
            }
            stream.ReadExactly(number);
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(number);
            long offset = position + 4 + nameLength + 8;
            if (length > (ulong)(end - offset))
                throw Bad($"section '{name}' claims {length} bytes, only {end - offset} remain");
            string expectedName = i switch { 0 => MetadataSection, 1 => WeightsSection, _ => ExtraPrefix };
            bool nameFits = i < 2 ? name == expectedName
                : name.StartsWith(ExtraPrefix, StringComparison.Ordinal) && name.Length > ExtraPrefix.Length;
            if (!nameFits)
                throw Bad($"section {i} is '{name}', expected '{expectedName}{(i < 2 ? "" : "NAME")}'");
            if (!names.Add(name))
                throw Bad($"the section '{name}' appears twice");
            sections.Add(new SectionEntry(name, offset, (long)length));
            position = offset + (long)length;
        }
        if (count < 2)
            throw Bad($"it has {count} section(s); a checkpoint has at least '{MetadataSection}' and '{WeightsSection}'");
        if (position != end)
            throw Bad($"the sections end at byte {position}, the checksum is at {end}");
        return sections;
    }

    private static byte[] HashPrefix(Stream stream, long count)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[(int)Math.Min(1 << 20, Math.Max(count, 1))];
        while (count > 0)
        {
            int chunk = (int)Math.Min(buffer.Length, count);
            stream.ReadExactly(buffer, 0, chunk);
            hash.AppendData(buffer, 0, chunk);
            count -= chunk;
        }
        return hash.GetHashAndReset();
    }

    private static string Describe(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return "absent: the file is empty";
        string printable = new(bytes.ToArray().Select(b => b is >= 0x20 and < 0x7F ? (char)b : '.').ToArray());
        return $"\"{printable}\" (0x{Convert.ToHexString(bytes)})";
    }

    /// <summary>Forwards writes to the file and feeds them to the hash, counting bytes.</summary>
    private sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : Stream
    {
        public long Written { get; private set; }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            hash.AppendData(buffer);
            Written += buffer.Length;
        }

        public override void WriteByte(byte value) => Write([value]);
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => Written;
            set => throw new NotSupportedException();
        }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        // The file stream belongs to the caller; disposing this wrapper must not close it.
        protected override void Dispose(bool disposing) { }
    }
}
