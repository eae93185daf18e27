// reduce: one block per output cell. Each thread folds a strided slice of the reduced
// dimension (so any length is reduced fully), then a shared-memory tree combines the
// partial results. Every thread of the block reaches every barrier.
// Launch: grid out_size, block a power of two from 32 to 1024 (reduce_block_size()).
#include "common.cuh"


extern "C" __global__ void reduce_kernel(ReduceArgs args) {
    __shared__ double cache[REDUCE_MAX_THREADS];
    long long cell = blockIdx.x;
    int t = threadIdx.x;
    // Where this cell's fibre starts in the input.
    long long index[MAX_DIMS];
    to_index(cell, args.out_layout, index);
    index[args.dim] = 0;
    long long base = index_to_position(index, args.in_layout);
    long long len = args.in_layout.shape[args.dim];
    long long step = args.in_layout.strides[args.dim];

    double acc = reduce_start(args.op);
    for (long long k = t; k < len; k += blockDim.x) acc = apply_fold(args.op, acc, args.in[base + k * step]);
    double folded = block_fold(cache, args.op, acc);
    if (t == 0) args.out[cell] = folded;
}
