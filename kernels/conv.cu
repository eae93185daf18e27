// 2-D cross-correlation (MiniTorch tasks 4.1, 4.2 and the extra credit 4.4b); 1-D
// convolutions arrive as a height of 1.
// Launch: grid ceil(size / 32), block 32: one thread per output cell (b, o, y, x), which sums
// weight[o, c, i, j] * input[b, c, y + i, x + j] (y - i, x - j when reverse) over c, i, j,
// reading 0 outside the input. Operands are read through their layouts (any strides).
#include "common.cuh"

extern "C" __global__ void conv2d_kernel(ConvArgs args) {
    long long ordinal = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (ordinal >= args.size) return;
    long long index[MAX_DIMS];
    to_index(ordinal, args.out_layout, index);
    long long b = index[0], o = index[1], y = index[2], x = index[3];
    const Layout& in = args.in_layout;
    const Layout& w = args.w_layout;
    long long cin = in.shape[1], h = in.shape[2], wd = in.shape[3];
    long long kh = w.shape[2], kw = w.shape[3];
    double acc = 0.0;
    for (long long c = 0; c < cin; ++c) {
        for (long long i = 0; i < kh; ++i) {
            long long row = args.reverse ? y - i : y + i;
            if (row < 0 || row >= h) continue;
            for (long long j = 0; j < kw; ++j) {
                long long col = args.reverse ? x - j : x + j;
                if (col < 0 || col >= wd) continue;
                double wv = args.weight[w.offset + o * w.strides[0] + c * w.strides[1] +
                                        i * w.strides[2] + j * w.strides[3]];
                double iv = args.in[in.offset + b * in.strides[0] + c * in.strides[1] +
                                    row * in.strides[2] + col * in.strides[3]];
                acc += wv * iv;
            }
        }
    }
    args.out[ordinal] = acc;
}
