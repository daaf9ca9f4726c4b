// The one set of vector primitives and elementary functions of the CPU kernels: loads/stores, lane-wise select and
// sign tricks, and exp, expm1, sigmoid, tanh, log-sigmoid, softplus and silu. Every function works on a 32-byte
// Vec<T> (the recurrence's explicit vectors) and on a single T (the selective scan's `omp simd` loops, which GCC
// vectorises because nothing here calls libm), with the same algorithm, constants and rounding in both forms.
//
// Like the kernel files that use it (rnn_cpu_kernels.h, linear_cpu_kernels.h, selective_scan_cpu_kernels.h), it is
// included once per instruction set inside a namespace under `#pragma GCC target(...)` (HS_CPU_DISPATCH in
// cpu_vector.h), so it has no include guard and no #include of its own: cpu_vector.h, <cstdint> and <type_traits> come
// first. Every function is always_inline so that it is compiled for the ISA of its caller.
//
// Accuracy (native/tests/test_cpu_math.cpp, against long double; the same for float and double): exp within 1.5 ulp
// (std::exp: within 1), expm1 within 2.5, sigmoid / tanh / log-sigmoid / softplus within 3.5. That keeps float64
// results at std::exp's level, which the tests use as the reference for the float32 and CUDA kernels.

// ---------------------------------------------------------------------------------------------------------------
// Vector basics
// ---------------------------------------------------------------------------------------------------------------

// Every lane = value. `value - 0` keeps -0.0 (which `Vec{} + value` would turn into +0.0) and compiles to a single
// broadcast; a lane-by-lane fill loop instead became chains of inserts inside the GEMM micro-kernel.
template <typename T>
HS_CPU_INLINE Vec<T> splat(T value) {
    return value - Vec<T>{};
}

template <typename T>
HS_CPU_INLINE Vec<T> load(const T* source, int count) {
    Vec<T> v{};
    if (count == kLanes<T>) {
        __builtin_memcpy(&v, source, sizeof(v));
    } else {
        for (int lane = 0; lane < count; ++lane) v[lane] = source[lane];
    }
    return v;
}

template <typename T>
HS_CPU_INLINE void store(T* target, Vec<T> v, int count) {
    if (count == kLanes<T>) {
        __builtin_memcpy(target, &v, sizeof(v));
    } else {
        for (int lane = 0; lane < count; ++lane) target[lane] = v[lane];
    }
}

// The constant `value` in the shape of V: itself for a scalar, every lane for a vector.
template <typename V, typename T>
HS_CPU_INLINE V broadcast(T value) {
    if constexpr (std::is_same<V, T>::value) {
        return value;
    } else {
        return splat<T>(value);
    }
}

// mask ? a : b, lane-wise, for a mask from a vector comparison (all ones / all zeros per lane).
template <typename T>
HS_CPU_INLINE Vec<T> select(IVec<T> mask, Vec<T> a, Vec<T> b) {
    return reinterpret_cast<Vec<T>>((reinterpret_cast<IVec<T>>(a) & mask) | (reinterpret_cast<IVec<T>>(b) & ~mask));
}

template <typename T>
HS_CPU_INLINE T select(bool mask, T a, T b) {
    return mask ? a : b;
}

// The bits of a T (or of each lane) as the unsigned integer of its width, and back. Unsigned, so that the exponent
// arithmetic below wraps instead of overflowing for any input, NaN included.
template <typename T>
HS_CPU_INLINE UVec<T> to_bits(Vec<T> x) {
    return reinterpret_cast<UVec<T>>(x);
}

template <typename T>
HS_CPU_INLINE Vec<T> from_bits(UVec<T> bits) {
    return reinterpret_cast<Vec<T>>(bits);
}

template <typename T>
HS_CPU_INLINE UBits<T> to_bits(T x) {
    UBits<T> bits;
    __builtin_memcpy(&bits, &x, sizeof(bits));
    return bits;
}

template <typename T>
HS_CPU_INLINE T from_bits(UBits<T> bits) {
    T x;
    __builtin_memcpy(&x, &bits, sizeof(x));
    return x;
}

template <typename T, typename V>
HS_CPU_INLINE V abs_value(V x) {
    return from_bits<T>(to_bits<T>(x) & ~to_bits<T>(broadcast<V>(T(-0.0))));
}

template <typename T, typename V>
HS_CPU_INLINE V copy_sign(V magnitude, V sign_source) {
    const auto sign_bit = to_bits<T>(broadcast<V>(T(-0.0)));
    return from_bits<T>((to_bits<T>(magnitude) & ~sign_bit) | (to_bits<T>(sign_source) & sign_bit));
}

// ---------------------------------------------------------------------------------------------------------------
// Elementary functions
// ---------------------------------------------------------------------------------------------------------------

// Constants of exp_reduce: clamp range (2^n stays normal), 1.5 * 2^mantissa_bits (rounds to integers when added),
// ln2 split in a high part with trailing zero bits and the rest, Taylor coefficients of expm1(r) / r from the
// highest degree down, and the terms of the atanh series in log1p_unit.
template <typename T>
struct ExpLimits;
template <>
struct ExpLimits<float> {
    static constexpr float low = -87.0f, high = 88.0f;
    static constexpr float round_shifter = 12582912.0f;
    static constexpr float ln2_high = 0.693359375f, ln2_low = -2.12194440e-4f;
    static constexpr uint32_t exponent_bias = 127, mantissa_bits = 23;
    static constexpr int taylor_terms = 7;
    static constexpr float taylor[taylor_terms] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24,
                                                   1.0f / 6,    1.0f / 2,   1.0f};
    static constexpr int atanh_terms = 8;
};
template <>
struct ExpLimits<double> {
    static constexpr double low = -708.0, high = 709.0;
    static constexpr double round_shifter = 6755399441055744.0;
    static constexpr double ln2_high = 6.93147180369123816490e-01, ln2_low = 1.90821492927058770002e-10;
    static constexpr uint64_t exponent_bias = 1023, mantissa_bits = 52;
    static constexpr int taylor_terms = 13;
    static constexpr double taylor[taylor_terms] = {
        1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
        1.0 / 40320.0,      1.0 / 5040.0,      1.0 / 720.0,      1.0 / 120.0,     1.0 / 24.0,
        1.0 / 6.0,          1.0 / 2.0,         1.0};
    static constexpr int atanh_terms = 18;
};

// x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite, two-part ln2); returns expm1(r) by its Taylor series (degree 7 for
// float, 13 for double: truncation below half an ulp for |r| <= 0.35) and 2^n. x is clamped to [low, high] so that
// 2^n stays a normal number: exp(x) for x below the range gives exp(low) (about 1.6e-38 in float, 3.3e-307 in double)
// instead of a denormal or 0, below the resolution of every use here. A NaN fails both clamp comparisons and flows
// through into the result.
template <typename T, typename V>
HS_CPU_INLINE void exp_reduce(V x, V& expm1_r, V& two_n) {
    using Limits = ExpLimits<T>;
    x = select<T>(x > broadcast<V>(Limits::high), broadcast<V>(Limits::high), x);
    x = select<T>(x < broadcast<V>(Limits::low), broadcast<V>(Limits::low), x);
    // Adding 1.5 * 2^mantissa_bits rounds x / ln2 to an integer that then sits in the low bits of the sum.
    const V shifter = broadcast<V>(Limits::round_shifter);
    const V shifted = x * broadcast<V>(T(1.4426950408889634074)) + shifter;
    const V n = shifted - shifter;
    const V r = (x - n * broadcast<V>(Limits::ln2_high)) - n * broadcast<V>(Limits::ln2_low);
    V poly = broadcast<V>(Limits::taylor[0]);
    for (int i = 1; i < Limits::taylor_terms; ++i) poly = poly * r + broadcast<V>(Limits::taylor[i]);
    expm1_r = poly * r;
    const auto n_bits = to_bits<T>(shifted) - to_bits<T>(shifter);
    two_n = from_bits<T>((n_bits + Limits::exponent_bias) << Limits::mantissa_bits);
}

template <typename T, typename V>
HS_CPU_INLINE V vexp(V x) {
    V p, scale;
    exp_reduce<T>(x, p, scale);
    return scale + scale * p;
}

// expm1 keeps full relative precision near 0 (tanh of small arguments needs it).
template <typename T, typename V>
HS_CPU_INLINE V vexpm1(V x) {
    V p, scale;
    exp_reduce<T>(x, p, scale);
    return scale * p + (scale - broadcast<V>(T(1)));
}

template <typename T, typename V>
HS_CPU_INLINE V vsigmoid(V x) {
    return broadcast<V>(T(1)) / (broadcast<V>(T(1)) + vexp<T>(-x));
}

// tanh(x) = sign(x) * -expm1(-2|x|) / (2 + expm1(-2|x|)): no cancellation for small |x|, saturates to +-1.
template <typename T, typename V>
HS_CPU_INLINE V vtanh(V x) {
    const V e = vexpm1<T>(broadcast<V>(T(-2)) * abs_value<T>(x));
    return copy_sign<T>(-e / (broadcast<V>(T(2)) + e), x);
}

// log1p(u) for u in [0, 1]: 2 atanh(s) with s = u / (2 + u) <= 1/3, by its odd series.
template <typename T, typename V>
HS_CPU_INLINE V vlog1p_unit(V u) {
    const V s = u / (broadcast<V>(T(2)) + u);
    const V s2 = s * s;
    constexpr int terms = ExpLimits<T>::atanh_terms;
    V poly = broadcast<V>(T(1) / T(2 * terms - 1));
    for (int k = terms - 2; k >= 0; --k) poly = poly * s2 + broadcast<V>(T(1) / T(2 * k + 1));
    return broadcast<V>(T(2)) * s * poly;
}

// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)).
template <typename T, typename V>
HS_CPU_INLINE V vlogsigmoid(V x) {
    const V zero = broadcast<V>(T(0));
    return select<T>(x < zero, x, zero) - vlog1p_unit<T>(vexp<T>(-abs_value<T>(x)));
}

// softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), and x itself above 20 (torch.nn.functional.softplus'
// threshold with beta 1, which the CUDA kernels follow too).
template <typename T, typename V>
HS_CPU_INLINE V vsoftplus(V x) {
    const V zero = broadcast<V>(T(0));
    const V smooth = select<T>(x > zero, x, zero) + vlog1p_unit<T>(vexp<T>(-abs_value<T>(x)));
    return select<T>(x > broadcast<V>(T(20)), x, smooth);
}

template <typename T, typename V>
HS_CPU_INLINE V vsilu(V x) {
    return x * vsigmoid<T>(x);
}
