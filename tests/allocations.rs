//! Heap allocations of one training step of the course network (hidden 100, batch 10, fast
//! backend: the step `minitorch train` runs), counted by a counting global allocator.
//!
//! The count is per thread (the step runs on the calling thread at these sizes), so tests
//! running in parallel do not disturb each other. The bounds are what the tape achieves; a
//! change that adds allocations to the per-op path fails here (see `src/autodiff.rs`).

use minitorch::Backend;
use minitorch::datasets::Dataset;
use minitorch::optim::Sgd;
use minitorch::train::{Engine, Model};
use minitorch::{Rng, Tensor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread-local `Cell` without a destructor, which neither allocates nor
// re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout (the caller upholds `alloc`'s contract).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr` came from this allocator (i.e. from `System`) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (i.e. from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (including reallocations) made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = COUNT.with(Cell::get);
    let out = f();
    (COUNT.with(Cell::get) - before, out)
}

/// A course-network model with its optimizer and data, warmed up by a few steps.
fn course_setup() -> (Model, Sgd, minitorch::datasets::Graph) {
    let data = Dataset::Simple.generate(50, 1);
    let model = Model::new(Engine::Tensor(Backend::Fast), 100, &mut Rng::seed(2)).unwrap();
    let optim = Sgd::new(model.module().parameters(), 0.05).unwrap();
    let rows: Vec<usize> = (0..10).collect();
    for _ in 0..3 {
        model.step(&optim, &data, &rows).unwrap();
    }
    (model, optim, data)
}

/// Most allocations one step of the course network may make: 23 measured (232 before the tape
/// was reworked, 44 before the layers' ReLUs were fused into them, 37 before the loss was one
/// op, 26 before backward started from 1/B instead of multiplying by it; see
/// `src/autodiff.rs`), with room for a pool vector growing now and then.
const STEP_BOUND: usize = 28;

#[test]
fn a_course_training_step_allocates_little() {
    let (model, optim, data) = course_setup();
    let rows: Vec<usize> = (10..20).collect();
    let counts: Vec<usize> = (0..5)
        .map(|_| allocations(|| model.step(&optim, &data, &rows).unwrap()).0)
        .collect();
    eprintln!("allocations per step: {counts:?}");
    let most = *counts.iter().max().unwrap();
    assert!(
        most <= STEP_BOUND,
        "a training step made {most} heap allocations (bound {STEP_BOUND}): {counts:?}"
    );
}

#[test]
fn the_optimizer_step_allocates_nothing() {
    let (model, optim, data) = course_setup();
    let rows: Vec<usize> = (0..10).collect();
    for _ in 0..3 {
        // A fresh backward leaves gradients on every parameter; then only the update is counted.
        optim.zero_grad();
        let net = match &model {
            Model::Tensor(net) => net,
            Model::Scalar(_) => unreachable!(),
        };
        let (x, _) = minitorch::train::as_tensors(&data, &rows, Backend::Fast).unwrap();
        net.forward(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let before: Vec<Vec<f64>> = parameters(&model).iter().map(Tensor::to_vec).collect();
        let (n, result) = allocations(|| optim.step());
        result.unwrap();
        assert_eq!(n, 0, "the optimizer step allocated {n} times");
        let after: Vec<Vec<f64>> = parameters(&model).iter().map(Tensor::to_vec).collect();
        assert_ne!(before, after, "the step moved the parameters");
    }
}

#[test]
fn zero_grad_allocates_nothing() {
    let (_model, optim, _data) = course_setup();
    let (n, ()) = allocations(|| optim.zero_grad());
    assert_eq!(n, 0);
}

fn parameters(model: &Model) -> Vec<Tensor> {
    model
        .module()
        .parameters()
        .iter()
        .filter_map(|p| p.tensor())
        .collect()
}
