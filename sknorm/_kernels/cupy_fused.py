"""CuPy kernels that read X once: compiled CUDA, one launch per pass.

The :mod:`.matmul` formulation (column sums as cuBLAS products) runs every
step of the generic kernel as its own pass over a row block: about ten
passes for the moments.  Here each statistic is one CUDA kernel that reads
X once and keeps everything else in registers (measured on an H200 in
docs/performance.md: ``ZScore.fit`` 42 ms there, 1.6 ms here):

* **Moments** -- each thread walks one feature over a strided set of rows
  and sums ``d`` and ``d^2`` in float64 around its *own* first observed
  value (no shift chosen beforehand: a feature at 1e8 with a spread of 1e-3
  keeps its digits); a thread whose mean ends up far from that value, or
  whose sums overflowed, reads its rows again with West's weighted form of
  Welford's update.  Thread results are merged with Chan's formula, in a
  fixed order (deterministic), first within a block (one chunk of rows),
  then per feature over the chunks by a second, small kernel.  That second
  kernel also expresses the result around the caller's shift, or merges it
  straight into a running state (the whole of
  :func:`sknorm._stats.update_moments` in two launches), or takes a whole
  batch-normalization training step.
* **Min/max** -- the same layout with a NaN-aware minimum and maximum; the
  running state in float64.
* **affine**, **local_response** -- one streaming kernel each; **linear**
  (ZCA) centres row blocks into a reused buffer for cuBLAS, **comoments**
  writes the shifted float64 block and its sums for cuBLAS's ``D^T D``.

The module is built without FMA contraction, so that the elementwise
kernels (affine, the centring, LRN) round each step as the generic kernel
does (affine gives its bits); the reductions are a different algorithm
from the generic two-pass one and agree with it within float rounding.

Infinite values set a flag on the device during the same pass (one per
thread block).  Reading it is a host synchronisation, so it is read only
when scikit-learn's ``assume_finite`` is off; it then raises
:class:`~sknorm._kernels.NonFiniteError` (the estimators skip validation's
separate finiteness pass, as on NumPy).  With ``assume_finite`` on, nothing
here waits for the device.

Statistics accumulate in float64 whatever X's dtype.  Under
``assume_finite`` (no check) an infinite value is skipped like NaN by the
moments and kept by the minimum and maximum; that setting is the caller's
promise that there is none.

A warp reads 32 consecutive features of one row (coalesced for C-ordered
X); other layouts are read through their strides (correct, slower; affine
falls back to CuPy's ``ElementwiseKernel``).  Tested against
:mod:`.generic` on the GPU (``tests/test_cupy_kernels.py``) and, emulated
on the CPU, in CI (``tests/test_cuda_emulated.py``); ``SKNORM_CUPY_FUSED=0``
selects :mod:`.matmul` instead (for comparison in the benchmark).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from sklearn import get_config

from . import NonFiniteError, matmul

__all__ = [
    "affine",
    "batchnorm_step",
    "comoments",
    "linear",
    "local_response",
    "min_max",
    "moments",
    "update_min_max",
    "update_moments",
]

# The infinity flag is set in the kernels' own pass.
FINDS_INFINITY = True
# affine and linear take check="inf" / "nonfinite" (the transforms' check
# of X, done while the output is written).
TRANSFORMS_FIND_NONFINITE = True
_CHECK_MODES = {None: 0, "inf": 1, "nonfinite": 2}

# Threads of a partial kernel's block: 32 features (one warp per row) times
# ROWS_PER_BLOCK interleaved rows.
ROWS_PER_BLOCK = 8
# Loads each thread issues before using them (memory-level parallelism).
UNROLL = 4
# Resident blocks per multiprocessor aimed at (2048 threads / 256).
BLOCKS_PER_SM = 8
# Threads of a combine kernel's block (one block per feature).
COMBINE_THREADS = 256
# Grid limit of the y dimension.
MAX_CHUNKS = 65_535

_SOURCE = r"""
#define TY __ROWS__
#define UNROLL __UNROLL__
#define CT __COMBINE__
// A thread's one-pass sums are redone with Welford's update when its mean
// lies farther than sqrt(CANCEL) standard deviations from its first value
// (the one-pass variance then loses up to CANCEL ulps).
#define CANCEL 64.0
// Shifts (reference values) beyond this magnitude are 0: x - ref can then
// never overflow (sknorm._stats.shift_limit, the same float64 value).
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

// An accumulator: total weight w, observation count n, reference value ref
// (the first value observed with a positive weight, meaningful when w > 0:
// a zero-weight row, e.g. a sentinel far from the data, never becomes the
// reference), mean of x - ref over the weighted observations, and the sum
// of squared deviations m2.
struct Acc { double w, n, ref, mean, m2; };

__device__ __forceinline__ void acc_zero(Acc& a) {
    a.w = 0.0; a.n = 0.0; a.ref = 0.0; a.mean = 0.0; a.m2 = 0.0;
}

// West (1979): the weighted Welford update.
__device__ __forceinline__ void acc_push(Acc& a, double x, double wr) {
    a.n += 1.0;
    if (wr == 0.0) return;
    if (a.w == 0.0) a.ref = bounded(x);
    double d = x - a.ref;
    a.w += wr;
    double delta = d - a.mean;
    a.mean = moved_mean(a.mean, delta, wr / a.w, d);
    a.m2 += wr * delta * (d - a.mean);
}

// Chan, Golub & LeVeque: b merged into a.  b's mean is moved to a's
// reference first (two values of one feature: their difference is exact
// or accurate relative to the spread).
__device__ __forceinline__ void acc_merge(Acc& a, const Acc& b) {
    if (b.n == 0.0) return;
    if (a.n == 0.0) { a = b; return; }
    a.n += b.n;
    if (b.w == 0.0) return;
    double mb = (b.ref - a.ref) + b.mean;
    if (a.w == 0.0) { a.w = b.w; a.ref = b.ref; a.mean = b.mean; a.m2 = b.m2; return; }
    double total = a.w + b.w;
    double fb = b.w / total;
    double delta = mb - a.mean;
    a.mean = delta - delta == 0.0 ? a.mean + delta * fb
                                  : (1.0 - fb) * a.mean + fb * mb;
    a.m2 += b.m2 + delta * delta * (a.w * fb);
    a.w = total;
}

__device__ __forceinline__ void acc_store(double* out, long long plane,
                                          long long i, const Acc& a) {
    out[i] = a.w; out[plane + i] = a.n; out[2 * plane + i] = a.ref;
    out[3 * plane + i] = a.mean; out[4 * plane + i] = a.m2;
}

__device__ __forceinline__ Acc acc_load(const double* in, long long plane,
                                        long long i) {
    Acc a;
    a.w = in[i]; a.n = in[plane + i]; a.ref = in[2 * plane + i];
    a.mean = in[3 * plane + i]; a.m2 = in[4 * plane + i];
    return a;
}

// One thread's rows of one feature, summed around the thread's first
// observed value: S1 = sum w d, S2 = sum w d^2 with d = x - ref (a few
// float64 operations per element, no division).  The variance
// S2/W - (S1/W)^2 is exact to a few ulps while the mean stays within a few
// standard deviations of ref; where it does not (the first value an
// outlier), or a sum overflowed (values near the float maximum), the rows
// are read again with Welford's update, which has neither problem.
__device__ Acc thread_moments(const T* __restrict__ col, const long long rs,
                              const long long r0, const long long r1,
                              const double* __restrict__ weights,
                              const int weighted, bool& bad) {
    Acc a;
    acc_zero(a);
    long long cnt = 0;
    bool has_ref = false;
    double ref = 0.0, s1 = 0.0, s2 = 0.0, wsum = 0.0;
    for (long long r = r0; r < r1; r += UNROLL * TY) {
        T v[UNROLL];
        double wv[UNROLL];
        bool ok[UNROLL];
        #pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            const long long rr = r + (long long)u * TY;
            ok[u] = rr < r1;
            v[u] = ok[u] ? col[rr * rs] : (T)0;
            wv[u] = (weighted && ok[u]) ? weights[rr] : 1.0;
        }
        #pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            const T x = v[u];
            if (!ok[u] || x != x) continue;               // NaN: not observed
            if (x - x != (T)0) { bad = true; continue; }  // +-inf
            const double xd = (double)x;
            ++cnt;
            if (weighted && wv[u] == 0.0) continue;  // counted, not summed
            if (!has_ref) { ref = bounded(xd); has_ref = true; }
            const double d = xd - ref;
            if (weighted) {
                const double wd = wv[u] * d;
                wsum += wv[u];
                s1 += wd;
                s2 = fma(wd, d, s2);
            } else {
                s1 += d;
                s2 = fma(d, d, s2);
            }
        }
    }
    if (!weighted) wsum = (double)cnt;
    a.n = (double)cnt;
    a.ref = ref;
    if (wsum > 0.0) {
        a.w = wsum;
        a.mean = s1 / wsum;
        a.m2 = s2 - s1 * a.mean;
        if (a.m2 < 0.0) a.m2 = 0.0;
    }
    const bool finite = (s1 - s1 == 0.0) && (s2 - s2 == 0.0);
    if (!bad && (!finite || a.mean * a.mean * wsum > CANCEL * a.m2) && wsum > 0.0) {
        acc_zero(a);
        for (long long r = r0; r < r1; r += TY) {
            const T x = col[r * rs];
            if (x != x) continue;
            acc_push(a, (double)x, weighted ? weights[r] : 1.0);
        }
    }
    return a;
}

// Per chunk of rows (blockIdx.y) and 32 features (blockIdx.x): one Acc per
// feature in part[0:5][n_chunks][f], and in part[5] whether the block saw
// an infinite value (flags in the same buffer: nothing to zero first).
extern "C" __global__ void sknorm_moments_partial(
    const T* __restrict__ X, const long long n, const int f,
    const long long rs, const long long cs,
    const double* __restrict__ weights, const int weighted,
    const long long chunk_rows, const long long n_chunks,
    double* __restrict__ part)
{
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.x * 32 + tx;
    const long long chunk = blockIdx.y;
    const long long r0 = chunk * chunk_rows;
    long long r1 = r0 + chunk_rows;
    if (r1 > n) r1 = n;
    Acc a;
    acc_zero(a);
    bool bad = false;
    if (c < f)
        a = thread_moments(X + (long long)c * cs, rs, r0 + ty, r1, weights,
                           weighted, bad);
    __shared__ Acc sh[TY][32];
    sh[ty][tx] = a;
    __syncthreads();
    for (int stride = TY / 2; stride > 0; stride >>= 1) {
        if (ty < stride) {
            acc_merge(a, sh[ty + stride][tx]);
            sh[ty][tx] = a;
        }
        __syncthreads();
    }
    const int any_bad = __syncthreads_or(bad);
    if (ty == 0 && c < f) {
        acc_store(part, n_chunks * f, chunk * f + c, a);
        part[5 * n_chunks * f + chunk * f + c] = any_bad ? 1.0 : 0.0;
    }
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

// All chunks of feature blockIdx.x merged, in a fixed order.
__device__ Acc combine_chunks(const double* __restrict__ part,
                              const long long n_chunks, const int f) {
    const int c = blockIdx.x, t = threadIdx.x;
    const long long plane = n_chunks * f;
    Acc a;
    acc_zero(a);
    for (long long k = t; k < n_chunks; k += CT)
        acc_merge(a, acc_load(part, plane, k * f + c));
    __shared__ Acc sh[CT];
    sh[t] = a;
    __syncthreads();
    for (int stride = CT / 2; stride > 0; stride >>= 1) {
        if (t < stride) {
            acc_merge(a, sh[t + stride]);
            sh[t] = a;
        }
        __syncthreads();
    }
    return a;
}

// out[0:4][f] = count, n_obs, mean of (x - shift), population variance;
// out[4][0] = 1 if X held an infinite value.
extern "C" __global__ void sknorm_moments_combine(
    const double* __restrict__ part, const long long n_chunks, const int f,
    const double* __restrict__ shift, double* __restrict__ out)
{
    any_flag(part + 5 * n_chunks * f, n_chunks * f, out + 4 * f);
    const Acc a = combine_chunks(part, n_chunks, f);
    if (threadIdx.x != 0) return;
    const int c = blockIdx.x;
    const bool seen = a.w > 0.0;
    out[c] = a.w;
    out[f + c] = a.n;
    out[2 * f + c] = seen ? (a.ref - shift[c]) + a.mean : 0.0;
    out[3 * f + c] = seen ? a.m2 / a.w : 0.0;
}

// The batch merged into a running state (count, n_obs, shift, mean, var;
// count 0 for a feature not seen yet; has_state 0: no state at all), then
// recentred: exactly sknorm._stats.update_moments.  out[0:6][f] = the new
// state and its location (shift + mean); out[6][0] = 1 if X held +-inf.
extern "C" __global__ void sknorm_moments_update(
    const double* __restrict__ part, const long long n_chunks, const int f,
    const double* __restrict__ s_count, const double* __restrict__ s_nobs,
    const double* __restrict__ s_shift, const double* __restrict__ s_mean,
    const double* __restrict__ s_var, const int has_state,
    double* __restrict__ out)
{
    any_flag(part + 5 * n_chunks * f, n_chunks * f, out + 6 * f);
    const Acc b = combine_chunks(part, n_chunks, f);
    if (threadIdx.x != 0) return;
    const int c = blockIdx.x;
    const double count_a = has_state ? s_count[c] : 0.0;
    const double n_a = has_state ? s_nobs[c] : 0.0;
    const double shift_a = has_state ? s_shift[c] : 0.0;
    const double mean_a = has_state ? s_mean[c] : 0.0;
    const double var_a = has_state ? s_var[c] : 0.0;
    const bool seen_a = count_a > 0.0, seen_b = b.w > 0.0;
    // The state's shift where it has data, else a value of this batch.
    const double s = seen_a ? shift_a : (seen_b ? b.ref : shift_a);
    const double am = seen_a ? mean_a : 0.0;
    const double bm = seen_b ? (b.ref - s) + b.mean : am;
    const double vb = seen_b ? b.m2 / b.w : 0.0;
    const double total = count_a + b.w;
    const double safe = total > 0.0 ? total : 1.0;
    const double fa = count_a / safe, fb = b.w / safe;
    const double delta = bm - am;
    double mean = moved_mean(am, delta, fb, bm);
    const double var = fa * var_a + fb * vb + fa * fb * delta * delta;
    double shift = s;
    if (total > 0.0) {           // recentred on the running mean
        shift = bounded(s + mean);
        mean = mean - (shift - s);
    }
    out[c] = total;
    out[f + c] = n_a + b.n;
    out[2 * f + c] = shift;
    out[3 * f + c] = mean;
    out[4 * f + c] = var;
    out[5 * f + c] = shift + mean;
}

// One training step of batch normalization (sknorm.MiniBatchNormalizer's
// _step, PyTorch's order of operations): the batch's moments, the running
// statistics updated with momentum (momentum < 0: cumulative average;
// first_batch: the first contributing batch replaces the initial values),
// and gamma / sqrt(var_B + eps) for the training output.  Running state
// (r_mean, r_var, k_mean, k_var) absent when has_state is 0.
// out[0:7][f] = running mean, running var, mean updates, var updates,
// batch mean, batch (biased) var, training scale; out[7][0]: +-inf seen.
__device__ __forceinline__ double bn_factor(const double before,
                                            const double after,
                                            const double momentum,
                                            const int first_batch) {
    if (momentum < 0.0) return 1.0 / (after > 0.0 ? after : 1.0);
    if (first_batch) return before == 0.0 ? 1.0 : momentum;
    return momentum;
}

extern "C" __global__ void sknorm_batchnorm_step(
    const double* __restrict__ part, const long long n_chunks, const int f,
    const double* __restrict__ r_mean, const double* __restrict__ r_var,
    const double* __restrict__ k_mean, const double* __restrict__ k_var,
    const int has_state, const double momentum, const int first_batch,
    const double* __restrict__ gamma, const double gamma_scalar,
    const int gamma_is_array, const double eps, double* __restrict__ out)
{
    any_flag(part + 5 * n_chunks * f, n_chunks * f, out + 7 * f);
    const Acc b = combine_chunks(part, n_chunks, f);
    if (threadIdx.x != 0) return;
    const int c = blockIdx.x;
    const double count = b.w;
    const double mean_b = count > 0.0 ? b.ref + b.mean : 0.0;
    const double var_b = count > 0.0 ? b.m2 / count : 0.0;
    const bool has_mean = count > 0.0, has_var = count > 1.0;
    const double unbiased = (var_b * count) / (has_var ? count - 1.0 : 1.0);
    const double rm = has_state ? r_mean[c] : 0.0;
    const double rv = has_state ? r_var[c] : 1.0;
    const double km = has_state ? k_mean[c] : 0.0;
    const double kv = has_state ? k_var[c] : 0.0;
    const double km_new = km + (has_mean ? 1.0 : 0.0);
    const double kv_new = kv + (has_var ? 1.0 : 0.0);
    const double f_mean = bn_factor(km, km_new, momentum, first_batch);
    const double f_var = bn_factor(kv, kv_new, momentum, first_batch);
    out[c] = has_mean ? f_mean * mean_b + (1.0 - f_mean) * rm : rm;
    out[f + c] = has_var ? f_var * unbiased + (1.0 - f_var) * rv : rv;
    out[2 * f + c] = km_new;
    out[3 * f + c] = kv_new;
    out[4 * f + c] = mean_b;
    out[5 * f + c] = var_b;
    const double g = gamma_is_array ? gamma[c] : gamma_scalar;
    out[6 * f + c] = g * (1.0 / sqrt(var_b + eps));
}

// D = sqrt(w) * (X - shift) in float64 (C order, for a cuBLAS Gram
// product D^T D = sum w d d^T), and per chunk part[0] = sum w d,
// part[1] = sum w: the co-moments' one pass over X.
extern "C" __global__ void sknorm_shift_rows(
    const T* __restrict__ X, const long long n, const int f,
    const long long rs, const long long cs,
    const double* __restrict__ shift, const double* __restrict__ weights,
    const int weighted, double* __restrict__ D,
    const long long chunk_rows, const long long n_chunks,
    double* __restrict__ part)
{
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.x * 32 + tx;
    const long long chunk = blockIdx.y;
    const long long r0 = chunk * chunk_rows;
    long long r1 = r0 + chunk_rows;
    if (r1 > n) r1 = n;
    double s1 = 0.0, ws = 0.0;
    if (c < f) {
        const double s = shift[c];
        const T* col = X + (long long)c * cs;
        for (long long r = r0 + ty; r < r1; r += UNROLL * TY) {
            T v[UNROLL];
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const long long rr = r + (long long)u * TY;
                v[u] = rr < r1 ? col[rr * rs] : (T)0;
            }
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const long long rr = r + (long long)u * TY;
                if (rr >= r1) continue;
                const double d = (double)v[u] - s;
                if (weighted) {
                    const double w = weights[rr];
                    D[rr * f + c] = sqrt(w) * d;
                    s1 += w * d;
                    ws += w;
                } else {
                    D[rr * f + c] = d;
                    s1 += d;
                    ws += 1.0;
                }
            }
        }
    }
    __shared__ double sh1[TY][32], shw[TY][32];
    sh1[ty][tx] = s1; shw[ty][tx] = ws;
    __syncthreads();
    for (int stride = TY / 2; stride > 0; stride >>= 1) {
        if (ty < stride) {
            s1 += sh1[ty + stride][tx]; ws += shw[ty + stride][tx];
            sh1[ty][tx] = s1; shw[ty][tx] = ws;
        }
        __syncthreads();
    }
    if (ty == 0 && c < f) {
        part[chunk * f + c] = s1;
        part[n_chunks * f + chunk * f + c] = ws;
    }
}

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

// NaN-aware minimum and maximum per chunk: part[0:2][n_chunks][f], +inf
// and -inf where a chunk observed nothing; part[2]: the block saw +-inf.
extern "C" __global__ void sknorm_min_max_partial(
    const T* __restrict__ X, const long long n, const int f,
    const long long rs, const long long cs,
    const long long chunk_rows, const long long n_chunks,
    T* __restrict__ part, const T inf)
{
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.x * 32 + tx;
    const long long chunk = blockIdx.y;
    const long long r0 = chunk * chunk_rows;
    long long r1 = r0 + chunk_rows;
    if (r1 > n) r1 = n;
    T lo = inf, hi = -inf;
    bool bad = false;
    if (c < f) {
        const T* col = X + (long long)c * cs;
        for (long long r = r0 + ty; r < r1; r += UNROLL * TY) {
            T v[UNROLL];
            bool ok[UNROLL];
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const long long rr = r + (long long)u * TY;
                ok[u] = rr < r1;
                v[u] = ok[u] ? col[rr * rs] : (T)0;
            }
            #pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const T x = v[u];
                if (!ok[u] || x != x) continue;
                if (x - x != (T)0) bad = true;
                lo = x < lo ? x : lo;
                hi = x > hi ? x : hi;
            }
        }
    }
    __shared__ T sl[TY][32], shh[TY][32];
    sl[ty][tx] = lo; shh[ty][tx] = hi;
    __syncthreads();
    for (int stride = TY / 2; stride > 0; stride >>= 1) {
        if (ty < stride) {
            const T l2 = sl[ty + stride][tx], h2 = shh[ty + stride][tx];
            lo = l2 < lo ? l2 : lo;
            hi = h2 > hi ? h2 : hi;
            sl[ty][tx] = lo; shh[ty][tx] = hi;
        }
        __syncthreads();
    }
    const int any_bad = __syncthreads_or(bad);
    if (ty == 0 && c < f) {
        part[chunk * f + c] = lo;
        part[n_chunks * f + chunk * f + c] = hi;
        part[2 * n_chunks * f + chunk * f + c] = any_bad ? (T)1 : (T)0;
    }
}

// Over the chunks, then NaN-aware into the running state (s_lo, s_hi in
// float64; NaN: nothing seen; has_state 0: no state).  out[0:2][f] in
// float64 (X's values exactly), NaN where nothing was ever observed;
// out[2][0] = 1 if X held +-inf.
extern "C" __global__ void sknorm_min_max_combine(
    const T* __restrict__ part, const long long n_chunks, const int f,
    const double* __restrict__ s_lo, const double* __restrict__ s_hi,
    const int has_state, const T inf, const double nan,
    double* __restrict__ out)
{
    any_flag(part + 2 * n_chunks * f, n_chunks * f, out + 2 * f);
    const int c = blockIdx.x, t = threadIdx.x;
    T lo = inf, hi = -inf;
    for (long long k = t; k < n_chunks; k += CT) {
        const T l2 = part[k * f + c], h2 = part[n_chunks * f + k * f + c];
        lo = l2 < lo ? l2 : lo;
        hi = h2 > hi ? h2 : hi;
    }
    __shared__ T sl[CT], shh[CT];
    sl[t] = lo; shh[t] = hi;
    __syncthreads();
    for (int stride = CT / 2; stride > 0; stride >>= 1) {
        if (t < stride) {
            const T l2 = sl[t + stride], h2 = shh[t + stride];
            lo = l2 < lo ? l2 : lo;
            hi = h2 > hi ? h2 : hi;
            sl[t] = lo; shh[t] = hi;
        }
        __syncthreads();
    }
    if (t != 0) return;
    double dlo = (double)lo, dhi = (double)hi;
    // lo = +inf with hi = -inf: nothing observed (an observed v has lo <= v).
    if (lo == inf && hi == -inf) { dlo = nan; dhi = nan; }
    if (has_state) {
        const double a_lo = s_lo[c], a_hi = s_hi[c];
        if (a_lo == a_lo) dlo = (dlo != dlo || a_lo < dlo) ? a_lo : dlo;
        if (a_hi == a_hi) dhi = (dhi != dhi || a_hi > dhi) ? a_hi : dhi;
    }
    out[c] = dlo;
    out[f + c] = dhi;
}
"""


def _cupy():
    import cupy

    return cupy


@cache
def _module(type_name):
    cp = _cupy()
    code = (
        _SOURCE.replace("__T__", type_name)
        .replace("__ROWS__", str(ROWS_PER_BLOCK))
        .replace("__UNROLL__", str(UNROLL))
        .replace("__COMBINE__", str(COMBINE_THREADS))
    )
    # No FMA contraction: the elementwise kernels round each step as the
    # generic kernel does (the sums use explicit fma() where they want one).
    return cp.RawModule(code=code, options=("--std=c++17", "--fmad=false"))


_kernels = {}


def _kernel(name, dtype):
    """The compiled kernel ``name`` for X's dtype (looked up once: a dtype's
    ``.name`` alone costs microseconds per call)."""
    key = (name, dtype)
    kernel = _kernels.get(key)
    if kernel is None:
        type_name = {"float32": "float", "float64": "double"}[np.dtype(dtype).name]
        kernel = _kernels[key] = _module(type_name).get_function(name)
    return kernel


def _device_id(X):
    return X.device.id


@cache
def _multiprocessors(device_id):
    cp = _cupy()
    return cp.cuda.Device(device_id).attributes["MultiProcessorCount"]


def _float_input(X):
    """X as float32/float64 (the kernels' two instantiations): float16 as
    float32 (its values exactly; a full-size copy, twice the memory of X:
    the kernels have no half instantiation), other dtypes as float64."""
    cp = _cupy()
    if X.dtype in (cp.float32, cp.float64):
        return X
    return X.astype(cp.float32 if X.dtype == cp.float16 else cp.float64)


def _rounded_once(X, Y, copy):
    """A float32 result ``Y`` of float16 ``X`` rounded to float16 once: a
    new array, or written into X (``copy=False``)."""
    if copy:
        return Y.astype(X.dtype)
    X[...] = Y
    return X


def _row_blocks(X):
    """``(column blocks, row blocks)`` of a grid over X: 32 features a
    block, enough blocks to fill the device (BLOCKS_PER_SM per
    multiprocessor), each thread with at least UNROLL rows, at most
    MAX_CHUNKS row blocks."""
    n, f = X.shape
    col_blocks = math.ceil(f / 32)
    target = _multiprocessors(_device_id(X)) * BLOCKS_PER_SM
    by_rows = math.ceil(n / (ROWS_PER_BLOCK * UNROLL))
    return col_blocks, max(1, min(by_rows, math.ceil(target / col_blocks), MAX_CHUNKS))


def _geometry(X):
    """``(grid, block, chunk_rows, n_chunks, row_stride, col_stride)`` of
    the reductions: each row block is one chunk of consecutive rows."""
    n = X.shape[0]
    col_blocks, n_chunks = _row_blocks(X)
    chunk_rows = math.ceil(n / n_chunks)
    n_chunks = math.ceil(n / chunk_rows)
    item = X.dtype.itemsize
    strides = (X.strides[0] // item, X.strides[1] // item)
    return (col_blocks, n_chunks), (32, ROWS_PER_BLOCK), chunk_rows, n_chunks, strides


def _stream_grid(X):
    """``(grid, block)`` of the elementwise kernels, whose blocks walk the
    rows with a grid stride."""
    return _row_blocks(X), (32, ROWS_PER_BLOCK)


def find_nonfinite(X, allow_nan):
    """Whether X holds +-inf (or NaN, unless ``allow_nan``): one read of X,
    then one host read of a flag (validation's check, which synchronises by
    nature)."""
    cp = _cupy()
    X = _float_input(X)
    n, f = X.shape
    grid, block = _stream_grid(X)
    flags = cp.empty(grid[0] * grid[1], dtype=cp.int32)
    item = X.dtype.itemsize
    _kernel("sknorm_find_nonfinite", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(X.strides[0] // item),
            np.int64(X.strides[1] // item),
            np.int32(bool(allow_nan)),
            flags,
        ),
    )
    return bool(flags.any())


def _raise_on_infinity(flag, dtype):
    """The one host read of a kernel (``flag``: a 0-d device array), skipped
    under ``assume_finite``."""
    if get_config()["assume_finite"]:
        return
    if bool(flag):  # a synchronisation: the caller asked for the check
        raise NonFiniteError.for_dtype(np.dtype(dtype).name)


def _as_float64_vector(a):
    """A contiguous float64 vector for a kernel pointer (no copy when it
    already is one: the fused kernels' own outputs are)."""
    cp = _cupy()
    if a.dtype == cp.float64 and a.flags.c_contiguous:
        return a
    return cp.ascontiguousarray(a, dtype=cp.float64)


def _moment_parts(X, weights):
    """Run the partial kernel: ``(part, n_chunks)``."""
    cp = _cupy()
    n, f = X.shape
    grid, block, chunk_rows, n_chunks, (rs, cs) = _geometry(X)
    part = cp.empty((6, n_chunks, f), dtype=cp.float64)
    if weights is None:
        w, weighted = part, 0  # any float64 pointer; never read
    else:
        w, weighted = _as_float64_vector(weights), 1
    _kernel("sknorm_moments_partial", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(rs),
            np.int64(cs),
            w,
            np.int32(weighted),
            np.int64(chunk_rows),
            np.int64(n_chunks),
            part,
        ),
    )
    return part, n_chunks


def moments(X, shift, weights, dtype):
    cp = _cupy()
    X = _float_input(X)
    f = X.shape[1]
    part, n_chunks = _moment_parts(X, weights)
    out = cp.empty((5, f), dtype=cp.float64)
    _kernel("sknorm_moments_combine", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (part, np.int64(n_chunks), np.int32(f), _as_float64_vector(shift), out),
    )
    _raise_on_infinity(out[4, 0], X.dtype)
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out[0], out[1], out[2], out[3]


def update_moments(state, X, weights, dtype):
    """``(count, n_obs, shift, mean, var)``: the batch merged into ``state``
    (a ``Moments`` or None) and recentred, in two launches."""
    cp = _cupy()
    X = _float_input(X)
    f = X.shape[1]
    part, n_chunks = _moment_parts(X, weights)
    if state is None:
        previous, has_state = [part] * 5, 0  # never read
    else:
        previous, has_state = [_as_float64_vector(a) for a in state[:5]], 1
    out = cp.empty((7, f), dtype=cp.float64)
    _kernel("sknorm_moments_update", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (part, np.int64(n_chunks), np.int32(f), *previous, np.int32(has_state), out),
    )
    _raise_on_infinity(out[6, 0], X.dtype)
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out[0], out[1], out[2], out[3], out[4]


def batchnorm_step(state, X, weights, *, momentum, first_batch, gamma, eps):
    """One batch-normalization training step in two launches.

    ``state``: ``(running_mean, running_var, mean_updates, var_updates)``
    or None; ``momentum``: a float, or None for the cumulative average;
    ``gamma``: a float or a (n_features,) array.  Returns ``(running_mean,
    running_var, mean_updates, var_updates, batch_mean, batch_var,
    training_scale)``, float64 (n_features,) arrays (``training_scale`` is
    ``gamma / sqrt(batch_var + eps)``).
    """
    cp = _cupy()
    X = _float_input(X)
    f = X.shape[1]
    part, n_chunks = _moment_parts(X, weights)
    if state is None:
        previous, has_state = [part] * 4, 0  # never read
    else:
        previous, has_state = [_as_float64_vector(a) for a in state], 1
    if isinstance(gamma, float):
        gamma_array, gamma_scalar, is_array = part, gamma, 0
    else:
        gamma = cp.asarray(gamma)
        if gamma.size == 1:  # one value for every feature, left on the device
            gamma = cp.broadcast_to(gamma.reshape(1), (f,))
        gamma_array, gamma_scalar, is_array = _as_float64_vector(gamma), 0.0, 1
    out = cp.empty((8, f), dtype=cp.float64)
    _kernel("sknorm_batchnorm_step", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (
            part,
            np.int64(n_chunks),
            np.int32(f),
            *previous,
            np.int32(has_state),
            np.float64(-1.0 if momentum is None else momentum),
            np.int32(bool(first_batch)),
            gamma_array,
            np.float64(gamma_scalar),
            np.int32(is_array),
            np.float64(eps),
            out,
        ),
    )
    _raise_on_infinity(out[7, 0], X.dtype)
    return tuple(out[k] for k in range(7))


def _min_max(X, state):
    cp = _cupy()
    X = _float_input(X)
    n, f = X.shape
    grid, block, chunk_rows, n_chunks, (rs, cs) = _geometry(X)
    scalar = X.dtype.type
    part = cp.empty((3, n_chunks, f), dtype=X.dtype)
    _kernel("sknorm_min_max_partial", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(rs),
            np.int64(cs),
            np.int64(chunk_rows),
            np.int64(n_chunks),
            part,
            scalar(np.inf),
        ),
    )
    if state is None:
        previous, has_state = [_dummy(), _dummy()], 0  # never read
    else:
        previous, has_state = [_as_float64_vector(a) for a in state], 1
    out = cp.empty((3, f), dtype=cp.float64)
    _kernel("sknorm_min_max_combine", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (
            part,
            np.int64(n_chunks),
            np.int32(f),
            *previous,
            np.int32(has_state),
            scalar(np.inf),
            np.float64(np.nan),
            out,
        ),
    )
    _raise_on_infinity(out[2, 0], X.dtype)
    return out[0], out[1]


def min_max(X):
    lo, hi = _min_max(X, None)
    return lo.astype(X.dtype), hi.astype(X.dtype)


def update_min_max(state, X):
    """NaN-aware ``(min, max)`` of ``state`` (a ``MinMaxState`` or None)
    and X together, in two launches; float64 whatever X's dtype (X's values
    exactly: what the estimator keeps, with no cast per call)."""
    return _min_max(X, state)


# ------------------------------------------------------------ transforms ----
@cache
def _affine_elementwise(has_center, has_scale, has_offset):
    """Any layout (CuPy's indexing handles strides and broadcasting)."""
    cp = _cupy()
    params, expr = ["T x"], "x"
    if has_center:
        params.append("T c")
        expr = f"({expr} - c)"
    if has_scale:
        params.append("T s")
        expr = f"({expr} * s)"
    if has_offset:
        params.append("T o")
        expr = f"({expr} + o)"
    return cp.ElementwiseKernel(
        ", ".join(params),
        "T y",
        f"y = {expr};",
        "sknorm_affine_any_layout",
        options=("--fmad=false",),
    )


def _rows_contiguous(A):
    return A.ndim == 2 and A.strides[1] == A.dtype.itemsize and A.strides[0] >= 0


def _term(t, f):
    """A float64 term and its step (1: per feature, 0: one value), or None
    when it cannot be passed as it is."""
    if t.ndim > 1 or t.size not in (1, f):
        return None
    step = 1 if (t.ndim == 1 and t.size == f and f > 1) else 0
    return _as_float64_vector(t), step


def _check_mode(check):
    """The kernels' check code: 0 (none, also under ``assume_finite``), 1
    (+-inf), 2 (NaN or +-inf)."""
    if check is None or get_config()["assume_finite"]:
        return 0
    return _CHECK_MODES[check]


def _error(mode):
    if mode == 1:
        return NonFiniteError.infinity()
    return NonFiniteError.nan_or_infinity()


def _raise_if_bad(bad_blocks, mode):
    if mode and bool(bad_blocks.any()):  # a synchronisation: asked for
        raise _error(mode)


def _precheck(X, mode):
    """The check of X before it is overwritten in place (a separate read:
    a failed transform must leave the caller's array as it was)."""
    if mode and find_nonfinite(X, allow_nan=mode == 1):
        raise _error(mode)


def affine(X, center, scale, offset, copy, check=None):
    """``(X - center) * scale + offset`` in one pass over X.

    ``check``: None, "inf" or "nonfinite": X is checked in the same pass
    (with ``copy``; in place, by a read before) and NonFiniteError raised.
    """
    cp = _cupy()
    if X.dtype == cp.float16:  # computed in float32, rounded once
        Y = affine(_float_input(X), center, scale, offset, True, check)
        return _rounded_once(X, Y, copy)
    X = _float_input(X)
    n, f = X.shape
    mode = _check_mode(check)
    if mode and not copy:
        _precheck(X, mode)
        mode = 0
    terms = [
        None if a is None else _term(cp.asarray(a), f) for a in (center, scale, offset)
    ]
    given = [a is not None for a in (center, scale, offset)]
    if not _rows_contiguous(X) or any(
        g and t is None for g, t in zip(given, terms, strict=True)
    ):
        kernel = _affine_elementwise(*given)
        args = [
            cp.asarray(a, dtype=X.dtype)
            for a in (center, scale, offset)
            if a is not None
        ]
        _precheck(X, mode)
        out = cp.empty_like(X) if copy else X
        kernel(X, *args, out)
        return out
    out = cp.empty((n, f), dtype=X.dtype) if copy else X
    flags, args = 0, []
    for bit, term in zip((1, 2, 4), terms, strict=True):
        if term is None:
            args += [_dummy(), np.int32(0)]  # never read
            continue
        flags |= bit
        args += [term[0], np.int32(term[1])]
    item = X.dtype.itemsize
    grid, block = _stream_grid(X)
    bad_blocks = (
        cp.empty(grid[0] * grid[1], dtype=cp.int32) if mode else _dummy("int32")
    )
    _kernel("sknorm_affine", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(X.strides[0] // item),
            out,
            np.int64(out.strides[0] // item),
            *args,
            np.int32(flags),
            np.int32(mode),
            bad_blocks,
        ),
    )
    _raise_if_bad(bad_blocks, mode)
    return out


@cache
def _dummy_for(device_id, dtype):
    return _cupy().zeros(1, dtype=dtype)


def _dummy(dtype="float64"):
    """A pointer of ``dtype`` for a kernel argument that is never read or
    written (one per device)."""
    return _dummy_for(_cupy().cuda.Device().id, dtype)


def shift_rows(block, shift, weights, out):
    """``out = sqrt(w) (block - shift)`` in float64 (C order, the block's
    shape) by one kernel; returns the ``(2, chunks, n_features)`` partial
    sums of ``w (x - shift)`` and of ``w``."""
    cp = _cupy()
    n, f = block.shape
    grid, threads, chunk_rows, n_chunks, (rs, cs) = _geometry(block)
    part = cp.empty((2, n_chunks, f), dtype=cp.float64)
    _kernel("sknorm_shift_rows", block.dtype)(
        grid,
        threads,
        (
            block,
            np.int64(n),
            np.int32(f),
            np.int64(rs),
            np.int64(cs),
            shift,
            part if weights is None else weights,
            np.int32(weights is not None),
            out,
            np.int64(chunk_rows),
            np.int64(n_chunks),
            part,
        ),
    )
    return part


# Rows of X per block of the co-moments: the float64 block D is reused for
# every block (2**25 elements: 256 MiB, 5% of a 10,000,000 x 64 float64
# X).  Measured on an H200 (benchmarks/probe_whitening.py): 2**22 14.2 ms,
# 2**23 8.2, 2**24 6.3, 2**25 5.7, 2**26 5.5 for the co-moments of that X:
# smaller blocks spend their time launching.
COMOMENT_BLOCK_ELEMENTS = 1 << 25
# Rows whose mean is the co-moments' local shift.
HEAD_ROWS = 1024


def comoments(X, shift, weights, dtype):
    """Total weight, mean of ``X - shift`` and population covariance.

    One pass over X per row block writes ``D = sqrt(w) (X - s)`` in float64
    with its column sums (a compiled kernel), and cuBLAS adds ``D^T D`` to
    the Gram matrix; the covariance is ``G / W - m m^T`` with ``m`` the mean
    of ``D``.  That subtraction loses ``(|m| / spread)^2`` ulps, so ``s`` is
    not the caller's shift (a first row, possibly far from this batch: an
    outlier, or data that drifted) but the mean of the batch's first rows
    (at most HEAD_ROWS of them, a short extra read).
    """
    cp = _cupy()
    X = _float_input(X)
    n, f = X.shape
    rows = max(1, min(n, COMOMENT_BLOCK_ELEMENTS // max(1, f)))
    shift = _as_float64_vector(shift)
    w = None if weights is None else _as_float64_vector(weights)
    buffer = cp.empty((rows, f), dtype=cp.float64)

    def shifted_block(start, stop, s):
        weights = None if w is None else w[start:stop]
        return shift_rows(X[start:stop], s, weights, buffer[: stop - start])

    def mean_of(part):
        total = cp.sum(part, axis=1)  # (2, f): sum of w d, and W per column
        safe = cp.where(total[1] > 0, total[1], 1.0)
        return total[0] / safe, total[1, 0]

    # The head rows go through the same buffer: at most one block of them.
    head_mean, _ = mean_of(shifted_block(0, min(n, HEAD_ROWS, rows), shift))
    local = shift + head_mean
    gram = cp.zeros((f, f), dtype=cp.float64)
    sums = []
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        sums.append(shifted_block(start, stop, local))
        D = buffer[: stop - start]
        gram += D.T @ D
    part = sums[0] if len(sums) == 1 else cp.concatenate(sums, axis=1)
    mean, count = mean_of(part)
    safe = cp.where(count > 0, count, 1.0)
    cov = gram / safe - mean[:, None] * mean[None, :]
    mean = (local - shift) + mean  # around the caller's shift
    if dtype != cp.float64:
        count, mean, cov = (a.astype(dtype) for a in (count, mean, cov))
    return count, mean, cov


def linear(X, center, matrix, copy, check=None):
    """``(X - center) @ matrix.T``: each row block centred by a compiled
    kernel into one reused buffer (X's dtype, the generic kernel's rounding),
    multiplied by cuBLAS straight into its rows of the output.  ``check``
    as in :func:`affine`, done by the centring kernel."""
    cp = _cupy()
    if X.dtype == cp.float16:  # computed in float32, rounded once
        return linear(_float_input(X), center, matrix, True, check).astype(X.dtype)
    X = _float_input(X)
    matrix = cp.asarray(matrix, dtype=X.dtype)
    mode = _check_mode(check)
    if center is None:
        _precheck(X, mode)
        return X @ matrix.T
    n, f = X.shape
    rows = max(1, min(n, COMOMENT_BLOCK_ELEMENTS // max(1, f)))
    center = _as_float64_vector(center)
    out = cp.empty((n, matrix.shape[0]), dtype=X.dtype)
    buffer = cp.empty((rows, f), dtype=X.dtype)
    matrix_t = matrix.T
    item = X.dtype.itemsize
    bad = []
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block, centred = X[start:stop], buffer[: stop - start]
        grid, threads = _stream_grid(block)
        bad_blocks = _dummy("int32")
        if mode:
            bad_blocks = cp.empty(grid[0] * grid[1], dtype=cp.int32)
            bad.append(bad_blocks)
        _kernel("sknorm_center_rows", X.dtype)(
            grid,
            threads,
            (
                block,
                np.int64(stop - start),
                np.int32(f),
                np.int64(block.strides[0] // item),
                np.int64(block.strides[1] // item),
                center,
                centred,
                np.int32(mode),
                bad_blocks,
            ),
        )
        cp.matmul(centred, matrix_t, out=out[start:stop])
    if mode:
        _raise_if_bad(bad[0] if len(bad) == 1 else cp.concatenate(bad), mode)
    return out


def local_response(X, size, alpha, beta, k, check=None):
    """One pass: each output reads its row's window (from the L1 cache).
    ``check`` as in :func:`affine` (a read of X before)."""
    cp = _cupy()
    if X.dtype == cp.float16:  # computed in float32, rounded once
        Y = local_response(_float_input(X), size, alpha, beta, k, check)
        return Y.astype(X.dtype)
    _precheck(X, _check_mode(check))
    if X.dtype not in (cp.float32, cp.float64) or not _rows_contiguous(X):
        return matmul.local_response(X, size, alpha, beta, k)
    n, f = X.shape
    out = cp.empty((n, f), dtype=X.dtype)
    scalar = X.dtype.type
    grid, block = _stream_grid(X)
    # Window cells further than f - 1 away are always padding: skipped.
    before, after = min(size // 2, f - 1), min((size - 1) // 2, f - 1)
    _kernel("sknorm_local_response", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(X.strides[0] // X.dtype.itemsize),
            out,
            np.int32(before),
            np.int32(after),
            scalar(size),
            scalar(alpha),
            scalar(beta),
            scalar(k),
        ),
    )
    return out
