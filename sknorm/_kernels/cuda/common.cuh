// Definitions shared by every kernel family of sknorm._kernels.cupy_fused.
//
// Not a standalone header: sknorm._kernels.cupy_fused.source() puts this
// text in place of the include line of a family's .cu file and fills in the
// placeholders (the double-underscored names below: the C type of X, float
// or double, and cupy_fused.ROWS_PER_BLOCK, UNROLL and COMBINE_THREADS), so
// that CuPy compiles (and caches, keyed by the text) one self-contained
// translation unit per family and dtype; the CPU emulator of the tests
// (tests/cuda_emulator.py) compiles the same text as C++.

#define TY __ROWS__
#define UNROLL __UNROLL__
#define CT __COMBINE__
// A thread's one-pass sums are redone with Welford's update when its mean
// lies farther than sqrt(CANCEL) standard deviations from its first value
// (the one-pass variance then loses up to CANCEL ulps).
#define CANCEL 64.0
// Shifts (reference values) beyond this magnitude are 0: x - ref can then
// never overflow (sknorm._kernels.generic.shift_limit, the same float64 value).
#define SHIFT_LIMIT 4.989600773836799e+291
typedef __T__ T;

__device__ __forceinline__ double bounded(const double v) {
    return fabs(v) <= SHIFT_LIMIT ? v : 0.0;
}

// a + f (b - a) (Welford, Chan) where b - a is finite; (1 - f) a + f b where
// it overflowed (means of opposite signs near the float maximum; the
// variance is +inf then anyway).
__device__ __forceinline__ double moved_mean(const double a, const double delta,
                                             const double f, const double b) {
    return delta - delta == 0.0 ? a + f * delta : (1.0 - f) * a + f * b;
}

// *dest = 1 if any of flags[0:count] is set (block 0 of a combine kernel;
// every thread of every block calls it).
template <typename F, typename G>
__device__ void any_flag(const F* __restrict__ flags, const long long count,
                         G* __restrict__ dest) {
    if (blockIdx.x != 0) return;
    int any = 0;
    for (long long k = threadIdx.x; k < count; k += CT) any |= flags[k] != (F)0;
    any = __syncthreads_or(any);
    if (threadIdx.x == 0) *dest = any ? (G)1 : (G)0;
}
