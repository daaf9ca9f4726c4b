using System.Text;
using HybridSeq.Bindings;
using HybridSeq.Managed;
using HybridSeq.Tests.Managed.Ops;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Interop;

[TestFixture]
public sealed unsafe class ErrorMappingTests
{
    [Test]
    public void NativeInvalidArgumentBecomesHybridSeqArgumentExceptionWithTheNativeMessage()
    {
        Native.Load();
        byte[] name = Encoding.UTF8.GetBytes("no_such_struct\0");
        var error = Assert.Throws<HybridSeqArgumentException>(() =>
        {
            long size;
            fixed (byte* p = name)
                Native.Check(NativeMethods.hs_abi_sizeof((sbyte*)p, &size));
        })!;
        Assert.That(error.Status, Is.EqualTo(hs_status.HS_ERR_INVALID_ARGUMENT));
        Assert.That(error.NativeMessage, Does.Contain("no_such_struct"));
        // The native message starts with the entry point; the C# call expression is not in the message.
        Assert.That(error.NativeMessage, Does.StartWith("hs_abi_sizeof"));
        Assert.That(error.Message, Does.Contain(error.NativeMessage).And.Not.Contain("NativeMethods"));
        Assert.That(error, Is.InstanceOf<ArgumentException>().And.InstanceOf<IHybridSeqError>());
    }

    [TestCase(hs_status.HS_ERR_INVALID_ARGUMENT, typeof(HybridSeqArgumentException), typeof(ArgumentException))]
    [TestCase(hs_status.HS_ERR_UNSUPPORTED, typeof(HybridSeqUnsupportedException), typeof(NotSupportedException))]
    [TestCase(hs_status.HS_ERR_CUDA, typeof(HybridSeqCudaException), typeof(HybridSeqException))]
    [TestCase(hs_status.HS_ERR_OUT_OF_MEMORY, typeof(HybridSeqOutOfMemoryException), typeof(HybridSeqException))]
    [TestCase(hs_status.HS_ERR_INTERNAL, typeof(HybridSeqInternalException), typeof(HybridSeqException))]
    [TestCase((hs_status)77, typeof(HybridSeqInternalException), typeof(HybridSeqException))]
    public void EveryStatusMapsToItsExceptionType(hs_status status, Type expected, Type baseClass)
    {
        Native.Load();
        Exception error = Assert.Catch(() => Native.Check(status))!;
        Assert.That(error.GetType(), Is.EqualTo(expected));
        Assert.That(error, Is.InstanceOf(baseClass));
        Assert.That(error, Is.InstanceOf<IHybridSeqError>());
        Assert.That(((IHybridSeqError)error).Status, Is.EqualTo(status));
        // A device out-of-memory is recoverable: not an OutOfMemoryException, which hosts treat as fatal.
        Assert.That(error, Is.Not.InstanceOf<OutOfMemoryException>());
    }

    [Test]
    public void OkStatusDoesNotThrow()
    {
        Assert.DoesNotThrow(() => Native.Check(hs_status.HS_OK));
    }

    /// <summary>A value error only the native side can see (lengths beyond L on the CPU) comes back as a typed
    /// exception naming the argument, and the process carries on.</summary>
    [Test]
    public void BadLengthsThroughThePublicApiNameTheArgumentAndTheProcessSurvives()
    {
        ScanInputs x = new ScanCase(2, 4, 3, 7).MakeInputs(ScalarType.Float64, seed: 1);
        Tensor lengths = torch.tensor(new long[] { 7, 12 });
        var error = Assert.Throws<HybridSeqArgumentException>(() =>
            HybridSeq.Managed.SelectiveScan.Forward(x.U, x.Delta, x.A, x.B, x.C, lengths: lengths))!;
        Assert.That(error.NativeMessage, Does.Contain("lengths"));
        Assert.That(error.ParamName, Is.EqualTo("lengths"));
        Assert.That(error.Message, Does.Contain("[0, 7]").And.Contain("12").And.Not.Contain("NativeMethods"));
        Assert.That(error, Is.InstanceOf<ArgumentException>());

        // Still alive and working.
        (Tensor output, _) = x.RunManaged();
        Assert.That(output.shape, Is.EqualTo(new long[] { 2, 4, 7 }));
    }

    [Test]
    public void ScanArgumentErrorsNameTheArgumentExpectedAndActual()
    {
        ScanInputs x = new ScanCase(2, 4, 3, 7).MakeInputs(ScalarType.Float32, seed: 2);
        Tensor badDelta = torch.zeros(2, 4, 8);
        var error = Assert.Catch<ArgumentException>(() =>
            HybridSeq.Managed.SelectiveScan.Forward(x.U, badDelta, x.A, x.B, x.C))!;
        Assert.That(error.ParamName, Is.EqualTo("delta"));
        Assert.That(error.Message, Does.Contain("(2, 4, 7)").And.Contain("(2, 4, 8)"));

        Tensor badB = torch.zeros(2, 3, 3, 7); // G = 3 does not divide Dm = 4
        error = Assert.Catch<ArgumentException>(() =>
            HybridSeq.Managed.SelectiveScan.Forward(x.U, x.Delta, x.A, badB, x.C))!;
        Assert.That(error.ParamName, Is.EqualTo("B"));
        Assert.That(error.Message, Does.Contain("G = 3"));

        Tensor doubleA = x.A.to(ScalarType.Float64);
        error = Assert.Catch<ArgumentException>(() =>
            HybridSeq.Managed.SelectiveScan.Forward(x.U, x.Delta, doubleA, x.B, x.C))!;
        Assert.That(error.ParamName, Is.EqualTo("A"));
        Assert.That(error.Message, Does.Contain("float32").And.Contain("float64"));

        Tensor intLengths = torch.tensor(new[] { 7, 7 });
        error = Assert.Catch<ArgumentException>(() =>
            HybridSeq.Managed.SelectiveScan.Forward(x.U, x.Delta, x.A, x.B, x.C, lengths: intLengths))!;
        Assert.That(error.ParamName, Is.EqualTo("lengths"));
        Assert.That(error.Message, Does.Contain("int64").And.Contain("int32"));
    }
}
