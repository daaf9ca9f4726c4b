using System.Text;
using HybridSeq.Models.Interop;
using HybridSeq.Models.Training;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Models.Training;

/// <summary>CheckpointStore: a bitwise round trip of metadata, weights and extras; any flipped byte, truncation or
/// appended byte is refused naming the file; foreign files are refused by their magic; an existing file is never
/// replaced unasked; a failed write leaves neither a file nor a temporary file.</summary>
[TestFixture]
public sealed class CheckpointStoreTests
{
    private const string MetadataJson = "{\"model\":{\"family\":\"mamba\",\"layers\":2},\"step\":1234,\"note\":\"π ≈ 3.14\"}";
    private static readonly byte[] OptimizerBytes = Enumerable.Range(0, 300).Select(i => (byte)(i * 7)).ToArray();
    private string folder = null!;

    [SetUp]
    public void CreateFolder()
    {
        folder = Path.Combine(Path.GetTempPath(), "hybridseq-checkpoint-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    private static Dictionary<string, Tensor> Weights()
    {
        var generator = new torch.Generator(11);
        return new Dictionary<string, Tensor>
        {
            ["embedding.weight"] = randn([6, 4], generator: generator),
            ["layers.0.mixer.A_log"] = randn([3, 2], generator: generator, dtype: ScalarType.Float64),
            ["step_counter"] = tensor(new long[] { 5, -9 }),
        };
    }

    private static Dictionary<string, byte[]> Extras() => new()
    {
        ["optimizer"] = OptimizerBytes,
        ["empty"] = [],
    };

    private string WriteSample(string name = "model.ckpt")
    {
        string path = Path.Combine(folder, name);
        using var scope = NewDisposeScope();
        CheckpointStore.Write(path, MetadataJson, Weights(), Extras(), overwrite: false);
        return path;
    }

    [Test]
    public void RoundTripIsBitwise()
    {
        string path = WriteSample();
        using var scope = NewDisposeScope();
        using var checkpoint = CheckpointStore.Read(path);
        Assert.That(checkpoint.Path, Is.EqualTo(path));
        Assert.That(checkpoint.MetadataJson, Is.EqualTo(MetadataJson));
        var expected = Weights();
        Assert.That(checkpoint.Weights.Keys, Is.EqualTo(expected.Keys));
        foreach (var (name, tensor) in expected) TensorAssert.Identical(checkpoint.Weights[name], tensor, name);
        Assert.That(checkpoint.Extras.Keys, Is.EquivalentTo(new[] { "optimizer", "empty" }));
        Assert.That(checkpoint.Extras["optimizer"], Is.EqualTo(OptimizerBytes));
        Assert.That(checkpoint.Extras["empty"], Is.Empty);
        Assert.That(CheckpointStore.ReadMetadata(path), Is.EqualTo(MetadataJson));
        Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { path }), "no temporary file left");
    }

    [Test]
    public void LayoutIsTheDocumentedOne()
    {
        string path = WriteSample();
        byte[] file = File.ReadAllBytes(path);
        Assert.That(Encoding.ASCII.GetString(file, 0, 8), Is.EqualTo("HSEQCKPT"));
        Assert.That(BitConverter.ToUInt32(file, 8), Is.EqualTo(1u), "format version");
        Assert.That(BitConverter.ToUInt32(file, 12), Is.EqualTo(4u), "sections: metadata, weights, 2 extras");
        Assert.That(BitConverter.ToUInt64(file, 16), Is.EqualTo((ulong)file.Length), "declared length");
        Assert.That(BitConverter.ToUInt32(file, 24), Is.EqualTo(8u), "first section's name length");
        Assert.That(Encoding.UTF8.GetString(file, 28, 8), Is.EqualTo("metadata"));
        Assert.That(BitConverter.ToUInt64(file, 36), Is.EqualTo((ulong)Encoding.UTF8.GetByteCount(MetadataJson)));
        Assert.That(Encoding.UTF8.GetString(file, 44, Encoding.UTF8.GetByteCount(MetadataJson)), Is.EqualTo(MetadataJson));
        byte[] sha = System.Security.Cryptography.SHA256.HashData(file.AsSpan(0, file.Length - 32));
        Assert.That(file[^32..], Is.EqualTo(sha), "the trailer is the SHA-256 of everything before it");
    }

    [Test]
    public void TheWeightsSectionIsAPlainSafetensorsFile()
    {
        string path = WriteSample();
        string extracted = Path.Combine(folder, "weights.safetensors");
        CheckpointStore.ExtractWeights(path, extracted, overwrite: false);

        using var scope = NewDisposeScope();
        var content = SafeTensors.Load(extracted);
        foreach (var (name, tensor) in Weights()) TensorAssert.Identical(content.Tensors[name], tensor, name);
        using var stream = new MemoryStream();
        SafeTensors.Write(stream, Weights());
        Assert.That(File.ReadAllBytes(extracted), Is.EqualTo(stream.ToArray()));
    }

    // Positions inside every part of the file: magic, version, section count, declared length, the metadata, the
    // safetensors header and data of the weights, an extra, and the checksum itself.
    private static IEnumerable<(string Part, int Offset)> FlipPositions(byte[] file)
    {
        int metadata = IndexOf(file, Encoding.UTF8.GetBytes("\"family\""));
        int weightsHeader = IndexOf(file, Encoding.UTF8.GetBytes("\"data_offsets\""));
        int extra = IndexOf(file, OptimizerBytes);
        int weightsData = IndexOf(file, BitConverter.GetBytes(-9L));
        yield return ("magic", 0);
        yield return ("version", 8);
        yield return ("section count", 12);
        yield return ("declared length", 17);
        yield return ("section name", 30);
        yield return ("metadata", metadata + 2);
        yield return ("weights header", weightsHeader + 3);
        yield return ("weights data", weightsData);
        yield return ("extra", extra + 150);
        yield return ("checksum", file.Length - 1);
        yield return ("checksum start", file.Length - 32);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
                return i;
        throw new AssertionException($"test setup: pattern of {needle.Length} bytes not found in the checkpoint");
    }

    [Test]
    public void AFlippedByteAnywhereIsRefusedNamingTheFile()
    {
        string original = WriteSample();
        byte[] file = File.ReadAllBytes(original);
        foreach (var (part, offset) in FlipPositions(file))
        {
            byte[] damaged = (byte[])file.Clone();
            damaged[offset] ^= 0x10;
            string path = Path.Combine(folder, $"flipped-{part.Replace(' ', '-')}.ckpt");
            File.WriteAllBytes(path, damaged);

            var read = Assert.Throws<InvalidDataException>(() => CheckpointStore.Read(path), part)!;
            var metadata = Assert.Throws<InvalidDataException>(() => CheckpointStore.ReadMetadata(path), part)!;
            Assert.That(read.Message, Does.Contain(path), part);
            Assert.That(metadata.Message, Is.EqualTo(read.Message), part);
            string expected = part switch
            {
                "magic" => "is not a HybridSeq checkpoint (magic \"XSEQCKPT\"",
                "declared length" => $"is truncated: expected {file.Length ^ 0x1000} bytes, found {file.Length}",
                _ => "is corrupt: checksum mismatch",
            };
            Assert.That(read.Message, Does.Contain(expected), part);
        }
    }

    [Test]
    public void SingleBitFlipsAcrossTheWholeFileAreRefused()
    {
        // A dense sweep: every offset of the fixed header, the first section header and the checksum, and every
        // third offset in between (all of them took seconds on the shared build machine).
        string original = WriteSample();
        byte[] file = File.ReadAllBytes(original);
        string path = Path.Combine(folder, "flipped.ckpt");
        var accepted = new List<int>();
        var offsets = Enumerable.Range(0, file.Length)
            .Where(o => o < 64 || o >= file.Length - 32 || o % 3 == 0).ToList();
        foreach (int offset in offsets)
        {
            byte[] damaged = (byte[])file.Clone();
            damaged[offset] ^= 0x01;
            File.WriteAllBytes(path, damaged);
            try
            {
                CheckpointStore.ReadMetadata(path);
                accepted.Add(offset);
            }
            catch (InvalidDataException e) when (e.Message.Contains(path))
            {
                // refused, naming the file: what every offset must give
            }
        }
        Assert.That(accepted, Is.Empty, $"offsets whose flipped bit went unnoticed (of {offsets.Count} tried)");
    }

    [Test]
    public void TruncationAtAnyLengthIsRefused()
    {
        string original = WriteSample();
        byte[] file = File.ReadAllBytes(original);
        foreach (int length in new[] { 0, 5, 8, 20, 24, 60, file.Length / 2, file.Length - 33, file.Length - 32, file.Length - 1 })
        {
            string path = Path.Combine(folder, $"truncated-{length}.ckpt");
            File.WriteAllBytes(path, file[..length]);
            var error = Assert.Throws<InvalidDataException>(() => CheckpointStore.Read(path), $"length {length}")!;
            Assert.That(error.Message, Does.Contain(path), $"length {length}");
            string expected = length switch
            {
                0 => "is not a HybridSeq checkpoint (magic absent: the file is empty",
                < 24 => $"is truncated: expected at least 56 bytes, found {length}",
                _ => $"is truncated: expected {file.Length} bytes, found {length}",
            };
            Assert.That(error.Message, Does.Contain(expected), $"length {length}");
        }
    }

    [Test]
    public void AppendedBytesAreRefused()
    {
        string path = WriteSample();
        File.AppendAllText(path, "x");
        var error = Assert.Throws<InvalidDataException>(() => CheckpointStore.ReadMetadata(path))!;
        Assert.That(error.Message, Does.Contain(path).And.Contain("found " + new FileInfo(path).Length));
    }

    [Test]
    public void FilesOfOtherFormatsAreRefusedByTheirMagic()
    {
        string text = Path.Combine(folder, "notes.txt");
        File.WriteAllText(text, "hello, this is not a checkpoint at all");
        var error = Assert.Throws<InvalidDataException>(() => CheckpointStore.Read(text))!;
        Assert.That(error.Message, Does.Contain(text).And.Contain("not a HybridSeq checkpoint (magic \"hello, t\""));

        using var scope = NewDisposeScope();
        string safetensors = Path.Combine(folder, "weights.safetensors");
        SafeTensors.Save(safetensors, Weights());
        error = Assert.Throws<InvalidDataException>(() => CheckpointStore.ReadMetadata(safetensors))!;
        Assert.That(error.Message, Does.Contain(safetensors).And.Contain("not a HybridSeq checkpoint (magic"));
    }

    [Test]
    public void AnExistingFileIsNotOverwrittenUnlessAsked()
    {
        string path = WriteSample();
        byte[] before = File.ReadAllBytes(path);
        DateTime written = File.GetLastWriteTimeUtc(path);
        using var scope = NewDisposeScope();
        var other = new Dictionary<string, Tensor> { ["x"] = ones(3) };

        var error = Assert.Throws<IOException>(() => CheckpointStore.Write(path, "{}", other, null, overwrite: false))!;
        Assert.That(error.Message, Does.Contain(path).And.Contain("already exists"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(File.GetLastWriteTimeUtc(path), Is.EqualTo(written));

        CheckpointStore.Write(path, "{}", other, null, overwrite: true);
        using var checkpoint = CheckpointStore.Read(path);
        Assert.That(checkpoint.MetadataJson, Is.EqualTo("{}"));
        Assert.That(checkpoint.Weights.Keys, Is.EqualTo(new[] { "x" }));
        Assert.That(checkpoint.Extras, Is.Empty);
        Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void AFailedWriteLeavesNoFileAndNoTemporaryFile()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(folder, "failed.ckpt");
        var weights = Weights();
        weights["complex"] = zeros([2], dtype: ScalarType.ComplexFloat64);
        var error = Assert.Throws<ArgumentException>(() => CheckpointStore.Write(path, MetadataJson, weights, null, false))!;
        Assert.That(error.Message, Does.Contain("'complex'"));
        Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty);

        // The same over an existing checkpoint with overwrite: it stays as it was.
        string existing = WriteSample();
        byte[] before = File.ReadAllBytes(existing);
        Assert.Throws<ArgumentException>(() => CheckpointStore.Write(existing, MetadataJson, weights, null, true));
        Assert.That(File.ReadAllBytes(existing), Is.EqualTo(before));
        Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { existing }));
    }

    [Test]
    public void AWriteThatFailsHalfwayLeavesTheTargetAndNoTemporaryFile()
    {
        string path = WriteSample();
        byte[] before = File.ReadAllBytes(path);
        var error = Assert.Throws<InvalidOperationException>(() => DurableFile.Write(path, overwrite: true, stream =>
        {
            stream.Write(new byte[4096]);
            throw new InvalidOperationException("disk full (simulated)");
        }))!;
        Assert.That(error.Message, Is.EqualTo("disk full (simulated)"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void TheFolderIsSyncedWhereThePlatformHasFsync()
    {
        // Every write in these tests went through the folder sync (a failing fsync throws), so this pins that the
        // step is not silently skipped on the platforms that have it.
        Assert.That(DurableFile.SyncsFolder, Is.EqualTo(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()));
    }

    [Test]
    public void BadArgumentsAreRefusedNamingThem()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(folder, "bad.ckpt");
        var weights = Weights();
        var json = Assert.Throws<ArgumentException>(() => CheckpointStore.Write(path, "{\"unclosed\": ", weights, null, false))!;
        Assert.That(json.ParamName, Is.EqualTo("metadataJson"));
        var extra = Assert.Throws<ArgumentException>(() =>
            CheckpointStore.Write(path, "{}", weights, new Dictionary<string, byte[]> { [""] = [1] }, false))!;
        Assert.That(extra.ParamName, Is.EqualTo("extras"));
        var reserved = Assert.Throws<ArgumentException>(() =>
            CheckpointStore.Write(path, "{}", new Dictionary<string, Tensor> { ["__metadata__"] = ones(1) }, null, false))!;
        Assert.That(reserved.ParamName, Is.EqualTo("tensors"));
        Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty);
        Assert.Throws<FileNotFoundException>(() => CheckpointStore.Read(path));
    }

    [Test]
    public void OptimizerStateTravelsAsAnExtra()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        var model = nn.Linear(4, 3);
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        Tensor input = randn(5, 4), target = randn(5, 3);
        void Step(nn.Module<Tensor, Tensor> m, optim.Optimizer o)
        {
            o.zero_grad();
            nn.functional.mse_loss(m.forward(input), target).backward();
            o.step();
        }
        Step(model, optimizer);
        Step(model, optimizer);

        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(writer);
        string path = Path.Combine(folder, "adam.ckpt");
        CheckpointStore.Write(path, "{\"step\":2}", model.state_dict(),
            new Dictionary<string, byte[]> { ["optimizer"] = buffer.ToArray() }, overwrite: false);

        torch.manual_seed(99);
        var restored = nn.Linear(4, 3);
        var restoredOptimizer = optim.Adam(restored.parameters(), lr: 0.01);
        using (var checkpoint = CheckpointStore.Read(path))
        {
            restored.load_state_dict(checkpoint.Weights.ToDictionary(p => p.Key, p => p.Value));
            using var reader = new BinaryReader(new MemoryStream(checkpoint.Extras["optimizer"]));
            restoredOptimizer.load_state_dict(reader);
        }
        Step(model, optimizer);
        Step(restored, restoredOptimizer);
        TensorAssert.Identical(restored.weight!, model.weight!, "weight after the resumed step");
        TensorAssert.Identical(restored.bias!, model.bias!, "bias after the resumed step");
    }
}
