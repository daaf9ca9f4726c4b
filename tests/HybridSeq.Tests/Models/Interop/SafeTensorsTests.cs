using System.Buffers.Binary;
using System.Text;
using HybridSeq.Models.Interop;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Interop;

/// <summary>SafeTensors: the writer's bytes are exactly the format's (checked against layouts built by hand here), the
/// reader reads hand-built files, every dtype round-trips bit for bit, and malformed files are refused naming the file
/// and the defect.</summary>
[TestFixture]
public sealed class SafeTensorsTests
{
    private string folder = null!;

    [SetUp]
    public void CreateFolder()
    {
        folder = Path.Combine(Path.GetTempPath(), "hybridseq-safetensors-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    // 8-byte little-endian header length, the header padded with spaces to an 8-byte boundary, then the data.
    private static byte[] HandBuilt(string headerJson, params byte[][] data)
    {
        var header = Encoding.UTF8.GetBytes(headerJson).ToList();
        while ((8 + header.Count) % 8 != 0) header.Add((byte)' ');
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Count);
        return bytes.Concat(header).Concat(data.SelectMany(d => d)).ToArray();
    }

    private static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
    private static byte[] Longs(params long[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    [Test]
    public void WriterProducesTheFormatsExactBytes()
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["w"] = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2),
            ["i"] = tensor(new long[] { 7 }),
        };
        using var stream = new MemoryStream();
        SafeTensors.Write(stream, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        byte[] expected = HandBuilt(
            "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}," +
            "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]}}",
            Floats(1, 2, 3, 4), Longs(7));
        Assert.That(stream.ToArray(), Is.EqualTo(expected));
        Assert.That((stream.Length - 24) % 8, Is.Zero, "the data buffer starts 8-byte aligned");
    }

    [Test]
    public void ReaderReadsAHandBuiltFile()
    {
        string path = Path.Combine(folder, "hand.safetensors");
        // Unpadded header, tensors listed out of offset order, a 0-d tensor and an empty one: all valid.
        File.WriteAllBytes(path, HandBuilt(
            "{\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}," +
            "\"__metadata__\":{\"source\":\"hand\"}," +
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
            "\"e\":{\"dtype\":\"F64\",\"shape\":[0,3],\"data_offsets\":[16,16]}}",
            Floats(1.5f, -2f), Longs(42)));

        var content = SafeTensors.Load(path);
        using var scope = NewDisposeScope();
        Assert.That(content.Tensors.Keys, Is.EqualTo(new[] { "b", "a", "e" }));
        Assert.That(content.Metadata, Is.EqualTo(new Dictionary<string, string> { ["source"] = "hand" }));
        TensorAssert.Identical(content.Tensors["a"], tensor(new[] { 1.5f, -2f }), "a");
        TensorAssert.Identical(content.Tensors["b"], tensor(42L), "b");
        Assert.That(content.Tensors["e"].shape, Is.EqualTo(new long[] { 0, 3 }));
        Assert.That(content.Tensors["e"].dtype, Is.EqualTo(ScalarType.Float64));
    }

    [Test]
    public void EveryDTypeRoundTripsBitForBit()
    {
        using var scope = NewDisposeScope();
        var generator = new torch.Generator(5);
        Tensor floats = randn([3, 5], generator: generator, dtype: ScalarType.Float64);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f64"] = floats,
            ["f32"] = floats.to(ScalarType.Float32),
            ["f16"] = floats.to(ScalarType.Float16),
            ["bf16"] = floats.to(ScalarType.BFloat16),
            ["i64"] = randint(-1_000_000_000_000, 1_000_000_000_000, [4, 2], generator: generator),
            ["i32"] = randint(int.MinValue, int.MaxValue, [7], dtype: ScalarType.Int32, generator: generator),
            ["i16"] = randint(short.MinValue, short.MaxValue, [2, 2, 2], dtype: ScalarType.Int16, generator: generator),
            ["i8"] = randint(-128, 127, [9], dtype: ScalarType.Int8, generator: generator),
            ["u8"] = randint(0, 255, [9], dtype: ScalarType.Byte, generator: generator),
            ["bool"] = rand([6], generator: generator) > 0.5,
            ["scalar"] = tensor(3.25),
            ["empty"] = zeros([0, 4]),
            ["transposed view"] = floats.t(),                    // not contiguous: written as its values
            ["narrowed view"] = floats.narrow(1, 2, 3),          // a storage offset and strides
            // 1.2 MB: crosses the 1 MiB copy chunk, so chunk boundaries are exercised.
            ["large"] = randn([300_001], generator: generator),
        };
        string path = Path.Combine(folder, "all.safetensors");
        SafeTensors.Save(path, tensors);

        var content = SafeTensors.Load(path);
        Assert.That(content.Tensors.Keys, Is.EqualTo(tensors.Keys));
        Assert.That(content.Metadata, Is.Empty);
        foreach (var (name, expected) in tensors)
        {
            Tensor actual = content.Tensors[name];
            Assert.That(actual.device_type, Is.EqualTo(DeviceType.CPU), name);
            TensorAssert.Identical(actual, expected, name);
        }
    }

    [Test]
    public void AnUnsupportedDTypeIsRefusedBeforeAnyFileExists()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(folder, "complex.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["fine"] = ones(3),
            ["complex"] = zeros([2], dtype: ScalarType.ComplexFloat32),
        };
        var error = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, tensors))!;
        Assert.That(error.Message, Does.Contain("'complex'").And.Contain("ComplexFloat32"));
        Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty, "no file and no temporary file");
    }

    [Test]
    public void AnExistingFileIsKeptUnlessOverwriteIsAsked()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(folder, "kept.safetensors");
        File.WriteAllText(path, "someone else's file");
        var tensors = new Dictionary<string, Tensor> { ["x"] = ones(2) };
        var error = Assert.Throws<IOException>(() => SafeTensors.Save(path, tensors))!;
        Assert.That(error.Message, Does.Contain(path).And.Contain("overwrite"));
        Assert.That(File.ReadAllText(path), Is.EqualTo("someone else's file"));

        SafeTensors.Save(path, tensors, overwrite: true);
        TensorAssert.Identical(SafeTensors.Load(path).Tensors["x"], ones(2), "replaced");
        Assert.That(Directory.GetFileSystemEntries(folder), Has.Length.EqualTo(1), "no temporary file left");
    }

    public static IEnumerable<TestCaseData> MalformedFiles()
    {
        byte[] two = Floats(1, 2);
        TestCaseData Case(string name, byte[] bytes, string expected) =>
            new TestCaseData(bytes, expected).SetName($"Malformed_{name}");

        yield return Case("ShorterThanTheLengthField", [1, 2, 3], "is truncated: a safetensors file starts with an 8-byte");
        yield return Case("HeaderPastTheEnd", HandBuilt("{}").Take(8).Concat(new byte[] { (byte)'{' }).ToArray()
            .Select((b, i) => i == 0 ? (byte)200 : b).ToArray(), "is truncated: its safetensors header is 200 bytes");
        yield return Case("HugeHeaderLength", BitConverter.GetBytes(ulong.MaxValue - 3), "more than the 100000000");
        yield return Case("NotAnObject", HandBuilt("[1, 2]"), "beginning with '{'");
        yield return Case("NotJson", HandBuilt("{\"a\": "), "not valid JSON");
        yield return Case("NotUtf8", HandBuilt("{\"\u00ff\":1}").Select(b => b == 0xC3 ? (byte)0xFF : b).ToArray(),
            "not valid UTF-8");
        yield return Case("UnknownDType",
            HandBuilt("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", [1, 2]),
            "'a' has dtype \"F8_E4M3\"");
        yield return Case("OffsetsDisagreeWithShape",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", two), "needs 12 bytes");
        yield return Case("Hole",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}," +
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", Floats(1, 2, 3)),
            "'b' begins at byte 8 of the data buffer, expected 4");
        yield return Case("Overlap",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two),
            "'b' begins at byte 4 of the data buffer, expected 8");
        yield return Case("TrailingBytes",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", two, [9]),
            "has 9 bytes but its tensors cover 8");
        yield return Case("TruncatedData",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", Floats(1)),
            "is truncated: its tensors need a data buffer of 8 bytes, found 4");
        yield return Case("DuplicateName",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}," +
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two), "'a' appears twice");
        yield return Case("MetadataNotStrings", HandBuilt("{\"__metadata__\":{\"n\":1}}"), "values must be strings");
        yield return Case("NegativeShape",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}"), "non-negative integers");
        yield return Case("ThreeOffsets",
            HandBuilt("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", two), "an array of 2");
    }

    [TestCaseSource(nameof(MalformedFiles))]
    public void MalformedFilesAreRefusedNamingFileAndDefect(byte[] bytes, string expected)
    {
        string path = Path.Combine(folder, "bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path))!;
        Assert.That(error.Message, Does.Contain(path));
        Assert.That(error.Message, Does.Contain(expected));
    }
}
