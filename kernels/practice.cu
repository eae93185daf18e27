// The course's practice kernels (tasks 3.3 and 3.4), exposed for learners.
#include "common.cuh"

// Each block sums its 32 elements (0.0 past `size`) and writes out[blockIdx.x].
// Launch: grid ceil(size / 32), block 32; out has one cell per block.
extern "C" __global__ void sum_practice(double* out, const double* a, long long size) {
    __shared__ double cache[THREADS_PER_BLOCK];
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int t = threadIdx.x;
    cache[t] = i < size ? a[i] : 0.0;
    __syncthreads();
    for (int s = THREADS_PER_BLOCK / 2; s > 0; s >>= 1) {
        if (t < s) cache[t] += cache[t + s];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = cache[0];
}

// out = a @ b for square size x size matrices (size <= 32), packed row-major, in one (32, 32)
// block: everything is moved to shared memory first, each global cell is read once and each
// output cell written once.
extern "C" __global__ void mm_practice(double* out, const double* a, const double* b, long long size) {
    __shared__ double a_shared[TILE][TILE];
    __shared__ double b_shared[TILE][TILE];
    int i = threadIdx.x, j = threadIdx.y;
    bool inside = i < size && j < size;
    a_shared[i][j] = inside ? a[i * size + j] : 0.0;
    b_shared[i][j] = inside ? b[i * size + j] : 0.0;
    __syncthreads();
    if (inside) {
        double acc = 0.0;
        for (long long k = 0; k < size; ++k) acc += a_shared[i][k] * b_shared[k][j];
        out[i * size + j] = acc;
    }
}
