// The CUDA compatibility header of the cuda-sim backend: lets the kernel sources in kernels/
// compile as host C++, with CUDA's execution model simulated by sim/runtime.cpp.
//
// - Every thread of a block is a fiber (ucontext) with its own stack; the threads of one block
//   run interleaved on one OS thread, switching only at __syncthreads(), which is a real
//   barrier: no thread passes it until every thread of the block has arrived.
// - __shared__ variables are per block (static thread_local storage: blocks of one launch run in
//   turn on one OS thread, concurrent launches on different threads; the next block reuses it,
//   and in CUDA a block also starts with undefined shared memory).
// - threadIdx, blockIdx, blockDim and gridDim read the current fiber's and block's coordinates.
// - A barrier that not all threads reach (some returned, or wait at another __syncthreads) is
//   reported as an error instead of hanging.
#pragma once

#include <math.h>
#include <stdio.h>  // printf in kernels, as on a GPU

struct dim3 {
    unsigned x, y, z;
};

namespace sim {
extern thread_local dim3 thread_idx;
extern thread_local dim3 block_idx;
extern thread_local dim3 block_dim;
extern thread_local dim3 grid_dim;
void syncthreads(int line);
}  // namespace sim

#define threadIdx (sim::thread_idx)
#define blockIdx (sim::block_idx)
#define blockDim (sim::block_dim)
#define gridDim (sim::grid_dim)
#define __syncthreads() sim::syncthreads(__LINE__)
#define __global__
#define __device__
#define __shared__ static thread_local

// CUDA's arithmetic that is never fused into a multiply-add: plain operations on the host,
// where nothing is fused either (ISO C++ mode, and build.rs passes -ffp-contract=off).
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }

namespace sim {
// Runs `invoke(args)` once per thread of every block of `grid`. Returns 0, or an error code:
// 1 = a barrier not reached by all threads of a block, 2 = threads waiting at different barriers.
int launch(void (*invoke)(const void*), const void* args, dim3 grid, dim3 block);
}  // namespace sim
