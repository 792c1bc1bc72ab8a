// The elementwise passes: local response normalization, the affine map,
// the centring of a linear map's rows, and the finiteness check of X.

#include "common.cuh"

// AlexNet's local response normalization, the generic kernel's expression
// element by element: the window sum of squares (NaN adds 0) in increasing
// feature order with zero padding (before, after), then / size * alpha + k,
// ** beta, and x / that; one thread per feature of a row (the row's
// neighbours come from the L1 cache).  Rows with unit column stride.
extern "C" __global__ void sknorm_local_response(
    const T* __restrict__ X, const long long n, const int f,
    const long long rs, T* __restrict__ Y, const int before, const int after,
    const T size, const T alpha, const T beta, const T k)
{
    const int c = blockIdx.x * 32 + threadIdx.x;
    if (c >= f) return;
    const long long step = (long long)gridDim.y * TY;
    for (long long r = (long long)blockIdx.y * TY + threadIdx.y; r < n; r += step) {
        const T* row = X + r * rs;
        T acc = (T)0;
        for (int d = 0; d <= before + after; ++d) {
            const int j = c + d - before;
            T t = (T)0;
            if (j >= 0 && j < f) {
                const T v = row[j];
                t = v * v;
                if (t != t) t = (T)0;
            }
            acc = d == 0 ? t : acc + t;
        }
        T div = acc / size;
        div = div * alpha;
        div = div + k;
        div = pow(div, beta);
        Y[r * f + c] = row[c] / div;
    }
}

// check 1: +-inf is an error (NaN allowed); check 2: NaN too.
__device__ __forceinline__ bool is_bad(const T x, const int check) {
    return x - x != (T)0 && (check == 2 || x == x);
}

// Y = ((X - c) * s) + o per feature, each step rounded in T (no FMA: the
// module is built with --fmad=false), the terms absent from flags skipped:
// the generic kernel's bits.  Terms are float64, cast to T first as the
// generic kernel casts them; a term's step is 1 for one value per feature,
// 0 for one value for all.  Rows with unit column stride.
extern "C" __global__ void sknorm_affine(
    const T* X, const long long n, const int f,
    const long long rs, T* Y, const long long rs_out,
    const double* __restrict__ center, const int center_step,
    const double* __restrict__ scale, const int scale_step,
    const double* __restrict__ offset, const int offset_step, const int flags,
    const int check, int* __restrict__ bad_blocks)
{
    const int c = blockIdx.x * 32 + threadIdx.x;
    int bad = 0;
    if (c < f) {
        const T cc = (flags & 1) ? (T)center[c * center_step] : (T)0;
        const T ss = (flags & 2) ? (T)scale[c * scale_step] : (T)1;
        const T oo = (flags & 4) ? (T)offset[c * offset_step] : (T)0;
        const long long step = (long long)gridDim.y * TY;
        for (long long r = (long long)blockIdx.y * TY + threadIdx.y; r < n;
             r += UNROLL * step) {
            T v[UNROLL];
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const long long rr = r + u * step;
                v[u] = rr < n ? X[rr * rs + c] : (T)0;
            }
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const long long rr = r + u * step;
                T y = v[u];
                if (check && is_bad(y, check)) bad = 1;
                if (flags & 1) y = y - cc;
                if (flags & 2) y = y * ss;
                if (flags & 4) y = y + oo;
                if (rr < n) Y[rr * rs_out + c] = y;
            }
        }
    }
    if (check) {
        bad = __syncthreads_or(bad);
        if (threadIdx.x == 0 && threadIdx.y == 0)
            bad_blocks[blockIdx.y * gridDim.x + blockIdx.x] = bad;
    }
}

// Y = X - (T)center in a C-ordered buffer (the rows of a linear map's
// input, centred as the generic kernel centres them).
extern "C" __global__ void sknorm_center_rows(
    const T* __restrict__ X, const long long n, const int f,
    const long long rs, const long long cs,
    const double* __restrict__ center, T* __restrict__ Y, const int check,
    int* __restrict__ bad_blocks)
{
    const int c = blockIdx.x * 32 + threadIdx.x;
    int bad = 0;
    if (c < f) {
        const T cc = (T)center[c];
        const T* col = X + (long long)c * cs;
        const long long step = (long long)gridDim.y * TY;
        for (long long r = (long long)blockIdx.y * TY + threadIdx.y; r < n;
             r += step) {
            const T x = col[r * rs];
            if (check && is_bad(x, check)) bad = 1;
            Y[r * f + c] = x - cc;
        }
    }
    if (check) {
        bad = __syncthreads_or(bad);
        if (threadIdx.x == 0 && threadIdx.y == 0)
            bad_blocks[blockIdx.y * gridDim.x + blockIdx.x] = bad;
    }
}

// flags[block] = 1 if the block's part of X holds +-inf (or NaN, unless
// allow_nan): validation's finiteness check as one read of X, no temporary.
extern "C" __global__ void sknorm_find_nonfinite(
    const T* __restrict__ X, const long long n, const int f,
    const long long rs, const long long cs, const int allow_nan,
    int* __restrict__ flags)
{
    const int c = blockIdx.x * 32 + threadIdx.x;
    int bad = 0;
    if (c < f) {
        const T* col = X + (long long)c * cs;
        const long long step = (long long)gridDim.y * TY;
        for (long long r = (long long)blockIdx.y * TY + threadIdx.y; r < n;
             r += UNROLL * step) {
            T v[UNROLL];
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const long long rr = r + u * step;
                v[u] = rr < n ? col[rr * rs] : (T)0;
            }
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const T x = v[u];
                if (x - x != (T)0 && (!allow_nan || x == x)) bad = 1;
            }
        }
    }
    bad = __syncthreads_or(bad);
    if (threadIdx.x == 0 && threadIdx.y == 0)
        flags[blockIdx.y * gridDim.x + blockIdx.x] = bad;
}
