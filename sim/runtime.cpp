// The cuda-sim scheduler: blocks run one after another; the threads of a block are fibers that
// run in turn, each until it reaches a barrier or returns (see cuda_sim.h).
#include "cuda_sim.h"

#include <ucontext.h>

#include <cstddef>
#include <vector>

namespace sim {

thread_local dim3 thread_idx;
thread_local dim3 block_idx;
thread_local dim3 block_dim;
thread_local dim3 grid_dim;

namespace {

enum class State { Running, AtBarrier, Done };

struct Fiber {
    ucontext_t ctx;
    dim3 tid;
    State state;
    int barrier_line;
};

struct Block {
    ucontext_t scheduler;
    std::vector<Fiber> fibers;
    std::size_t current = 0;
    void (*invoke)(const void*) = nullptr;
    const void* args = nullptr;
};

constexpr std::size_t kStack = 64 * 1024;
thread_local Block* active = nullptr;
thread_local std::vector<char> stacks;

void trampoline() {
    active->invoke(active->args);
    active->fibers[active->current].state = State::Done;
    // Returning resumes uc_link: the scheduler.
}

}  // namespace

void syncthreads(int line) {
    Fiber& f = active->fibers[active->current];
    f.state = State::AtBarrier;
    f.barrier_line = line;
    swapcontext(&f.ctx, &active->scheduler);
}

int launch(void (*invoke)(const void*), const void* args, dim3 grid, dim3 block) {
    Block b;
    b.invoke = invoke;
    b.args = args;
    std::size_t n = std::size_t(block.x) * block.y * block.z;
    b.fibers.resize(n);
    if (stacks.size() < n * kStack) stacks.resize(n * kStack);
    grid_dim = grid;
    block_dim = block;
    Block* outer = active;
    active = &b;
    int error = 0;
    for (unsigned bz = 0; bz < grid.z && !error; ++bz)
        for (unsigned by = 0; by < grid.y && !error; ++by)
            for (unsigned bx = 0; bx < grid.x && !error; ++bx) {
                block_idx = dim3{bx, by, bz};
                for (std::size_t i = 0; i < n; ++i) {
                    Fiber& f = b.fibers[i];
                    f.tid = dim3{unsigned(i % block.x), unsigned((i / block.x) % block.y), unsigned(i / (std::size_t(block.x) * block.y))};
                    f.state = State::Running;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = &stacks[i * kStack];
                    f.ctx.uc_stack.ss_size = kStack;
                    f.ctx.uc_link = &b.scheduler;
                    makecontext(&f.ctx, trampoline, 0);
                }
                for (;;) {
                    for (std::size_t i = 0; i < n; ++i) {
                        if (b.fibers[i].state != State::Running) continue;
                        b.current = i;
                        thread_idx = b.fibers[i].tid;
                        swapcontext(&b.scheduler, &b.fibers[i].ctx);
                    }
                    std::size_t done = 0, waiting = 0;
                    int line = -1;
                    bool same_line = true;
                    for (const Fiber& f : b.fibers) {
                        if (f.state == State::Done) ++done;
                        if (f.state == State::AtBarrier) {
                            ++waiting;
                            if (line >= 0 && f.barrier_line != line) same_line = false;
                            line = f.barrier_line;
                        }
                    }
                    if (done == n) break;
                    if (done > 0) { error = 1; break; }
                    if (!same_line) { error = 2; break; }
                    for (Fiber& f : b.fibers) f.state = State::Running;  // release the barrier
                }
            }
    active = outer;
    return error;
}

}  // namespace sim
