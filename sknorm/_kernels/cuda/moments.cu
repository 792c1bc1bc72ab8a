// Per-feature moments (count, observations, mean, variance) of a batch in
// one read of X: the partial kernel (one accumulator per feature and chunk
// of rows), then one small kernel over the chunks that gives the moments
// around the caller's shift, merges them into a running state
// (sknorm._stats.update_moments) or takes a batch-normalization step.

#include "common.cuh"

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
