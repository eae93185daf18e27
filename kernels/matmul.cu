// Batched matmul with 32x32 shared-memory tiles (MiniTorch task 3.4).
// Launch: grid (ceil(rows / 32), ceil(cols / 32), batch), block (32, 32).
// Row i = blockIdx.x * 32 + threadIdx.y, column j = blockIdx.y * 32 + threadIdx.x: a warp (32
// consecutive threadIdx.x) holds one row's 32 columns, so it loads 32 consecutive cells of a
// row-major operand, and in the inner loop reads one a_tile cell (a broadcast) and 32
// consecutive b_tile cells (32 banks) — no bank conflicts. The batch is blockIdx.z, and an
// operand with a batch of 1 has batch stride 0. Each global cell of a and b is read once per
// tile, out is written once. Out-of-range threads load 0.0 and still reach every barrier; a
// barrier follows the loads and another follows the compute, before the next tile is loaded.
#include "common.cuh"

extern "C" __global__ void matmul_kernel(MatmulArgs args) {
    __shared__ double a_tile[TILE][TILE];
    __shared__ double b_tile[TILE][TILE];
    long long batch = blockIdx.z;
    int tx = threadIdx.x, ty = threadIdx.y;
    long long i = (long long)blockIdx.x * TILE + ty;
    long long j = (long long)blockIdx.y * TILE + tx;
    const double* a = args.a + args.a_offset + batch * args.a_batch_stride;
    const double* b = args.b + args.b_offset + batch * args.b_batch_stride;

    double acc = 0.0;
    for (long long k0 = 0; k0 < args.inner; k0 += TILE) {
        // Thread (tx, ty) loads a[i, k0 + tx] and b[k0 + ty, j].
        long long ka = k0 + tx, kb = k0 + ty;
        a_tile[ty][tx] = (i < args.rows && ka < args.inner) ? a[i * args.a_row_stride + ka * args.a_col_stride] : 0.0;
        b_tile[ty][tx] = (kb < args.inner && j < args.cols) ? b[kb * args.b_row_stride + j * args.b_col_stride] : 0.0;
        __syncthreads();
        for (int k = 0; k < TILE; ++k) acc += a_tile[ty][k] * b_tile[k][tx];
        __syncthreads();
    }
    if (i < args.rows && j < args.cols) args.out[(batch * args.rows + i) * args.cols + j] = acc;
}
