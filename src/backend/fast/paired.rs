//! Paired products: a training step's mid-sized product (`PAIRED_MACS` up to
//! `matmul::PARALLEL_MACS` multiply-adds) split in two between the calling thread and one team
//! helper so that each core always works on the same half of the weight, through the forward
//! product, both gradient products and the SGD update ([`Paired`]); and two such products as
//! one team job ([`matmul_two`], a linear layer's backward). The measurements are in
//! `docs/performance.md` ("Paired products").

use super::matmul::matmul;
#[cfg(target_arch = "x86_64")]
use super::matmul::{
    BiasRow, Kernel, Matrices, PARALLEL_MACS, Problem, SharedProduct, choose_kernel, output_dims,
    small_product,
};
#[cfg(target_arch = "x86_64")]
use crate::backend::diagnostics::{self as profile, Path};
#[cfg(target_arch = "x86_64")]
use crate::backend::matmul_shape;
use crate::error::Result;
use crate::tensor_data::TensorData;
#[cfg(target_arch = "x86_64")]
use crate::tensor_data::reserved;
#[cfg(target_arch = "x86_64")]
use std::mem::MaybeUninit;

/// Multiply-adds per product from which a lone product below `PARALLEL_MACS` is split in two
/// on the team, each half of its weight always on the same core ([`Paired`],
/// `docs/performance.md`).
#[cfg(target_arch = "x86_64")]
const PAIRED_MACS: usize = 1 << 16;

/// One mid-sized product (a training step's, `PAIRED_MACS` up to `PARALLEL_MACS`) split in
/// two between the calling thread and one team helper ([`Paired`]).
#[cfg(target_arch = "x86_64")]
pub(super) fn run_paired(
    p: &Problem<'_>,
    (bias, relu): (Option<BiasRow<'_>>, bool),
    dst: &mut [MaybeUninit<f64>],
) {
    let plan = Paired::new(p, (bias, relu), dst);
    // SAFETY: `for_each` runs tasks 0 and 1 once each and returns after both.
    super::team::for_each(2, |t| unsafe { plan.run(t) });
    // SAFETY: both tasks ran.
    unsafe { plan.finish() };
}

/// Whether a product is paired ([`Paired`]): a lone small-kernel product from `PAIRED_MACS`
/// up to `PARALLEL_MACS`, with a helper to share it.
#[cfg(target_arch = "x86_64")]
pub(super) fn is_paired(p: &Problem<'_>, kernel: Kernel, threads: usize) -> bool {
    let macs = p.macs();
    kernel == Kernel::Small
        && p.batches == 1
        && threads > 1
        && (PAIRED_MACS..PARALLEL_MACS).contains(&macs)
}

/// One product split in two between the calling thread (task 0: the team's first task always
/// runs on the caller, `team::for_each`) and one team helper (task 1), along the dimension
/// that halves the biggest operand's memory: a weight's rows, whichever way the product reads
/// it. The SGD step splits a parameter the same way (`paired_split`), so each half of a weight
/// and of its gradient stays in one core's cache through the forward product, both gradient
/// products and the update. Splitting without this (blocks of columns whatever the operand)
/// measured slower than one thread: the update then read half of each gradient from the
/// other core (`docs/performance.md`).
///
/// - the output is the biggest (a weight's gradient `xᵀ @ g`): its rows;
/// - the biggest operand's rows are the inner dimension (`x @ W`): two partial sums over the
///   two halves of `k`, the second added into the first;
/// - otherwise (`g @ Wᵀ`): the output's columns.
#[cfg(target_arch = "x86_64")]
struct Paired<'a> {
    shared: SharedProduct,
    halves: Halves,
    relu: bool,
    /// The output `shared` writes into, borrowed for as long as the plan lives.
    out: std::marker::PhantomData<&'a mut [MaybeUninit<f64>]>,
}

/// How a [`Paired`] product's two tasks divide it.
#[cfg(target_arch = "x86_64")]
enum Halves {
    /// Partial sums over k in `0..h` (into the output, from the bias) and `h..k` (into
    /// `second`, m × n, from zero), added when both are done.
    Inner {
        h: usize,
        second: Vec<f64>,
        second_ptr: super::team::SendPtr<f64>,
    },
    /// Blocks (i, j, rows, columns) of the output, one per task.
    Blocks([(usize, usize, usize, usize); 2]),
}

#[cfg(target_arch = "x86_64")]
impl<'a> Paired<'a> {
    /// The plan for `p`'s batch-0 product into `dst` (m × n cells, row-major).
    fn new(
        p: &Problem<'_>,
        (bias, relu): (Option<BiasRow<'_>>, bool),
        dst: &'a mut [MaybeUninit<f64>],
    ) -> Paired<'a> {
        use super::paired_split;
        let product = small_product(p, 0, bias, relu);
        let (m, n, k) = (p.rows, p.cols, p.inner);
        debug_assert_eq!(dst.len(), m * n);
        let shared = SharedProduct {
            product,
            dst: dst.as_mut_ptr().cast(),
            ldc: n,
        };
        let halves = if product.inner_is_outer() && m * n < k * n.max(m) {
            // Not zeroed: the second partial product writes every cell (zeroing here put the
            // buffer in this core's cache, for the helper to fetch before writing it).
            let mut second: Vec<f64> = Vec::with_capacity(m * n);
            let second_ptr = super::team::SendPtr(second.as_mut_ptr());
            Halves::Inner {
                h: paired_split(k),
                second,
                second_ptr,
            }
        } else if m * n >= k * n.max(m) {
            let h = paired_split(m);
            Halves::Blocks([(0, 0, h, n), (h, 0, m - h, n)])
        } else {
            let h = paired_split(n);
            Halves::Blocks([(0, 0, m, h), (0, h, m, n - h)])
        };
        Paired {
            shared,
            halves,
            relu,
            out: std::marker::PhantomData,
        }
    }

    /// Task `t`'s half (0 or 1).
    ///
    /// # Safety
    /// Each task runs at most once, and none after [`finish`](Paired::finish) started.
    unsafe fn run(&self, t: usize) {
        let k = self.shared.product.k;
        match (&self.halves, t) {
            // SAFETY: the first task computes the partial product over k in 0..h into the
            // output, the second over h..k into `second`, an m × n buffer of its own; both read
            // inside the operands (`inner` narrows k) and write disjoint buffers.
            (Halves::Inner { h, .. }, 0) => unsafe { self.shared.partial(0, *h, None) },
            (Halves::Inner { h, second_ptr, .. }, _) => unsafe {
                self.shared.partial(*h, k - h, Some(second_ptr.get()))
            },
            (Halves::Blocks(blocks), t) => {
                let (i, j, rows, cols) = blocks[t];
                // SAFETY: as for the whole product in `run_product` (this product is the same
                // batch-0 problem; the output is its m × n cells); the two blocks are disjoint.
                unsafe { self.shared.block(i, j, rows, cols) }
            }
        }
    }

    /// Adds the second partial sums into the output (clamped when `relu`), for a split of the
    /// inner dimension; nothing for blocks.
    ///
    /// # Safety
    /// Both tasks ran.
    unsafe fn finish(self) {
        let Halves::Inner { mut second, .. } = self.halves else {
            return;
        };
        let cells = self.shared.product.m * self.shared.product.n;
        // SAFETY: the second task wrote all m × n cells of `second` (small_gemm writes each
        // tile once).
        unsafe { second.set_len(cells) };
        // SAFETY: `dst` is the m × n output borrowed mutably for 'a (held by `self`), and no
        // task runs any more.
        let dst: &mut [f64] = unsafe { std::slice::from_raw_parts_mut(self.shared.dst, cells) };
        for (d, s) in dst.iter_mut().zip(&second) {
            // The first task wrote every cell of `dst`; the partial sums are not clamped
            // (`Product::inner`), their sum is.
            let sum = *d + s;
            *d = if self.relu {
                crate::operators::relu(sum)
            } else {
                sum
            };
        }
    }
}

/// Two products without a bias, `x[0][0] @ x[0][1]` and `x[1][0] @ x[1][1]` (operands as for
/// [`matmul`]): when both are paired ([`Paired`]), one team job in which each task
/// computes its half of both — the same halves of a weight on the same cores as the products
/// alone, one synchronisation instead of two (a linear layer's backward, `linear_backward.rs`);
/// otherwise one after the other.
pub(super) fn matmul_two(x: [[&TensorData; 2]; 2]) -> Result<[TensorData; 2]> {
    #[cfg(target_arch = "x86_64")]
    {
        let shapes = [
            matmul_shape(x[0][0].shape(), x[0][1].shape())?,
            matmul_shape(x[1][0].shape(), x[1][1].shape())?,
        ];
        let guards = [
            [x[0][0].storage().read()?, x[0][1].storage().read()?],
            [x[1][0].storage().read()?, x[1][1].storage().read()?],
        ];
        let problem = |i: usize| Problem {
            a: Matrices::of(x[i][0], &guards[i][0]),
            b: Matrices::of(x[i][1], &guards[i][1]),
            batches: shapes[i][0],
            rows: shapes[i][1],
            cols: shapes[i][2],
            inner: x[i][0].shape()[x[i][0].dims() - 1],
        };
        let problems = [problem(0), problem(1)];
        let threads = rayon::current_num_threads();
        if problems
            .iter()
            .all(|p| is_paired(p, choose_kernel(p, threads), threads))
        {
            let out_shapes = [
                output_dims(x[0][0], shapes[0])?,
                output_dims(x[1][0], shapes[1])?,
            ];
            let sizes = [out_shapes[0].product(), out_shapes[1].product()];
            let mut outs = [
                reserved("matmul", sizes[0], &out_shapes[0])?,
                reserved("matmul", sizes[1], &out_shapes[1])?,
            ];
            {
                let [first, second] = &mut outs;
                let plans = [
                    Paired::new(
                        &problems[0],
                        (None, false),
                        &mut first.spare_capacity_mut()[..sizes[0]],
                    ),
                    Paired::new(
                        &problems[1],
                        (None, false),
                        &mut second.spare_capacity_mut()[..sizes[1]],
                    ),
                ];
                super::team::for_each(2, |t| {
                    for plan in &plans {
                        // SAFETY: `for_each` runs tasks 0 and 1 once each.
                        unsafe { plan.run(t) }
                    }
                });
                for plan in plans {
                    // SAFETY: both tasks ran.
                    unsafe { plan.finish() };
                }
            }
            let [first, second] = outs;
            let [s0, s1] = out_shapes;
            profile::note(Path::SmallGemm, true);
            return Ok(
                [(first, s0, sizes[0]), (second, s1, sizes[1])].map(|(mut v, s, n)| {
                    // SAFETY: each plan's tasks (and `finish`) wrote every one of its n cells.
                    unsafe { v.set_len(n) };
                    TensorData::packed(v, s)
                }),
            );
        }
    }
    Ok([
        matmul(x[0][0], x[0][1], None, false)?,
        matmul(x[1][0], x[1][1], None, false)?,
    ])
}
