using HybridSeq.Bindings;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The tensors and settings of one depthwise causal convolution call, as the user passed them (the native
/// shim checks them). Sizes read 0 for a dimension a malformed input lacks.</summary>
internal sealed record DepthwiseConvTensors(Tensor X, Tensor Weight, Tensor? Bias, Tensor? InitialState, Tensor? Lengths,
    long Dilation, bool Silu)
{
    public long Batch => X.SizeOrZero(0);
    public long Channels => X.SizeOrZero(1);
    public long Length => X.SizeOrZero(2);

    /// <summary>(K-1)*dilation, or 0 where K or the dilation is out of range or the product overflows (the native
    /// shim then refuses the call, naming the argument, before any output is touched).</summary>
    public long StateLength
    {
        get
        {
            long width = Weight.SizeOrZero(1);
            if (width < 1 || Dilation < 1)
                return 0;
            try { return checked((width - 1) * Dilation); }
            catch (OverflowException) { return 0; }
        }
    }

    /// <summary>The same call with every tensor contiguous and CPU lengths on x's device.</summary>
    public DepthwiseConvTensors Contiguous() => new(X.contiguous(), Weight.contiguous(), Bias?.contiguous(),
        InitialState?.contiguous(), TensorView.LengthsFor(Lengths, X), Dilation, Silu);
}

/// <summary>Gradients of a convolution, each of its input's shape (null for an absent bias or initial state).</summary>
internal sealed record DepthwiseConvGradients(Tensor DX, Tensor DWeight, Tensor? DBias, Tensor? DInitialState);

/// <summary>The calls into hs_depthwise_conv_*: binds the views under the names of <see cref="DepthwiseCausalConv"/>'s
/// parameters, calls, maps the status. Inputs must be contiguous. CUDA work goes to the legacy default stream, which
/// orders it with libtorch's own work.</summary>
internal static unsafe class DepthwiseCausalConvNative
{
    /// <summary>y (Bt, D, L); finalState (Bt, D, S) or null.</summary>
    public static void Forward(DepthwiseConvTensors x, Tensor y, Tensor? finalState)
    {
        using var call = new NativeCall();
        hs_depthwise_conv_inputs inputs = BindInputs(call, x);
        call.Check(NativeMethods.hs_depthwise_conv_forward(&inputs, call.Bind(y, "y"),
            call.Bind(finalState, "final_state", user: "finalState"), null));
    }

    /// <summary>Overwrites every gradient in <paramref name="grads"/>; allocates the CUDA workspace the library asks
    /// for.</summary>
    public static void Backward(DepthwiseConvTensors x, Tensor dy, Tensor? dFinalState, DepthwiseConvGradients grads)
    {
        using var call = new NativeCall();
        hs_depthwise_conv_inputs inputs = BindInputs(call, x);
        long workspaceElements;
        call.Check(NativeMethods.hs_depthwise_conv_workspace_elements(&inputs, &workspaceElements));
        Tensor? workspace = workspaceElements > 0
            ? torch.empty([workspaceElements], dtype: ScalarType.Float32, device: x.X.device)
            : null;
        var gradViews = new hs_depthwise_conv_grads
        {
            dx = call.Bind(grads.DX, "grads->dx"),
            dweight = call.Bind(grads.DWeight, "grads->dweight"),
            dbias = call.Bind(grads.DBias, "grads->dbias"),
            d_initial_state = call.Bind(grads.DInitialState, "grads->d_initial_state"),
        };
        call.Check(NativeMethods.hs_depthwise_conv_backward(&inputs, call.Bind(dy, "dy"),
            call.Bind(dFinalState, "d_final_state"), &gradViews, call.Bind(workspace, "workspace"), null));
    }

    /// <summary>state (Bt, D, S) contiguous, advanced in place; y (Bt, D, T).</summary>
    public static void Step(DepthwiseConvTensors x, Tensor state, Tensor y)
    {
        using var call = new NativeCall();
        hs_depthwise_conv_inputs inputs = BindInputs(call, x);
        call.Check(NativeMethods.hs_depthwise_conv_step(&inputs, call.Bind(state, "state"), call.Bind(y, "y"), null));
    }

    // Native names on the left, DepthwiseCausalConv's parameter names on the right where they differ.
    private static hs_depthwise_conv_inputs BindInputs(NativeCall call, DepthwiseConvTensors x)
    {
        call.Name("dilation", "dilation");
        call.Name("silu", "silu");
        return new hs_depthwise_conv_inputs
        {
            x = call.Bind(x.X, "x"),
            weight = call.Bind(x.Weight, "weight"),
            bias = call.Bind(x.Bias, "bias"),
            initial_state = call.Bind(x.InitialState, "initial_state", user: "initialState"),
            lengths = call.Bind(x.Lengths, "lengths"),
            dilation = x.Dilation,
            silu = x.Silu ? 1 : 0,
        };
    }
}
