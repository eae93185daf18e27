// The kernel sources of kernels/, compiled for the host with the compatibility header, and one
// exported launcher per kernel for the Rust cuda-sim backend.
#include "cuda_sim.h"

#include "../kernels/conv.cu"
#include "../kernels/embedding.cu"
#include "../kernels/elementwise.cu"
#include "../kernels/matmul.cu"
#include "../kernels/practice.cu"
#include "../kernels/reduce.cu"

#define SIM_EXPORT(kernel, Args)                                                              \
    extern "C" int sim_##kernel(const Args* args, dim3 grid, dim3 block) {                    \
        return sim::launch([](const void* p) { kernel(*static_cast<const Args*>(p)); }, args, \
                           grid, block);                                                      \
    }

SIM_EXPORT(map_kernel, MapArgs)
SIM_EXPORT(zip_kernel, ZipArgs)
SIM_EXPORT(axpy_kernel, AxpyArgs)
SIM_EXPORT(reduce_kernel, ReduceArgs)
SIM_EXPORT(matmul_kernel, MatmulArgs)
SIM_EXPORT(conv2d_kernel, ConvArgs)
SIM_EXPORT(conv2d_block_kernel, ConvArgs)
SIM_EXPORT(gather_rows_kernel, RowsArgs)
SIM_EXPORT(scatter_rows_kernel, RowsArgs)

extern "C" int sim_sum_practice(const PracticeArgs* args, dim3 grid, dim3 block) {
    return sim::launch([](const void* p) {
        auto a = static_cast<const PracticeArgs*>(p);
        sum_practice(a->out, a->a, a->size);
    }, args, grid, block);
}

extern "C" int sim_mm_practice(const PracticeArgs* args, dim3 grid, dim3 block) {
    return sim::launch([](const void* p) {
        auto a = static_cast<const PracticeArgs*>(p);
        mm_practice(a->out, a->a, a->b, a->size);
    }, args, grid, block);
}
