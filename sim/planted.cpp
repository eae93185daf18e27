// Deliberately broken kernels, compiled only into the simulator, so tests can show that
// cuda-sim catches what a GPU would get wrong intermittently.
#include "cuda_sim.h"

#include "../kernels/common.cuh"

// The tiled matmul of kernels/matmul.cu without the barrier after the loads: threads compute
// with tile cells other threads have not written yet.
extern "C" __global__ void planted_matmul_missing_barrier(MatmulArgs args) {
    __shared__ double a_tile[TILE][TILE];
    __shared__ double b_tile[TILE][TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    long long i = (long long)blockIdx.x * TILE + tx;
    long long j = (long long)blockIdx.y * TILE + ty;
    double acc = 0.0;
    for (long long k0 = 0; k0 < args.inner; k0 += TILE) {
        long long ka = k0 + ty, kb = k0 + tx;
        a_tile[tx][ty] = (i < args.rows && ka < args.inner) ? args.a[i * args.a_row_stride + ka * args.a_col_stride] : 0.0;
        b_tile[tx][ty] = (kb < args.inner && j < args.cols) ? args.b[kb * args.b_row_stride + j * args.b_col_stride] : 0.0;
        // (missing: __syncthreads();)
        for (int k = 0; k < TILE; ++k) acc += a_tile[tx][k] * b_tile[k][ty];
        __syncthreads();
    }
    if (i < args.rows && j < args.cols) args.out[i * args.cols + j] = acc;
}

// A map without the bounds guard: the last block's threads write past the output.
extern "C" __global__ void planted_map_out_of_bounds(MapArgs args) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    args.out[i] = args.in[args.in_layout.offset + (i < args.size ? i : 0)];
}

// A block-sum whose barrier sits in a branch that depends on `size`: with a full block
// (size >= 32) every thread reaches it and out[0] is the sum; with fewer values the threads
// past `size` skip it, a divergent barrier.
extern "C" __global__ void planted_divergent_barrier(double* out, const double* a, long long size) {
    __shared__ double cache[THREADS_PER_BLOCK];
    int t = threadIdx.x;
    cache[t] = t < size ? a[t] : 0.0;
    if (t < size) __syncthreads();
    if (t == 0) {
        double sum = 0.0;
        for (int k = 0; k < THREADS_PER_BLOCK; ++k) sum += cache[k];
        out[0] = sum;
    }
}

extern "C" int sim_planted_matmul_missing_barrier(const MatmulArgs* args, dim3 grid, dim3 block) {
    return sim::launch([](const void* p) { planted_matmul_missing_barrier(*static_cast<const MatmulArgs*>(p)); }, args, grid, block);
}

extern "C" int sim_planted_map_out_of_bounds(const MapArgs* args, dim3 grid, dim3 block) {
    return sim::launch([](const void* p) { planted_map_out_of_bounds(*static_cast<const MapArgs*>(p)); }, args, grid, block);
}

extern "C" int sim_planted_divergent_barrier(const PracticeArgs* args, dim3 grid, dim3 block) {
    return sim::launch([](const void* p) {
        auto a = static_cast<const PracticeArgs*>(p);
        planted_divergent_barrier(a->out, a->a, a->size);
    }, args, grid, block);
}
