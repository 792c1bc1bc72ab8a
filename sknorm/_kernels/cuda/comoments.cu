// The co-moments' one pass over X: the shifted (and weighted) float64 rows
// that cuBLAS multiplies into the Gram matrix, with their sums.

#include "common.cuh"

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
