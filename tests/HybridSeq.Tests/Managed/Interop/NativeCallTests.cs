using HybridSeq.Bindings;
using HybridSeq.Managed;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Interop;

/// <summary>The view binder: views of bound tensors, absent optionals, and the mapping of a native error back to the
/// argument the user passed.</summary>
[TestFixture]
public sealed unsafe class NativeCallTests
{
    [Test]
    public void InvalidArgumentNamesTheUsersArgumentAndKeepsTheNativeMessage()
    {
        Native.Load();
        Tensor x = torch.zeros(3, 4, dtype: ScalarType.Int32), w = torch.zeros(5, 4), y = torch.zeros(3, 5);
        using var call = new NativeCall();
        var error = Assert.Throws<HybridSeqArgumentException>(() => call.Check(NativeMethods.hs_linear_forward(
            call.Bind(x, "x", user: "input"), call.Bind(w, "w", user: "weight"), call.Bind(null, "b", user: "bias"),
            call.Bind(y, "y"), null)))!;
        Assert.That(error.ParamName, Is.EqualTo("input"));
        Assert.That(error.Status, Is.EqualTo(hs_status.HS_ERR_INVALID_ARGUMENT));
        Assert.That(error.NativeMessage, Does.StartWith("hs_linear_forward: argument 'x'").And.Contain("int32"));
        Assert.That(error.Message, Does.Contain(error.NativeMessage).And.Contain("native 'x' is the argument 'input'"));
        // A user's catch (ArgumentException) catches it.
        Assert.That(error, Is.InstanceOf<ArgumentException>());
    }

    [Test]
    public void ANoteSaysWhatTheNativeTensorIs()
    {
        Native.Load();
        Tensor x = torch.zeros(3, 4), w = torch.zeros(5, 3), y = torch.zeros(3, 5);
        using var call = new NativeCall();
        var error = Assert.Throws<HybridSeqArgumentException>(() => call.Check(NativeMethods.hs_linear_forward(
            call.Bind(x, "x"), call.Bind(w, "w", user: "weightIH", note: "'w' is the layer's W_ih"), null,
            call.Bind(y, "y"), null)))!;
        Assert.That(error.ParamName, Is.EqualTo("weightIH"));
        Assert.That(error.Message, Does.Contain("'w' is the layer's W_ih").And.Contain("(5, 3)"));
    }

    [Test]
    public void AnArgumentWithoutAUserNameKeepsItsNativeName()
    {
        Native.Load();
        Tensor x = torch.zeros(3, 4), w = torch.zeros(5, 4), y = torch.zeros(2, 5);
        using var call = new NativeCall();
        var error = Assert.Throws<HybridSeqArgumentException>(() => call.Check(NativeMethods.hs_linear_forward(
            call.Bind(x, "x", user: "input"), call.Bind(w, "w", user: "weight"), null, call.Bind(y, "y"), null)))!;
        Assert.That(error.ParamName, Is.EqualTo("y"));
        Assert.That(error.Message, Does.Contain("(3, 5)").And.Contain("(2, 5)"));
    }

    [Test]
    public void OtherStatusesKeepTheirTypedExceptions()
    {
        Native.Load();
        using var call = new NativeCall();
        call.Bind(torch.zeros(2), "u");
        Assert.DoesNotThrow(() => call.Check(hs_status.HS_OK));
        var unsupported = Assert.Throws<HybridSeqUnsupportedException>(() => call.Check(hs_status.HS_ERR_UNSUPPORTED))!;
        Assert.That(unsupported, Is.InstanceOf<NotSupportedException>());
        Assert.That(unsupported.Status, Is.EqualTo(hs_status.HS_ERR_UNSUPPORTED));
        Assert.Throws<HybridSeqCudaException>(() => call.Check(hs_status.HS_ERR_CUDA));
        Assert.Throws<HybridSeqOutOfMemoryException>(() => call.Check(hs_status.HS_ERR_OUT_OF_MEMORY));
    }

    [Test]
    public void BindGivesTheViewOfTheTensorAndNullForAnAbsentOne()
    {
        Tensor t = torch.arange(6, dtype: ScalarType.Float64).reshape(2, 3);
        using var call = new NativeCall();
        hs_tensor* view = call.Bind(t, "u");
        Assert.That(view != null, Is.True);
        Assert.That((view->rank, view->sizes[0], view->sizes[1]), Is.EqualTo((2, 2L, 3L)));
        Assert.That(((double*)view->data)[5], Is.EqualTo(5.0));
        Assert.That(call.Bind(null, "z") == null, Is.True);
    }

    [Test]
    public void ATensorTheViewCannotExpressIsNamedByTheUsersName()
    {
        using var call = new NativeCall();
        var error = Assert.Throws<ArgumentException>(() => call.Bind(torch.empty(3, device: torch.META), "b",
            user: "bias"))!;
        Assert.That(error.ParamName, Is.EqualTo("bias"));
        Assert.That(error.Message, Does.Contain("meta"));
    }

    [TestCase("hs_rnn_forward: field 'cell' of argument 'inputs' must be ...", "cell")]
    [TestCase("hs_rnn_forward: argument 'R' has shape (1, 8, 2), but 'wx' has G*H = 12", "R")]
    [TestCase("hs_rnn_forward: argument 'lengths' must hold values in [0, 5]", "lengths")]
    [TestCase("hs_abi_sizeof: unknown struct", null)]
    public void TheFailingArgumentIsTheFirstOneTheNativeMessageNames(string message, string? expected)
    {
        Assert.That(NativeErrors.ArgumentOf(message), Is.EqualTo(expected));
    }
}
