// The embedding lookup's row gather and its gradient's row scatter: one thread per output
// element. Launch: grid ceil(size / 32), block 32 (THREADS_PER_BLOCK).
//
// Ids, and the scatter's positions and offsets, arrive as doubles holding whole numbers (every
// buffer of the backend is f64); the host checked every id against the table's rows.
#include "common.cuh"

// out[n, d] = in[ids[n], d]: `in` is the (V, D) table (any strides), out (N, D) packed.
extern "C" __global__ void gather_rows_kernel(RowsArgs args) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= args.size) return;
    long long n = i / args.dim, d = i % args.dim;
    long long index[MAX_DIMS] = {(long long)args.ids[n], d};
    args.out[i] = args.in[index_to_position(index, args.in_layout)];
}

// out[v, d] = sum of in[p, d] over the positions p whose id is v: `in` is the (N, D) gradient
// (any strides), out (V, D) packed. The host sorts the positions by id (a counting sort):
// row v's are ids[offsets[v]] .. ids[offsets[v + 1] - 1], in increasing order, so each
// thread sums its own list and no two threads write one value (no atomics; the sums come out
// in the order the reference adds them).
extern "C" __global__ void scatter_rows_kernel(RowsArgs args) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= args.size) return;
    long long v = i / args.dim, d = i % args.dim;
    double acc = 0.0;
    long long end = (long long)args.offsets[v + 1];
    for (long long k = (long long)args.offsets[v]; k < end; k++) {
        long long index[MAX_DIMS] = {(long long)args.ids[k], d};
        acc += args.in[index_to_position(index, args.in_layout)];
    }
    args.out[i] = acc;
}
