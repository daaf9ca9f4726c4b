using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The tensors of one dilated-convolution call, as the user passed them (the native shim checks them).
/// Sizes read 0 for a dimension a malformed input lacks (<see cref="TensorView.SizeOrZero"/>).</summary>
internal sealed record DilatedConvTensors(Tensor X, Tensor Weight, Tensor? Bias, Tensor? InitialState, Tensor? Lengths,
    long Dilation)
{
    public long Batch => X.SizeOrZero(0);
    public long InChannels => X.SizeOrZero(1);
    public long Length => X.SizeOrZero(2);
    public long OutChannels => Weight.SizeOrZero(0);
    public long Width => Weight.SizeOrZero(2);

    /// <summary>(K-1)*dilation, or 0 for a weight without a width, a dilation below 1, or a K*dilation the native
    /// shim refuses as too large to index (so that sizing the final state never fails before the shim can say which
    /// argument is wrong).</summary>
    public long StateLength
    {
        get
        {
            const long extentHeadroom = 64;  // kExtentHeadroom of native/src/api/op_kit.h
            if (Width < 1 || Dilation < 1 || Width > long.MaxValue / extentHeadroom / Dilation)
                return 0;
            long length = (Width - 1) * Dilation;
            long rows = Math.Max(Batch, 1) * Math.Max(InChannels, 1);
            // The shim refuses states whose element count times its headroom does not fit either.
            return length > 0 && rows > long.MaxValue / extentHeadroom / length ? 0 : length;
        }
    }

    /// <summary>The same call with every tensor row-major contiguous and CPU lengths on x's device.</summary>
    public DilatedConvTensors Contiguous() => new(X.contiguous(), Weight.contiguous(), Bias?.contiguous(),
        InitialState?.contiguous(), TensorView.LengthsFor(Lengths, X), Dilation);
}

/// <summary>Gradients of a convolution; each null when not asked for.</summary>
internal sealed record DilatedConvGradients(Tensor? Dx, Tensor? DWeight, Tensor? DBias, Tensor? DInitialState);

/// <summary>The calls into hs_dilated_conv_*: binds the views (under the names of <see cref="DilatedCausalConv"/>'s
/// parameters), calls, maps the status. Inputs must be contiguous (<see cref="DilatedConvTensors.Contiguous"/>). CUDA work
/// goes to the legacy default stream, which orders it with libtorch's own work.</summary>
internal static unsafe class DilatedConvNative
{
    /// <summary>y (Bt, C_out, L); finalState (Bt, C_in, S) or null.</summary>
    public static void Forward(DilatedConvTensors x, Tensor y, Tensor? finalState)
    {
        using var call = new NativeCall();
        hs_dilated_conv_inputs inputs = BindInputs(call, x);
        call.Check(NativeMethods.hs_dilated_conv_forward(&inputs, call.Bind(y, "y"),
            call.Bind(finalState, "final_state", user: "FinalState"), null));
    }

    /// <summary>Overwrites the gradients that are not null.</summary>
    public static void Backward(DilatedConvTensors x, Tensor dy, Tensor? dFinalState, DilatedConvGradients grads)
    {
        using var call = new NativeCall();
        hs_dilated_conv_inputs inputs = BindInputs(call, x);
        var gradViews = new hs_dilated_conv_grads
        {
            dx = call.Bind(grads.Dx, "grads->dx"),
            dweight = call.Bind(grads.DWeight, "grads->dweight"),
            dbias = call.Bind(grads.DBias, "grads->dbias"),
            d_initial_state = call.Bind(grads.DInitialState, "grads->d_initial_state"),
        };
        call.Check(NativeMethods.hs_dilated_conv_backward(&inputs, call.Bind(dy, "dy"),
            call.Bind(dFinalState, "d_final_state"), &gradViews, null));
    }

    /// <summary>state (Bt, C_in, S) contiguous, advanced in place; y (Bt, C_out, T).</summary>
    public static void Step(DilatedConvTensors x, Tensor state, Tensor y)
    {
        using var call = new NativeCall();
        hs_dilated_conv_inputs inputs = BindInputs(call, x);
        call.Check(NativeMethods.hs_dilated_conv_step(&inputs, call.Bind(state, "state"), call.Bind(y, "y"), null));
    }

    // Native names on the left, DilatedCausalConv's parameter names on the right where they differ.
    private static hs_dilated_conv_inputs BindInputs(NativeCall call, DilatedConvTensors x)
    {
        call.Name("dilation", "dilation");
        return new hs_dilated_conv_inputs
        {
            x = call.Bind(x.X, "x"),
            weight = call.Bind(x.Weight, "weight"),
            bias = call.Bind(x.Bias, "bias"),
            initial_state = call.Bind(x.InitialState, "initial_state", user: "initialState"),
            lengths = call.Bind(x.Lengths, "lengths"),
            dilation = x.Dilation,
        };
    }
}
