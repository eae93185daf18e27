// 2-D cross-correlation (MiniTorch tasks 4.1, 4.2 and the extra credit 4.4b); 1-D
// convolutions arrive as a height of 1. Output cell (b, o, y, x) sums the window's terms
// weight[o, c, i, j] * input[b, c, y + i, x + j] (y - i, x - j when reverse) over c, i, j,
// reading 0 outside the input. Operands are read through their layouts (any strides).
// Two launches (launch::conv2d picks one):
// - conv2d_kernel: grid ceil(size / 32), block 32: one thread per output cell.
// - conv2d_block_kernel: grid size, block a power of two from 256 to CONV_BLOCK_MAX_THREADS:
//   one block per output cell, for few cells with long windows (a weight gradient: a cell per
//   weight, each summing over batch x height x width), which one thread per cell would leave
//   to a few warps.
#include "common.cuh"

// Term (c, i, j) of output cell `cell` = (b, o, y, x): weight[o, c, i, j] * input[b, c, y + i,
// x + j] (y - i, x - j when reverse), or 0 where that input cell lies outside the input. A sum
// starts from +0, so adding these zeros leaves it unchanged (as skipping them would).
__device__ inline double conv_term(const ConvArgs& args, const long long* cell, long long c,
                                   long long i, long long j) {
    const Layout& in = args.in_layout;
    const Layout& w = args.w_layout;
    long long b = cell[0], o = cell[1], y = cell[2], x = cell[3];
    long long row = args.reverse ? y - i : y + i;
    long long col = args.reverse ? x - j : x + j;
    if (row < 0 || row >= in.shape[2] || col < 0 || col >= in.shape[3]) return 0.0;
    double wv = args.weight[w.offset + o * w.strides[0] + c * w.strides[1] + i * w.strides[2] +
                            j * w.strides[3]];
    double iv = args.in[in.offset + b * in.strides[0] + c * in.strides[1] + row * in.strides[2] +
                        col * in.strides[3]];
    return wv * iv;
}

extern "C" __global__ void conv2d_kernel(ConvArgs args) {
    long long ordinal = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (ordinal >= args.size) return;
    long long cell[MAX_DIMS];
    to_index(ordinal, args.out_layout, cell);
    long long cin = args.in_layout.shape[1], kh = args.w_layout.shape[2], kw = args.w_layout.shape[3];
    double acc = 0.0;
    for (long long c = 0; c < cin; ++c)
        for (long long i = 0; i < kh; ++i)
            for (long long j = 0; j < kw; ++j) acc += conv_term(args, cell, c, i, j);
    args.out[ordinal] = acc;
}

// One block per output cell: thread k takes the window's terms k, k + blockDim.x, ... (term
// t = (c * kh + i) * kw + j, its digits stepped without division), then block_fold adds the
// threads' partial sums in a fixed order.
extern "C" __global__ void conv2d_block_kernel(ConvArgs args) {
    __shared__ double cache[CONV_BLOCK_MAX_THREADS];
    long long ordinal = blockIdx.x;
    int t = threadIdx.x;
    long long cell[MAX_DIMS];
    to_index(ordinal, args.out_layout, cell);
    long long cin = args.in_layout.shape[1], kh = args.w_layout.shape[2], kw = args.w_layout.shape[3];
    // This thread's first term and the step between its terms, both as digits (c, i, j).
    long long j = t % kw, i = (t / kw) % kh, c = t / (kw * kh);
    long long step = blockDim.x;
    long long sj = step % kw, si = (step / kw) % kh, sc = step / (kw * kh);
    double acc = 0.0;
    while (c < cin) {
        acc += conv_term(args, cell, c, i, j);
        // j + sj < 2 kw and i + 1 + si < 2 kh: one carry per digit.
        j += sj;
        if (j >= kw) { j -= kw; i += 1; }
        i += si;
        if (i >= kh) { i -= kh; c += 1; }
        c += sc;
    }
    double sum = block_fold(cache, OP_SUM, acc);
    if (t == 0) args.out[ordinal] = sum;
}
