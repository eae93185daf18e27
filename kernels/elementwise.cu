// map, zip and the in-place axpy: one thread per output element.
// Launch: grid ceil(size / 32), block 32 (THREADS_PER_BLOCK).
#include "common.cuh"

extern "C" __global__ void map_kernel(MapArgs args) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= args.size) return;
    long long pos = args.contiguous ? args.in_layout.offset + i : broadcast_position(i, args.out_layout, args.in_layout);
    args.out[i] = apply_map(args.op, args.in[pos]);
}

extern "C" __global__ void zip_kernel(ZipArgs args) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= args.size) return;
    long long pa, pb;
    if (args.contiguous) {
        pa = args.a_layout.offset + i;
        pb = args.b_layout.offset + i;
    } else {
        pa = broadcast_position(i, args.out_layout, args.a_layout);
        pb = broadcast_position(i, args.out_layout, args.b_layout);
    }
    args.out[i] = apply_zip(args.op, args.a[pa], args.b[pb]);
}

// y[i] += alpha * x[i], in place, both of one shape (any strides).
extern "C" __global__ void axpy_kernel(AxpyArgs args) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= args.size) return;
    long long index[MAX_DIMS];
    to_index(i, args.y_layout, index);
    long long py = index_to_position(index, args.y_layout);
    long long px = index_to_position(index, args.x_layout);
    args.y[py] += args.alpha * args.x[px];
}
