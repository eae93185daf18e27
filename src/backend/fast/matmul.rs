//! Fast batched matmul: each batch is one product that reads the operands through their own
//! strides (a transposed operand is not copied). Three small pieces:
//!
//! - [`choose_kernel`]: the packing-free AVX-512 kernels of `small_gemm` for small products
//!   and thin ones (at most `THIN` rows or inner dimension, at any size) whose strides suit
//!   them, else the `gemm` crate (which packs the operands into cache-sized panels);
//! - [`prefill`]: for `gemm` with a bias, the output starts as the bias rows (`small_gemm`
//!   starts its tiles from the bias itself);
//! - [`run_product`]: one batch's product into its slice of the output — the only `unsafe`
//!   code here, the two kernel calls.
//!
//! Threads: a batch of big products runs one product per thread; a single big product is split
//! across the threads by `gemm`, or into one block of columns (or rows) per thread on the
//! packing-free kernels when it is thin, or mid-sized with a narrow output (`SPLIT_MACS`,
//! `SPLIT_SIDE`); a training-sized one (`PAIRED_MACS` up to `PARALLEL_MACS`) is split in two
//! on the team so that each core always works on the same half of the weight
//! (`paired.rs`); smaller work stays on the calling thread. The measurements behind the
//! thresholds are in `docs/performance.md`.

#[cfg(target_arch = "x86_64")]
use super::{paired, small_gemm};
use crate::backend::diagnostics::{self as profile, Path};
use crate::backend::{MapOp, ZipOp, matmul_shape};
use crate::error::Result;
use crate::layout::{Dims, broadcast_target};
use crate::tensor_data::{TensorData, reserved};
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Multiply-adds per product from which several threads are used (`docs/performance.md`).
pub(super) const PARALLEL_MACS: usize = 1 << 21;

/// Multiply-adds per product below which `small_gemm` is used where it can be
/// (`docs/performance.md`).
#[cfg(target_arch = "x86_64")]
const SMALL_MACS: usize = 1 << 22;

/// Products with at most this many rows, or this short an inner dimension, are thin: `gemm`'s
/// packing of the big operand costs more than the arithmetic whatever their size, so they go to
/// `small_gemm` at every size (split by columns across the threads from `PARALLEL_MACS`).
/// A (10, 1000) batch times a (1000, 1000) weight is one (`docs/performance.md`).
#[cfg(target_arch = "x86_64")]
const THIN: usize = 32;

/// Multiply-adds below which a lone product (fewer batches than threads) from `PARALLEL_MACS`
/// on runs on `small_gemm` split into one block of rows or columns per thread, rather than on
/// `gemm`'s threads: at these sizes `gemm`'s packing and synchronisation cost more than they
/// save (`docs/performance.md`).
#[cfg(target_arch = "x86_64")]
const SPLIT_MACS: usize = 1 << 24;

/// ... for outputs at most this many rows or columns across (a linear layer's (1000, 100)
/// activations and gradients); squarer products split better on `gemm` (`docs/performance.md`).
#[cfg(target_arch = "x86_64")]
const SPLIT_SIDE: usize = 128;

/// One operand's batch of matrices: its values and how to step through them.
#[derive(Clone, Copy)]
pub(super) struct Matrices<'a> {
    /// The whole storage; every position the layout reaches is inside it (a `TensorData`
    /// invariant).
    values: &'a [f64],
    offset: usize,
    /// 0 for a batch of 1 (it broadcasts).
    batch: usize,
    row: usize,
    col: usize,
}

impl<'a> Matrices<'a> {
    /// A 3-D operand's matrices, or a 2-D operand as a batch of one.
    pub(super) fn of(t: &TensorData, values: &'a [f64]) -> Matrices<'a> {
        let (shape, strides) = (t.shape(), t.strides());
        // The stride of a size-1 dimension never applies and may be anything (even past
        // isize::MAX): the kernels get 0 there.
        let step = |d: usize| if shape[d] == 1 { 0 } else { strides[d] };
        let rows = shape.len() - 2;
        Matrices {
            values,
            offset: t.offset(),
            batch: if rows == 0 { 0 } else { step(0) },
            row: step(rows),
            col: step(rows + 1),
        }
    }

    /// The values from matrix `batch`'s first element on.
    fn matrix(&self, batch: usize) -> &'a [f64] {
        &self.values[self.offset + batch * self.batch..]
    }
}

/// A bias with one value per output column: `values[j · step]` for column j (step 0 or 1).
#[derive(Clone, Copy)]
pub(super) struct BiasRow<'a> {
    values: &'a [f64],
    step: usize,
}

/// The kernel that computes each product.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    /// `small_gemm`'s register tiles (x86-64 with AVX-512 only).
    Small,
    /// The `gemm` crate.
    Gemm,
}

/// The shape of the work: `batches` products of (rows, inner) @ (inner, cols).
pub(super) struct Problem<'a> {
    pub(super) a: Matrices<'a>,
    pub(super) b: Matrices<'a>,
    pub(super) batches: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) inner: usize,
}

impl Problem<'_> {
    pub(super) fn macs(&self) -> usize {
        self.rows
            .saturating_mul(self.cols)
            .saturating_mul(self.inner)
    }
}

/// `(n, i, k) @ (n, k, j)` with batch-1 broadcasting, plus `bias` (broadcast into the
/// product's shape) when given, then clamped at 0 when `relu` (`operators::relu` on each
/// value: the packing-free kernels clamp their tiles as they store them).
pub(super) fn matmul(
    a: &TensorData,
    b: &TensorData,
    bias: Option<&TensorData>,
    relu: bool,
) -> Result<TensorData> {
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let out_shape = output_dims(a, [n, rows, cols])?;
    let bias = match bias {
        None => None,
        Some(bias) => match bias_step(bias, &[n, rows, cols])? {
            Some(step) => Some((bias, step)),
            // A bias that varies along the rows: the product, then a broadcast add.
            None => {
                let product = matmul(a, b, None, false)?;
                let out = super::elementwise::zip(ZipOp::Add, &product, bias)?;
                if relu {
                    return super::elementwise::map(MapOp::Relu, &out, out.shape());
                }
                return Ok(out);
            }
        },
    };
    let bias_guard = bias.map(|(t, _)| t.storage().read()).transpose()?;
    let bias_row = bias
        .zip(bias_guard.as_deref())
        .map(|((t, step), values)| BiasRow {
            values: &values[t.offset()..],
            step,
        });
    let (guard_a, guard_b) = (a.storage().read()?, b.storage().read()?);
    let problem = Problem {
        a: Matrices::of(a, &guard_a),
        b: Matrices::of(b, &guard_b),
        batches: n,
        rows,
        cols,
        inner: a.shape()[a.dims() - 1],
    };
    let threads = rayon::current_num_threads();
    let kernel = choose_kernel(&problem, threads);
    let size = out_shape.product();
    let mut out = reserved("matmul", size, &out_shape)?;
    // The output starts uninitialised: every kernel writes every cell (small_gemm starts its
    // tiles from zero or the bias; gemm overwrites unless told to read the bias rows written
    // here first). Zeroing it first measured 5–10% of a training step.
    let cells = &mut out.spare_capacity_mut()[..size];
    if let (Kernel::Gemm, Some(row)) = (kernel, bias_row) {
        prefill(cells, row, cols);
    }
    let macs = problem.macs();
    // A batch of big products runs one product per thread (the course's (2, n, n) products);
    // a single big product is split by gemm. Batches of small products stay on this thread:
    // one per thread measured slower on a convolution's batch (MNIST epoch 0.78 s against
    // 0.66, docs/performance.md).
    let by_batch = threads > 1 && n >= threads && macs >= PARALLEL_MACS;
    let parallel = by_batch || (threads > 1 && macs >= PARALLEL_MACS);
    let per_batch = rows * cols;
    let run = |(batch, dst): (usize, &mut [MaybeUninit<f64>]), parallelism| {
        run_product(kernel, &problem, batch, (bias_row, relu), dst, parallelism)
    };
    if parallel {
        // The products' threads are rayon's (see `team::rest`).
        super::team::rest();
    }
    #[cfg(target_arch = "x86_64")]
    if paired::is_paired(&problem, kernel, threads) {
        paired::run_paired(&problem, (bias_row, relu), cells);
        // SAFETY: `run_paired` wrote every cell (each task its block, or the first the whole
        // output that the second's partial sums were added to).
        unsafe { out.set_len(size) };
        profile::note(Path::SmallGemm, true);
        return Ok(TensorData::packed(out, out_shape));
    }
    if by_batch {
        // Enough big batches to go round: one thread per batch, each product serial.
        cells
            .par_chunks_mut(per_batch)
            .enumerate()
            .for_each(|piece| run(piece, Parallelism::None));
    } else {
        // Big products in turn, each split across the threads by gemm; or small ones on this
        // thread (see docs/performance.md for why they are not split).
        let parallelism = if parallel {
            Parallelism::Rayon(0)
        } else {
            Parallelism::None
        };
        cells
            .chunks_mut(per_batch)
            .enumerate()
            .for_each(|piece| run(piece, parallelism));
    }
    // SAFETY: every one of the `size` cells was written above: by `prefill` and then by gemm
    // (read_dst), or by the kernel alone (small_gemm writes each tile once; gemm with
    // read_dst false overwrites its whole output).
    unsafe { out.set_len(size) };
    if relu && kernel == Kernel::Gemm {
        // `gemm` has no epilogue: one pass over the output (small_gemm clamped its tiles).
        out.iter_mut().for_each(|v| *v = crate::operators::relu(*v));
    }
    profile::note(
        match (kernel, problem.a.batch == 0 || problem.b.batch == 0) {
            (Kernel::Small, _) => Path::SmallGemm,
            (Kernel::Gemm, true) => Path::Broadcast,
            (Kernel::Gemm, false) => Path::Gemm,
        },
        parallel,
    );
    Ok(TensorData::packed(out, out_shape))
}

/// The shape of `a`'s product, `(n, rows, cols)` from `matmul_shape`: 2-D for two 2-D
/// operands, else 3-D.
pub(super) fn output_dims(a: &TensorData, [n, rows, cols]: [usize; 3]) -> Result<Dims> {
    if a.dims() == 2 {
        Dims::new_for("matmul", &[rows, cols])
    } else {
        Dims::new_for("matmul", &[n, rows, cols])
    }
}

/// `small_gemm` for small products (and batches of mid-sized ones, one per thread) on CPUs and
/// strides it supports; `gemm` for the rest (a big product alone is better split by `gemm`).
#[cfg(target_arch = "x86_64")]
pub(super) fn choose_kernel(p: &Problem<'_>, threads: usize) -> Kernel {
    let macs = p.macs();
    let thin = p.rows.min(p.inner) <= THIN;
    let split = macs < SPLIT_MACS && p.batches < threads && p.rows.min(p.cols) <= SPLIT_SIDE;
    let small =
        (thin || split || (macs < SMALL_MACS && (macs < PARALLEL_MACS || p.batches >= threads)))
            && small_gemm::available()
            && small_gemm::suits(
                small_gemm::Operand::new(p.a.values, p.a.row, p.a.col),
                small_gemm::Operand::new(p.b.values, p.b.row, p.b.col),
                p.cols,
            );
    if small { Kernel::Small } else { Kernel::Gemm }
}

/// Without AVX-512 kernels, every product goes to `gemm`.
#[cfg(not(target_arch = "x86_64"))]
pub(super) fn choose_kernel(_: &Problem<'_>, _: usize) -> Kernel {
    Kernel::Gemm
}

/// Writes the bias row into every output row, for `gemm` to add its product to.
fn prefill(cells: &mut [MaybeUninit<f64>], row: BiasRow<'_>, cols: usize) {
    for dst in cells.chunks_exact_mut(cols) {
        for (j, d) in dst.iter_mut().enumerate() {
            d.write(row.values[j * row.step]);
        }
    }
}

/// Batch `batch`'s product into `dst` (its rows × cols cells, row-major), added to the bias
/// rows already there for `gemm`, started from `bias` by `small_gemm`.
fn run_product(
    kernel: Kernel,
    p: &Problem<'_>,
    batch: usize,
    (bias, relu): (Option<BiasRow<'_>>, bool),
    dst: &mut [MaybeUninit<f64>],
    parallelism: Parallelism,
) {
    let (lhs, rhs) = (p.a.matrix(batch), p.b.matrix(batch));
    // What both kernel calls rely on. The operands' layouts lie inside their storage
    // (`TensorData` checks this at construction), so these hold by construction.
    let reach = |m: &Matrices<'_>, r: usize, c: usize| (r - 1) * m.row + (c - 1) * m.col;
    debug_assert!(reach(&p.a, p.rows, p.inner) < lhs.len());
    debug_assert!(reach(&p.b, p.inner, p.cols) < rhs.len());
    debug_assert_eq!(dst.len(), p.rows * p.cols);
    debug_assert!(bias.is_none_or(|row| (p.cols - 1) * row.step < row.values.len()));
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Small {
        let product = small_product(p, batch, bias, relu);
        let threads = rayon::current_num_threads();
        if matches!(parallelism, Parallelism::Rayon(_)) && threads > 1 {
            // A big product: each thread computes a block of whole columns (32-column steps,
            // the kernels' tile width) or, for narrow outputs, of whole rows.
            let shared = SharedProduct {
                product,
                dst: dst.as_mut_ptr().cast(),
                ldc: p.cols,
            };
            let by_columns = p.cols >= 32 * threads;
            let (len, step) = if by_columns {
                (p.cols, p.cols.div_ceil(threads).next_multiple_of(32))
            } else {
                (p.rows, p.rows.div_ceil(threads).next_multiple_of(4))
            };
            (0..len.div_ceil(step)).into_par_iter().for_each(|part| {
                let (start, width) = (part * step, step.min(len - part * step));
                let (i, j, m, n) = if by_columns {
                    (0, start, p.rows, width)
                } else {
                    (start, 0, width, p.cols)
                };
                // SAFETY: as for the whole product below, restricted to the block of rows
                // i..i + m and columns j..j + n, inside the product; the blocks of different
                // parts are disjoint, so no cell is written by two threads.
                unsafe { shared.block(i, j, m, n) };
            });
            return;
        }
        // SAFETY: `choose_kernel` picked this kernel only where the CPU has AVX-512F and the
        // strides suit it; every `a` position i·row + k·col (i < rows, k < inner) is inside
        // `lhs`, likewise for `rhs` (the debug assertions above, true by the `TensorData`
        // invariant); the bias row holds `cols` values `step` apart; `dst` is rows × cols
        // cells, rows `cols` apart, borrowed mutably for the call (written, never read).
        unsafe { small_gemm::gemm(product, dst.as_mut_ptr().cast(), p.cols) };
        return;
    }
    let _ = (kernel, relu);
    // SAFETY: as above for the operands; `dst` holds rows × cols cells with column stride 1
    // and row stride `cols`; gemm reads them only when `read_dst` is true, exactly when the
    // bias rows were written there (`prefill`), and otherwise overwrites them all.
    unsafe {
        gemm::gemm(
            p.rows,
            p.cols,
            p.inner,
            dst.as_mut_ptr().cast(),
            1,
            p.cols as isize,
            bias.is_some(),
            lhs.as_ptr(),
            p.a.col as isize,
            p.a.row as isize,
            rhs.as_ptr(),
            p.b.col as isize,
            p.b.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Batch `batch`'s product for `small_gemm`, started from `bias` when given.
#[cfg(target_arch = "x86_64")]
pub(super) fn small_product(
    p: &Problem<'_>,
    batch: usize,
    bias: Option<BiasRow<'_>>,
    relu: bool,
) -> small_gemm::Product {
    small_gemm::Product {
        m: p.rows,
        n: p.cols,
        k: p.inner,
        a: small_gemm::Operand::new(p.a.matrix(batch), p.a.row, p.a.col),
        b: small_gemm::Operand::new(p.b.matrix(batch), p.b.row, p.b.col),
        start: match bias {
            None => small_gemm::Start::Zero,
            Some(row) => small_gemm::Start::Row {
                ptr: row.values.as_ptr(),
                step: row.step,
            },
        },
        relu,
    }
}

/// One product shared by the threads that compute its blocks of rows or columns.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct SharedProduct {
    pub(super) product: small_gemm::Product,
    pub(super) dst: *mut f64,
    pub(super) ldc: usize,
}

#[cfg(target_arch = "x86_64")]
impl SharedProduct {
    /// Computes the block of rows `i..i + m` and columns `j..j + n` of the product into the
    /// same cells of the output.
    ///
    /// # Safety
    /// `small_gemm::gemm`'s contract for the whole product, the block inside it, and no other
    /// thread writing these cells meanwhile.
    pub(super) unsafe fn block(&self, i: usize, j: usize, m: usize, n: usize) {
        let block = self.product.block(i, j, m, n);
        // SAFETY: `block` offsets `a` by i rows, `b` and the bias by j columns and narrows the
        // product to m × n; the output is offset to cell (i, j) with the same row stride, so
        // every cell written is one of this block's (the caller's contract).
        unsafe { small_gemm::gemm(block, self.dst.add(i * self.ldc + j), self.ldc) }
    }

    /// Computes the partial product over `k0..k0 + k` of the inner dimension: into the output,
    /// from the product's start (bias), or into `other` (m × n, rows `ldc` apart) from zero.
    ///
    /// # Safety
    /// `small_gemm::gemm`'s contract for the whole product, `k0 + k` at most its inner
    /// dimension, `other` (when given) writable for the output's cells, and no other thread
    /// writing the cells written here meanwhile.
    pub(super) unsafe fn partial(&self, k0: usize, k: usize, other: Option<*mut f64>) {
        let (start, dst) = match other {
            None => (self.product.start, self.dst),
            Some(dst) => (small_gemm::Start::Zero, dst),
        };
        // SAFETY: `inner` narrows the operands to k0..k0 + k, inside them (the caller's
        // contract); the output cells are the whole product's (m × n, `ldc` apart).
        unsafe { small_gemm::gemm(self.product.inner(k0, k, start), dst, self.ldc) }
    }
}

// SAFETY: the pointers are only used inside `run_product`'s parallel loop, while the operands,
// bias and output it borrows are alive; the threads read the operands and bias (nothing writes
// them during the call) and each writes a disjoint block of the output's cells.
#[cfg(target_arch = "x86_64")]
unsafe impl Send for SharedProduct {}
// SAFETY: as for `Send`: shared reads of the operands, disjoint writes to the output.
#[cfg(target_arch = "x86_64")]
unsafe impl Sync for SharedProduct {}

/// For a bias that broadcasts into `shape` (n, rows, cols) with one value per column — the
/// same for every row and batch — the step between its columns (0 or 1); `None` for any other
/// bias. Fails when the bias does not broadcast into `shape`.
fn bias_step(bias: &TensorData, shape: &[usize]) -> Result<Option<usize>> {
    broadcast_target("matmul_add", bias.shape(), shape)?;
    // Right-aligned with the output, the bias's stride along output dimension d (0 where the
    // bias has size 1 there, or no dimension: it broadcasts).
    let pad = shape.len() - bias.dims();
    let stride = |d: usize| {
        d.checked_sub(pad)
            .filter(|&i| bias.shape()[i] > 1)
            .map_or(0, |i| bias.strides()[i])
    };
    let varies = |d: usize| shape[d] > 1 && stride(d) != 0;
    Ok(match stride(2) {
        _ if varies(0) || varies(1) => None,
        _ if shape[2] == 1 => Some(0),
        s @ (0 | 1) => Some(s),
        _ => None,
    })
}
