using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using HybridSeq.Models.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.Interop;

/// <summary>The tensors and the string metadata of one safetensors file.</summary>
/// <param name="Tensors">By name, in the file's header order; CPU tensors the caller owns.</param>
/// <param name="Metadata">The header's optional "__metadata__" map (empty when absent).</param>
public sealed record SafeTensorsContent(IReadOnlyDictionary<string, Tensor> Tensors,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Reader and writer of the safetensors format, which PyTorch reads with <c>safetensors.torch.load_file</c>:
/// <list type="bullet">
/// <item>8 bytes: N, the header's length, unsigned 64-bit little-endian;</item>
/// <item>N bytes: the header, a UTF-8 JSON object beginning with '{' (may be padded with trailing spaces): for each
/// tensor name, <c>{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}</c>, and optionally
/// <c>"__metadata__"</c>, a map of strings to strings;</item>
/// <item>the data buffer: each tensor's elements row-major, little-endian, at [begin, end) relative to the buffer's
/// start; the tensors cover the buffer exactly, without holes or overlaps.</item>
/// </list>
/// The writer pads the header with spaces so the buffer starts 8-byte aligned (as the reference writer does) and lays
/// the tensors out in the dictionary's order. The reader refuses anything the reference reader refuses (a header over
/// 100 MB, offsets that leave holes, overlap or do not match dtype and shape, a buffer longer or shorter than the
/// tensors) with an <see cref="InvalidDataException"/> naming the file and the defect.
/// dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL (the ones TorchSharp holds).
/// </summary>
public static class SafeTensors
{
    /// <summary>The header key of the string→string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Largest header the reference implementation accepts (and so this reader).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    // Tensors are copied through this many bytes at a time, so a tensor of any size needs only this much extra memory.
    private const long ChunkBytes = 1 << 20;

    /// <summary>Writes a safetensors file durably (see <see cref="DurableFile"/>). Every argument is checked before
    /// any file is created, so a refused call leaves nothing behind.</summary>
    /// <param name="path">The target file.</param>
    /// <param name="tensors">Name → tensor, any device and layout (written from a contiguous CPU copy).</param>
    /// <param name="metadata">Optional "__metadata__" map; e.g. <c>{"format": "pt"}</c>, which Hugging Face loaders
    /// look for.</param>
    /// <param name="overwrite">false: refuse when <paramref name="path"/> exists.</param>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, bool overwrite = false)
    {
        var layout = SafeTensorsLayout.Plan(tensors, metadata);
        DurableFile.Write(path, overwrite, layout.WriteTo);
    }

    /// <summary>Writes the safetensors bytes of <paramref name="tensors"/> to <paramref name="destination"/> at its
    /// current position. Arguments as <see cref="Save"/>.</summary>
    public static void Write(Stream destination, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        SafeTensorsLayout.Plan(tensors, metadata).WriteTo(destination);
    }

    /// <summary>Reads a whole safetensors file into CPU tensors.</summary>
    /// <exception cref="InvalidDataException">The file is not valid safetensors; the message names it and the
    /// defect.</exception>
    public static SafeTensorsContent Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Read(stream, stream.Length, $"'{fullPath}'");
    }

    /// <summary>Reads safetensors bytes from <paramref name="source"/>: the <paramref name="length"/> bytes from its
    /// current position (a seekable stream).</summary>
    /// <param name="source">A readable, seekable stream.</param>
    /// <param name="length">How many bytes from the current position belong to the safetensors data.</param>
    /// <param name="sourceName">How error messages name the data (e.g. the file name in quotes).</param>
    public static SafeTensorsContent Read(Stream source, long length, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (!source.CanRead || !source.CanSeek)
            throw new ArgumentException("source: expected a readable, seekable stream.", nameof(source));
        if (length < 0 || length > source.Length - source.Position)
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"expected at most the {source.Length - source.Position} bytes left in the stream.");
        RequireLittleEndian();

        long start = source.Position;
        if (length < 8)
            throw new InvalidDataException($"{sourceName} is truncated: a safetensors file starts with an 8-byte " +
                                           $"header length, found {length} bytes.");
        Span<byte> lengthBytes = stackalloc byte[8];
        source.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
            throw new InvalidDataException($"{sourceName}: the safetensors header length is {headerLength} bytes, " +
                                           $"more than the {MaxHeaderBytes} the format allows (not a safetensors file?).");
        if ((long)headerLength > length - 8)
            throw new InvalidDataException($"{sourceName} is truncated: its safetensors header is {headerLength} " +
                                           $"bytes but only {length - 8} bytes follow the length field.");
        byte[] header = new byte[headerLength];
        source.ReadExactly(header);
        long bufferLength = length - 8 - (long)headerLength;
        var entries = ParseHeader(header, bufferLength, sourceName, out var metadata);

        long bufferStart = start + 8 + (long)headerLength;
        var tensors = new Dictionary<string, Tensor>(entries.Count);
        try
        {
            byte[] chunk = new byte[Math.Min(ChunkBytes, Math.Max(bufferLength, 1))];
            foreach (var entry in entries)
            {
                source.Position = bufferStart + entry.Begin;
                tensors.Add(entry.Name, ReadTensor(source, entry, chunk));
            }
        }
        catch
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
            throw;
        }
        source.Position = start + length;
        return new SafeTensorsContent(tensors, metadata);
    }

    /// <summary>The safetensors dtype name of <paramref name="dtype"/>.</summary>
    /// <exception cref="ArgumentException">The format has no such dtype (e.g. complex).</exception>
    public static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new ArgumentException(
            $"dtype: expected one safetensors stores (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL), got {dtype}.",
            nameof(dtype)),
    };

    internal static bool TryParseDType(string name, out ScalarType dtype, out int elementSize)
    {
        (dtype, elementSize) = name switch
        {
            "F64" => (ScalarType.Float64, 8),
            "F32" => (ScalarType.Float32, 4),
            "F16" => (ScalarType.Float16, 2),
            "BF16" => (ScalarType.BFloat16, 2),
            "I64" => (ScalarType.Int64, 8),
            "I32" => (ScalarType.Int32, 4),
            "I16" => (ScalarType.Int16, 2),
            "I8" => (ScalarType.Int8, 1),
            "U8" => (ScalarType.Byte, 1),
            "BOOL" => (ScalarType.Bool, 1),
            _ => (ScalarType.Float32, 0),
        };
        return elementSize != 0;
    }

    internal static void RequireLittleEndian()
    {
        // safetensors is little-endian and tensors are copied byte for byte.
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O needs a little-endian machine.");
    }

    internal static void WriteTensor(Stream destination, Tensor tensor)
    {
        using var scope = NewDisposeScope();
        Tensor flat = tensor.detach().cpu().contiguous().reshape(-1);
        long count = flat.numel();
        long chunkElements = Math.Max(1, ChunkBytes / flat.element_size());
        for (long first = 0; first < count; first += chunkElements)
        {
            // A fresh contiguous copy per chunk: its bytes start at its own first element.
            using Tensor part = flat.narrow(0, first, Math.Min(chunkElements, count - first)).clone();
            destination.Write(part.bytes);
        }
    }

    private static Tensor ReadTensor(Stream source, HeaderEntry entry, byte[] chunk)
    {
        Tensor tensor = empty(entry.Shape, entry.DType);
        try
        {
            using Tensor flat = tensor.view(-1);
            long count = flat.numel();
            long chunkElements = Math.Max(1, chunk.Length / entry.ElementSize);
            for (long first = 0; first < count; first += chunkElements)
            {
                long elements = Math.Min(chunkElements, count - first);
                Span<byte> bytes = chunk.AsSpan(0, checked((int)(elements * entry.ElementSize)));
                source.ReadExactly(bytes);
                using Tensor part = empty([elements], entry.DType);
                part.bytes = bytes;
                flat.narrow(0, first, elements).copy_(part);
            }
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    internal sealed record HeaderEntry(string Name, ScalarType DType, int ElementSize, long[] Shape, long Begin,
        long End);

    private static List<HeaderEntry> ParseHeader(byte[] header, long bufferLength, string sourceName,
        out IReadOnlyDictionary<string, string> metadata)
    {
        string Fail(string what) => $"{sourceName}: invalid safetensors header: {what}.";

        if (header.Length == 0 || header[0] != (byte)'{')
            throw new InvalidDataException(Fail("it must be a JSON object beginning with '{'" +
                                                (header.Length == 0 ? ", found an empty header" :
                                                    $", found the byte 0x{header[0]:X2} first")));
        try
        {
            _ = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetCharCount(header);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException(Fail("it is not valid UTF-8"), e);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(Fail($"it is not valid JSON ({e.Message})"), e);
        }
        using (document)
        {
            var entries = new List<HeaderEntry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            var metadataMap = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (sawMetadata)
                        throw new InvalidDataException(Fail($"'{MetadataKey}' appears twice"));
                    sawMetadata = true;
                    ParseMetadata(property.Value, metadataMap, Fail);
                    continue;
                }
                if (!names.Add(property.Name))
                    throw new InvalidDataException(Fail($"the tensor '{property.Name}' appears twice"));
                entries.Add(ParseEntry(property.Name, property.Value, Fail));
            }
            CheckCoverage(entries, bufferLength, sourceName);
            metadata = metadataMap;
            return entries;
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> into, Func<string, string> fail)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException(fail($"'{MetadataKey}' must be an object of strings, found {value.ValueKind}"));
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new InvalidDataException(
                    fail($"'{MetadataKey}' values must be strings, found {item.Value.ValueKind} for '{item.Name}'"));
            if (!into.TryAdd(item.Name, item.Value.GetString()!))
                throw new InvalidDataException(fail($"the metadata key '{item.Name}' appears twice"));
        }
    }

    private static HeaderEntry ParseEntry(string name, JsonElement value, Func<string, string> fail)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException(fail($"the entry of '{name}' must be an object, found {value.ValueKind}"));
        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new InvalidDataException(fail($"'{name}' has no string \"dtype\""));
        string dtypeName = dtypeElement.GetString()!;
        if (!TryParseDType(dtypeName, out ScalarType dtype, out int elementSize))
            throw new InvalidDataException(fail(
                $"'{name}' has dtype \"{dtypeName}\"; readable are F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"));
        long[] shape = ReadIntegers(value, "shape", name, fail, expectedCount: null);
        long[] offsets = ReadIntegers(value, "data_offsets", name, fail, expectedCount: 2);
        if (offsets[0] > offsets[1])
            throw new InvalidDataException(fail($"'{name}' has data_offsets [{offsets[0]}, {offsets[1]}] that end " +
                                                "before they begin"));
        long bytes;
        try
        {
            bytes = shape.Aggregate((long)elementSize, (product, dimension) => checked(product * dimension));
        }
        catch (OverflowException e)
        {
            throw new InvalidDataException(fail($"'{name}' has a shape [{string.Join(", ", shape)}] too large to hold"), e);
        }
        if (offsets[1] - offsets[0] != bytes)
            throw new InvalidDataException(fail(
                $"'{name}' ({dtypeName}, shape [{string.Join(", ", shape)}]) needs {bytes} bytes, but its data_offsets " +
                $"[{offsets[0]}, {offsets[1]}] span {offsets[1] - offsets[0]}"));
        return new HeaderEntry(name, dtype, elementSize, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegers(JsonElement entry, string field, string name, Func<string, string> fail,
        int? expectedCount)
    {
        string expected = expectedCount is int count ? $"an array of {count} non-negative integers"
            : "an array of non-negative integers";
        if (!entry.TryGetProperty(field, out JsonElement array) || array.ValueKind != JsonValueKind.Array ||
            (expectedCount is int n && array.GetArrayLength() != n))
            throw new InvalidDataException(fail($"'{name}' must have \"{field}\": {expected}"));
        var values = new long[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value) || value < 0)
                throw new InvalidDataException(fail($"'{name}' must have \"{field}\": {expected}, found {item}"));
            values[i++] = value;
        }
        return values;
    }

    // The reference reader requires the tensors to tile the buffer: sorted by offset, each begins where the previous
    // ends, the first at 0 and the last at the buffer's end.
    private static void CheckCoverage(List<HeaderEntry> entries, long bufferLength, string sourceName)
    {
        long covered = 0;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin != covered)
                throw new InvalidDataException(
                    $"{sourceName}: invalid safetensors header: '{entry.Name}' begins at byte {entry.Begin} of the " +
                    $"data buffer, expected {covered} (tensors must follow each other without holes or overlaps).");
            covered = entry.End;
        }
        if (covered < bufferLength)
            throw new InvalidDataException($"{sourceName}: the safetensors data buffer has {bufferLength} bytes but " +
                                           $"its tensors cover {covered} (trailing bytes or a corrupt header).");
        if (covered > bufferLength)
            throw new InvalidDataException($"{sourceName} is truncated: its tensors need a data buffer of {covered} " +
                                           $"bytes, found {bufferLength}.");
    }
}

/// <summary>The planned bytes of one safetensors file: the header is built (and every tensor checked) before
/// anything is written, so the total size is known up front and a refused tensor writes nothing.</summary>
internal sealed class SafeTensorsLayout
{
    private readonly byte[] header;
    private readonly IReadOnlyList<KeyValuePair<string, Tensor>> tensors;

    private SafeTensorsLayout(byte[] header, IReadOnlyList<KeyValuePair<string, Tensor>> tensors, long dataLength)
    {
        this.header = header;
        this.tensors = tensors;
        TotalLength = 8 + header.Length + dataLength;
    }

    /// <summary>Bytes of the whole file.</summary>
    public long TotalLength { get; }

    public static SafeTensorsLayout Plan(IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        SafeTensors.RequireLittleEndian();
        var ordered = tensors.ToList();
        var buffer = new MemoryStream();
        long offset = 0;
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions
               {
                   Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
               }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafeTensors.MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    if (key is null || value is null)
                        throw new ArgumentException("metadata: expected non-null keys and values.", nameof(metadata));
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            foreach (var (name, tensor) in ordered)
            {
                if (string.IsNullOrEmpty(name) || name == SafeTensors.MetadataKey)
                    throw new ArgumentException(
                        $"tensors: expected non-empty names other than '{SafeTensors.MetadataKey}', got '{name}'.",
                        nameof(tensors));
                if (tensor is null || tensor.IsInvalid)
                    throw new ArgumentException($"tensors: '{name}' is null or disposed.", nameof(tensors));
                string dtype;
                try
                {
                    dtype = SafeTensors.DTypeName(tensor.dtype);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"tensors: '{name}' has dtype {tensor.dtype}, which safetensors " +
                                                "cannot store (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL).",
                        nameof(tensors), e);
                }
                long bytes = tensor.numel() * tensor.element_size();
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype);
                json.WriteStartArray("shape");
                foreach (long dimension in tensor.shape) json.WriteNumberValue(dimension);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        // Spaces after the JSON so that the data buffer starts at a multiple of 8 bytes into the file.
        while ((8 + buffer.Length) % 8 != 0) buffer.WriteByte((byte)' ');
        return new SafeTensorsLayout(buffer.ToArray(), ordered, offset);
    }

    public void WriteTo(Stream destination)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)header.Length);
        destination.Write(lengthBytes);
        destination.Write(header);
        foreach (var (_, tensor) in tensors) SafeTensors.WriteTensor(destination, tensor);
    }
}
