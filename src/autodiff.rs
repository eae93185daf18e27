//! The autodiff core (MiniTorch tasks 1.1, 1.3 and 1.4), shared by [`Scalar`](crate::Scalar)
//! and [`Tensor`](crate::Tensor).
//!
//! Every variable gets an increasing id when it is created, and a function's output is always
//! created after its inputs. So visiting nodes from the highest id down is a topological order
//! (output first, leaves last), and a max-heap keyed by id gives both the order and the
//! de-duplication: all contributions to one node sit next to each other in the heap and are
//! summed before the node is processed. No hash map, no visited set.
//!
//! # The tape
//!
//! The course's concepts keep their names and places: each tracked tensor's node holds its
//! `History` (the function, its inputs and the [`Context`] of values saved for backward:
//! `src/tensor/mod.rs`), [`topological_sort`] and [`backpropagate`] are here, and the chain
//! rule of each function is in `src/tensor/functions.rs`. What makes an op cheap (a training
//! step of the course network is ~40 ops of a few hundred values each, so fixed costs matter):
//!
//! - **Ids in creation order are the tape.** The heap of pending derivatives replaces a
//!   depth-first search, a visited set and a sorted list; it is reserved once per backward
//!   pass (`PENDING_CAPACITY`).
//! - **One node allocation per op.** The history sits inside the tensor's node (not boxed),
//!   a function's inputs ([`Parents`]) and its chain-rule output ([`Backward`]) are inline
//!   small vectors, and saved values are shared handles, not copies.
//! - **Buffers and layouts are recycled** (`src/tensor_data/pool.rs`): when the last handle
//!   to an output buffer or a view's layout drops, it waits in a per-thread pool for the next
//!   one of that size, so from the second step on a step's outputs, views, matmul lifts and
//!   gradients reuse the memory of the step before. The optimizer updates the parameters in
//!   place (`add_scaled_`) and allocates nothing.
//!
//! `tests/allocations.rs` counts the result with a counting allocator: 232 heap allocations
//! per course training step before this design, 37 with it (the autodiff nodes, each leaf's
//! gradient handle and the heap), 23 since the training loss is one op
//! ([`Tensor::binary_nll`](crate::Tensor::binary_nll)) and backward starts from the batch
//! mean's 1/B, 19 since a 1-D `sum_all` needs no view and a linear layer's bias check no
//! shape vector, 0 for the optimizer step. Per op, what is left is layout bookkeeping: two
//! 2-D operands go to the backend's product as they are (no lift to a batch of one and back),
//! an element-wise output shares its packed input's layout, and a sum's gradient flows back as
//! a broadcast view (`docs/performance.md`, "The per-op cost").

use crate::error::Result;
use smallvec::SmallVec;
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

/// A fresh unique id (increasing in creation order; counted per thread).
pub fn next_id() -> u64 {
    NEXT_ID.with(|c| {
        let id = c.get();
        c.set(id + 1);
        id
    })
}

/// What a node of the computation graph offers to backpropagation.
pub trait Variable: Clone {
    /// The derivative type flowing backwards (f64 for scalars, tensor data for tensors).
    type Grad;

    /// Creation-ordered id.
    fn unique_id(&self) -> u64;
    /// A variable created by the user that tracks gradients (no function made it).
    fn is_leaf(&self) -> bool;
    /// A variable that does not take part in autodiff at all.
    fn is_constant(&self) -> bool;
    /// The inputs of the function that made this variable.
    fn parents(&self) -> Parents<Self>;
    /// The derivative for each non-constant parent, given this variable's derivative `d`.
    fn chain_rule(&self, d: &Self::Grad) -> Result<Backward<Self>>;
    /// Adds `d` to a leaf's stored derivative.
    fn accumulate_derivative(&self, d: Self::Grad) -> Result<()>;
    /// Sum of two derivatives of this variable.
    fn add_grads(&self, a: Self::Grad, b: Self::Grad) -> Result<Self::Grad>;
}

/// A function's inputs (up to three inline: no heap allocation per node).
pub type Parents<V> = SmallVec<[V; 3]>;

/// The derivatives a chain rule passes to its inputs (up to three inline).
pub type Backward<V> = SmallVec<[(V, <V as Variable>::Grad); 3]>;

/// Heap slots reserved up front by [`backpropagate`]: the course network's graph never holds
/// more pending derivatives than this at once, so the heap allocates once per backward pass.
const PENDING_CAPACITY: usize = 32;

/// A node waiting in the heap with a payload (its pending derivative), ordered by the node's id.
struct Pending<V, T> {
    id: u64,
    var: V,
    d: T,
}

impl<V, T> PartialEq for Pending<V, T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl<V, T> Eq for Pending<V, T> {}
impl<V, T> PartialOrd for Pending<V, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<V, T> Ord for Pending<V, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id.cmp(&other.id)
    }
}

/// The non-constant variables reachable from `v`, each once, output first and leaves last.
pub fn topological_sort<V: Variable>(v: &V) -> Vec<V> {
    let mut heap = BinaryHeap::new();
    let mut order = Vec::new();
    if !v.is_constant() {
        heap.push(Pending {
            id: v.unique_id(),
            var: v.clone(),
            d: (),
        });
    }
    while let Some(top) = heap.pop() {
        while heap.peek().is_some_and(|p| p.id == top.id) {
            heap.pop();
        }
        for parent in top.var.parents() {
            if !parent.is_constant() {
                heap.push(Pending {
                    id: parent.unique_id(),
                    var: parent,
                    d: (),
                });
            }
        }
        order.push(top.var);
    }
    order
}

/// Runs backpropagation from `v`, whose derivative is `deriv`: every leaf reachable from `v`
/// gets its derivative accumulated (added to what it already holds); intermediate derivatives
/// live only during the pass. Constant variables are skipped.
pub fn backpropagate<V: Variable>(v: &V, deriv: V::Grad) -> Result<()> {
    if v.is_constant() {
        return Ok(());
    }
    let mut heap = BinaryHeap::with_capacity(PENDING_CAPACITY);
    heap.push(Pending {
        id: v.unique_id(),
        var: v.clone(),
        d: deriv,
    });
    while let Some(top) = heap.pop() {
        let mut d = top.d;
        while heap.peek().is_some_and(|p| p.id == top.id) {
            let more = heap.pop().expect("peeked").d;
            d = top.var.add_grads(d, more)?;
        }
        if top.var.is_leaf() {
            top.var.accumulate_derivative(d)?;
            continue;
        }
        for (parent, d_parent) in top.var.chain_rule(&d)? {
            if !parent.is_constant() {
                heap.push(Pending {
                    id: parent.unique_id(),
                    var: parent,
                    d: d_parent,
                });
            }
        }
    }
    Ok(())
}

/// Saved values a function's forward pass leaves for its backward pass.
#[derive(Clone, Debug, Default)]
pub struct Context<T> {
    /// When true, nothing is saved (no gradient will be needed).
    pub no_grad: bool,
    saved: SmallVec<[T; 3]>,
}

impl<T> Context<T> {
    /// A context that saves values only when `no_grad` is false.
    pub fn new(no_grad: bool) -> Self {
        Context {
            no_grad,
            saved: SmallVec::new(),
        }
    }

    /// Stores values for backward, unless `no_grad`.
    pub fn save_for_backward(&mut self, values: impl IntoIterator<Item = T>) {
        if !self.no_grad {
            self.saved.extend(values);
        }
    }

    /// The saved values, in the order they were saved.
    pub fn saved_values(&self) -> &[T] {
        &self.saved
    }

    /// Takes the saved values out, leaving the context empty.
    pub fn take_saved(&mut self) -> SmallVec<[T; 3]> {
        std::mem::take(&mut self.saved)
    }
}

/// Central difference of `f` at `vals` along argument `arg`:
/// `(f(…, x+ε, …) − f(…, x−ε, …)) / 2ε`.
///
/// ```
/// use minitorch::autodiff::central_difference;
/// let d = central_difference(|v| v[0] * v[1], &[5.0, 10.0], 0, 1e-6);
/// assert!((d - 10.0).abs() < 1e-6);
/// ```
pub fn central_difference(
    f: impl Fn(&[f64]) -> f64,
    vals: &[f64],
    arg: usize,
    epsilon: f64,
) -> f64 {
    let mut up = vals.to_vec();
    let mut down = vals.to_vec();
    up[arg] += epsilon;
    down[arg] -= epsilon;
    (f(&up) - f(&down)) / (2.0 * epsilon)
}
