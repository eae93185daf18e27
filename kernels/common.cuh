// Shared definitions of minitorch's CUDA kernels: argument structs (mirrored by
// src/backend/cuda/args.rs, field for field), constants, op codes and the index helpers of
// MiniTorch's tensor_data (to_index, broadcast_index, index_to_position) as device functions.
//
// Each constant and op code here is defined once on this side and once in Rust;
// tests/cuda_sim.rs (`kernel_constants_match_rust`) parses this file and checks every #define
// and static_assert below against the Rust definitions.
//
// Compiled by NVRTC for the GPU, and by the host C++ compiler with sim/cuda_sim.h for the
// cuda-sim backend.
#pragma once

// src/layout.rs MAX_DIMS.
#define MAX_DIMS 8
// src/backend/cuda/launch.rs: threads of an element-wise block, side of a matmul tile, most
// threads of a reduce block, most threads of a conv2d_block_kernel block.
#define THREADS_PER_BLOCK 32
#define TILE 32
#define REDUCE_MAX_THREADS 1024
#define CONV_BLOCK_MAX_THREADS 1024
// src/operators.rs LOG_EPS and IS_CLOSE_TOL.
#define LOG_EPS 1e-6
#define IS_CLOSE_TOL 1e-2

// A strided layout: element index (i0, i1, ...) lives at offset + sum(i_d * strides[d]).
struct Layout {
    long long shape[MAX_DIMS];
    long long strides[MAX_DIMS];
    long long offset;
    long long dims;
};

struct MapArgs {
    double* out;
    const double* in;
    Layout out_layout;   // packed
    Layout in_layout;    // broadcast into out's shape
    long long size;      // elements of out
    long long op;        // MapOp code
    long long contiguous; // 1 when in is packed with out's shape: index by ordinal
};

struct ZipArgs {
    double* out;
    const double* a;
    const double* b;
    Layout out_layout;
    Layout a_layout;
    Layout b_layout;
    long long size;
    long long op;
    long long contiguous;
};

struct ReduceArgs {
    double* out;
    const double* in;
    Layout out_layout;   // the input's shape with dim set to 1, packed
    Layout in_layout;
    long long out_size;
    long long dim;
    long long op;
};

struct MatmulArgs {
    double* out;         // (batch, rows, cols), packed
    const double* a;     // (batch or 1, rows, inner)
    const double* b;     // (batch or 1, inner, cols)
    long long a_offset, a_batch_stride, a_row_stride, a_col_stride;
    long long b_offset, b_batch_stride, b_row_stride, b_col_stride;
    long long batch, rows, cols, inner;
};

struct AxpyArgs {
    double* y;
    const double* x;
    Layout y_layout;
    Layout x_layout;
    long long size;
    double alpha;
};

struct ConvArgs {
    double* out;         // (B, Cout, OH, OW), packed
    const double* in;    // (B, Cin, H, W)
    const double* weight; // (Cout, Cin, KH, KW)
    Layout out_layout;
    Layout in_layout;
    Layout w_layout;
    long long size;      // elements of out
    long long reverse;   // 1: read in[y - i][x - j]
};

// The embedding lookup's row gather (ids: one per output row) and scatter (ids: the gradient's
// rows sorted by id, offsets: where each id's run starts; see embedding.cu).
struct RowsArgs {
    double* out;         // packed
    const double* in;    // the table (gather) or the gradient (scatter)
    const double* ids;
    const double* offsets; // scatter only (V + 1 values)
    Layout in_layout;
    long long size;      // elements of out
    long long dim;       // D, values per row
};

// The practice kernels' and the simulator's planted kernels' arguments (sum_practice and the
// planted block-sum use out, a, size; mm_practice all four).
struct PracticeArgs {
    double* out;
    const double* a;
    const double* b;
    long long size;
};

// Sizes in bytes; args.rs asserts the same numbers for its #[repr(C)] mirrors.
static_assert(sizeof(Layout) == 144, "Layout size");
static_assert(sizeof(MapArgs) == 328, "MapArgs size");
static_assert(sizeof(ZipArgs) == 480, "ZipArgs size");
static_assert(sizeof(ReduceArgs) == 328, "ReduceArgs size");
static_assert(sizeof(MatmulArgs) == 120, "MatmulArgs size");
static_assert(sizeof(AxpyArgs) == 320, "AxpyArgs size");
static_assert(sizeof(PracticeArgs) == 32, "PracticeArgs size");
static_assert(sizeof(ConvArgs) == 472, "ConvArgs size");
static_assert(sizeof(RowsArgs) == 192, "RowsArgs size");

// Map op codes (the MapOp table of src/backend/ops.rs).
#define OP_NEG 0
#define OP_SIGMOID 1
#define OP_RELU 2
#define OP_LOG 3
#define OP_EXP 4
#define OP_ID 5
#define OP_INV 6

// Zip op codes (ZipOp).
#define OP_ADD 0
#define OP_MUL 1
#define OP_LT 2
#define OP_EQ 3
#define OP_IS_CLOSE 4
#define OP_RELU_BACK 5
#define OP_LOG_BACK 6
#define OP_INV_BACK 7
#define OP_SIGMOID_BACK 8
#define OP_BINARY_NLL 9
#define OP_BINARY_NLL_BACK 10

// Reduce op codes (ReduceOp).
#define OP_SUM 0
#define OP_PROD 1
#define OP_ALL 2
#define OP_MAX 3

// ordinal -> row-major index of `shape` (last dim fastest).
__device__ inline void to_index(long long ordinal, const Layout& l, long long* index) {
    for (long long d = l.dims - 1; d >= 0; --d) {
        index[d] = ordinal % l.shape[d];
        ordinal /= l.shape[d];
    }
}

// index into the big (output) shape -> index into the smaller, right-aligned shape.
__device__ inline void broadcast_index(const long long* big_index, const Layout& big, const Layout& small,
                                       long long* out_index) {
    long long skip = big.dims - small.dims;
    for (long long d = 0; d < small.dims; ++d) {
        out_index[d] = small.shape[d] > 1 ? big_index[d + skip] : 0;
    }
}

__device__ inline long long index_to_position(const long long* index, const Layout& l) {
    long long pos = l.offset;
    for (long long d = 0; d < l.dims; ++d) pos += index[d] * l.strides[d];
    return pos;
}

// Storage position of element `ordinal` of `out` in a tensor broadcast into out's shape.
__device__ inline long long broadcast_position(long long ordinal, const Layout& out, const Layout& in) {
    long long out_index[MAX_DIMS];
    long long in_index[MAX_DIMS];
    to_index(ordinal, out, out_index);
    broadcast_index(out_index, out, in, in_index);
    return index_to_position(in_index, in);
}

__device__ inline double apply_map(long long op, double x) {
    switch (op) {
        case OP_NEG: return -x;
        case OP_SIGMOID: return x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
        case OP_RELU: return x > 0.0 ? x : 0.0;
        case OP_LOG: return log(x + LOG_EPS);
        case OP_EXP: return exp(x);
        case OP_ID: return x;
        case OP_INV: return 1.0 / x;
        default: return nan("");
    }
}

__device__ inline double apply_zip(long long op, double a, double b) {
    switch (op) {
        case OP_ADD: return a + b;
        case OP_MUL: return a * b;
        case OP_LT: return a < b ? 1.0 : 0.0;
        case OP_EQ: return a == b ? 1.0 : 0.0;
        case OP_IS_CLOSE: return fabs(a - b) < IS_CLOSE_TOL ? 1.0 : 0.0;
        case OP_RELU_BACK: return a > 0.0 ? b : 0.0;
        case OP_LOG_BACK: return b / (a + LOG_EPS);
        case OP_INV_BACK: return -b / (a * a);
        case OP_SIGMOID_BACK: return b * a * (1.0 - a);
        // __dmul_rn/__dadd_rn: no fused multiply-add, so the probability is rounded as on the CPU.
        case OP_BINARY_NLL: return -log(__dadd_rn(__dmul_rn(a, b), __dmul_rn(a - 1.0, b - 1.0)) + LOG_EPS);
        case OP_BINARY_NLL_BACK:
            return -(b + (b - 1.0)) / (__dadd_rn(__dmul_rn(a, b), __dmul_rn(a - 1.0, b - 1.0)) + LOG_EPS);
        default: return nan("");
    }
}

// -infinity without math headers (NVRTC has none): the IEEE bit pattern.
__device__ inline double negative_infinity() {
    union { long long bits; double value; } u;
    u.bits = (long long)0xFFF0000000000000ULL;
    return u.value;
}

__device__ inline double reduce_start(long long op) {
    switch (op) {
        case OP_SUM: return 0.0;
        case OP_MAX: return negative_infinity();
        default: return 1.0;
    }
}

__device__ inline double apply_fold(long long op, double acc, double x) {
    switch (op) {
        case OP_SUM: return acc + x;
        case OP_PROD: return acc * x;
        case OP_ALL: return (acc != 0.0 && x != 0.0) ? 1.0 : 0.0;
        case OP_MAX: return (x != x || x > acc) ? x : acc;  // NaN wins, in any order
        default: return nan("");
    }
}

// Folds one value per thread of the block with a reduce op: thread t's `acc` goes to
// cache[t] (cache holds blockDim.x values, a power of two), then a shared-memory tree combines
// them in a fixed order; every thread returns the result. It holds barriers: every thread of
// the block calls it.
__device__ inline double block_fold(double* cache, long long op, double acc) {
    int t = threadIdx.x;
    cache[t] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) cache[t] = apply_fold(op, cache[t], cache[t + s]);
        __syncthreads();
    }
    return cache[0];
}
