using HybridSeq.Bindings;
using HybridSeq.Managed;
using HybridSeq.Tests.Managed.Ops;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Interop;

[TestFixture]
public sealed unsafe class TensorViewTests
{
    [Test]
    public void SlicedTensorPointsAtItsFirstElementNotTheStorageBase()
    {
        Tensor whole = torch.arange(24, dtype: ScalarType.Float64).reshape(4, 6);
        Tensor slice = whole[2..4, 1..5];
        hs_tensor wholeView = TensorView.Of(whole, "whole");
        hs_tensor sliceView = TensorView.Of(slice, "slice");

        Assert.That(slice.storage_offset(), Is.EqualTo(13));
        Assert.That((long)sliceView.data - (long)wholeView.data, Is.EqualTo(13 * sizeof(double)));
        Assert.That(*(double*)sliceView.data, Is.EqualTo(13.0));
        Assert.That(sliceView.rank, Is.EqualTo(2));
        Assert.That(new[] { sliceView.sizes[0], sliceView.sizes[1] }, Is.EqualTo(new long[] { 2, 4 }));
        Assert.That(new[] { sliceView.strides[0], sliceView.strides[1] }, Is.EqualTo(new long[] { 6, 1 }));
        Assert.That(sliceView.dtype, Is.EqualTo((int)hs_dtype.HS_DTYPE_FLOAT64));
        Assert.That(sliceView.device_type, Is.EqualTo((int)hs_device_type.HS_DEVICE_CPU));
        GC.KeepAlive(whole);
    }

    [TestCase(ScalarType.Float32, hs_dtype.HS_DTYPE_FLOAT32)]
    [TestCase(ScalarType.Float64, hs_dtype.HS_DTYPE_FLOAT64)]
    [TestCase(ScalarType.Int32, hs_dtype.HS_DTYPE_INT32)]
    [TestCase(ScalarType.Int64, hs_dtype.HS_DTYPE_INT64)]
    public void SupportedDTypesMapAndPointAtTheSameMemory(ScalarType dtype, hs_dtype expected)
    {
        Tensor t = torch.arange(10, dtype: dtype)[3..];
        hs_tensor view = TensorView.Of(t, "t");
        Assert.That(view.dtype, Is.EqualTo((int)expected));
        // The view must alias the tensor, not a converted copy: write through it and read back in TorchSharp.
        switch (dtype)
        {
            case ScalarType.Float32: *(float*)view.data = 42; break;
            case ScalarType.Float64: *(double*)view.data = 42; break;
            case ScalarType.Int32: *(int*)view.data = 42; break;
            case ScalarType.Int64: *(long*)view.data = 42; break;
        }
        Assert.That(t[0].to(ScalarType.Float64).item<double>(), Is.EqualTo(42.0));
        GC.KeepAlive(t);
    }

    [TestCase(ScalarType.ComplexFloat32, hs_dtype.HS_DTYPE_COMPLEX64)]
    [TestCase(ScalarType.ComplexFloat64, hs_dtype.HS_DTYPE_COMPLEX128)]
    public void ComplexDTypesMapWithStridesInElementsAndPointAtTheSameMemory(ScalarType dtype, hs_dtype expected)
    {
        Tensor whole = torch.zeros([4, 6], dtype: dtype);
        Tensor slice = whole[1..3, 2..5];
        hs_tensor view = TensorView.Of(slice, "slice");
        hs_tensor wholeView = TensorView.Of(whole, "whole");
        Assert.That(view.dtype, Is.EqualTo((int)expected));
        // Strides count complex elements; the byte offset is 8 elements of 2 reals each.
        Assert.That(new[] { view.strides[0], view.strides[1] }, Is.EqualTo(new long[] { 6, 1 }));
        Assert.That((long)view.data - (long)wholeView.data, Is.EqualTo(8 * slice.element_size()));
        // Write re and im through the view; TorchSharp must see the element (1, 2) = 3 - 4i.
        if (dtype == ScalarType.ComplexFloat32)
        {
            ((float*)view.data)[0] = 3;
            ((float*)view.data)[1] = -4;
        }
        else
        {
            ((double*)view.data)[0] = 3;
            ((double*)view.data)[1] = -4;
        }
        Tensor element = torch.view_as_real(whole[1, 2]).to(ScalarType.Float64);
        Assert.That(element[0].item<double>(), Is.EqualTo(3.0));
        Assert.That(element[1].item<double>(), Is.EqualTo(-4.0));
        GC.KeepAlive(whole);
    }

    [TestCase(ScalarType.Float16)]
    [TestCase(ScalarType.Int8)]
    [TestCase(ScalarType.BFloat16)]
    public void UnsupportedDTypeIsRejectedNamingTheArgument(ScalarType dtype)
    {
        var error = Assert.Throws<ArgumentException>(() => TensorView.Of(torch.zeros(3, dtype: dtype), "weights"))!;
        Assert.That(error.ParamName, Is.EqualTo("weights"));
        Assert.That(error.Message, Does.Contain(dtype.ToString()).And.Contain("float32"));
    }

    [Test]
    public void UnsupportedDTypeThroughTheOpNamesU()
    {
        ScanInputs x = new ScanCase(1, 2, 3, 4).MakeInputs(ScalarType.Float32, seed: 3);
        var error = Assert.Throws<ArgumentException>(() => HybridSeq.Managed.SelectiveScan.Forward(
            x.U.to(ScalarType.Float16), x.Delta, x.A, x.B, x.C))!;
        Assert.That(error.ParamName, Is.EqualTo("u"));
        Assert.That(error.Message, Does.Contain("Float16"));
    }

    [Test]
    public void RankAboveTheMaximumIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            TensorView.Of(torch.zeros([1, 1, 1, 1, 1, 1, 1]), "big"))!;
        Assert.That(error.ParamName, Is.EqualTo("big"));
        Assert.That(error.Message, Does.Contain("rank at most 6").And.Contain("rank 7"));
    }

    [Test]
    public void NonContiguousInputsGiveTheSameResultAsContiguousOnes()
    {
        ScanCase scanCase = new(2, 4, 5, 9, Groups: 2, BVarying: true, HasZ: true, HasD: true);
        ScanInputs x = scanCase.MakeInputs(ScalarType.Float64, seed: 4);
        // Same values, laid out (Bt, L, Dm) and (Bt, G, L, N) and viewed back through transposes.
        Tensor uT = x.U.transpose(1, 2).contiguous().transpose(1, 2);
        Tensor zT = x.Z!.transpose(1, 2).contiguous().transpose(1, 2);
        Tensor bT = x.B.transpose(2, 3).contiguous().transpose(2, 3);
        Assert.That(uT.is_contiguous() || zT.is_contiguous() || bT.is_contiguous(), Is.False);

        (Tensor expected, Tensor expectedState) = x.RunManaged();
        (Tensor actual, Tensor actualState) = HybridSeq.Managed.SelectiveScan.Forward(
            uT, x.Delta, x.A, bT, x.C, x.D, zT);
        TensorAssert.Identical(actual, expected, "output");
        TensorAssert.Identical(actualState, expectedState, "last state");
    }
}
