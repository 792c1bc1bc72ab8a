// NaN-aware per-feature minimum and maximum in one read of X: the partial
// kernel per chunk of rows, then the combine kernel over the chunks and
// into the running state.

#include "common.cuh"

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
