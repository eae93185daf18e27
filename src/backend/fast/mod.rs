//! The fast CPU backend (MiniTorch tasks 3.1 and 3.2): the same results as the reference
//! backend, computed with slice loops the compiler vectorises, merged dimensions, broadcast
//! specialisations, size-gated parallelism (a team of spinning helper threads, `team.rs`), and
//! register-tiled or packed GEMM for matmul.
//!
//! Paths, chosen per call and visible in the [profiler](crate::profile):
//!
//! | kernel | contiguous | broadcast | strided |
//! |---|---|---|---|
//! | map / zip | every operand packed with the output's shape: one slice loop | an operand with stride 0 on the inner loop: scalar–vector loop (bias add) | merged dims, odometer rows, slice inner loop where the inner stride is 1 |
//! | reduce | reduced dim packed (stride 1): one local accumulator per output cell over a slice | — | reduced dim strided: rows of accumulators, stepping by the reduced stride |
//! | matmul | small products: own AVX-512 tiles (`small_gemm`), bias fused for `matmul_add`; big ones: `gemm`; both read the operands through their own strides (transposes are not copied) | batch of 1: batch stride 0 | — |
//!
//! Every path folds in the same order as the reference backend, so results are bit-identical
//! to it except matmul and matmul_add, which sum in tiled order (and start from the bias), so
//! tests compare them to a 1e-9 relative tolerance.

/// Defines `$wide`, which runs the `#[inline(always)]` loop `$plain` in a copy compiled for
/// AVX-512 when the CPU has it, else as it is. The crate is compiled for baseline x86-64, whose
/// vectors hold 2 f64 values; inlined into the AVX-512 copy (the op's function with it), the
/// same loop vectorises 8 wide (`docs/performance.md`, "Loops compiled for AVX-512"). The loop
/// must be a named function: a closure handed to a `#[target_feature]` function was not
/// inlined into it.
macro_rules! wide_copy {
    ($(#[$doc:meta])* $vis:vis fn $wide:ident = $plain:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$doc])*
        #[inline(always)]
        $vis fn $wide($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                /// # Safety
                /// The CPU must have AVX-512F.
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $plain($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: AVX-512F detected just above.
                    return unsafe { avx512($($arg),*) };
                }
            }
            $plain($($arg),*)
        }
    };
}

mod conv;
mod conv_backward;
mod direct_conv;
mod elementwise;
mod linear_backward;
mod matmul;
mod paired;
mod pool;
mod reduce;
#[cfg(target_arch = "x86_64")]
mod small_gemm;
mod strided;
mod team;
mod transpose;

use super::{MapOp, ReduceOp, TensorOps, ZipOp};
use crate::backend::diagnostics as profile;
use crate::error::Result;
use crate::tensor_data::TensorData;
use crate::tensor_data::reserved;
use std::mem::MaybeUninit;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The fast backend's kernels.
pub struct FastOps;

impl TensorOps for FastOps {
    fn map(&self, op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData> {
        elementwise::map(op, a, out_shape)
    }

    fn zip(&self, op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        elementwise::zip(op, a, b)
    }

    fn reduce(&self, op: ReduceOp, a: &TensorData, dim: usize) -> Result<TensorData> {
        reduce::reduce(op, a, dim)
    }

    fn matmul(&self, a: &TensorData, b: &TensorData) -> Result<TensorData> {
        matmul::matmul(a, b, None, false)
    }

    fn matmul_add(&self, a: &TensorData, b: &TensorData, bias: &TensorData) -> Result<TensorData> {
        matmul::matmul(a, b, Some(bias), false)
    }

    fn matmul_add_relu(
        &self,
        a: &TensorData,
        b: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        matmul::matmul(a, b, Some(bias), true)
    }

    fn matmul_add_backward(
        &self,
        a: &TensorData,
        b: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        linear_backward::matmul_add_backward(a, b, grad, needs)
    }

    fn matmul_add_relu_backward(
        &self,
        a: &TensorData,
        b: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        linear_backward::matmul_add_relu_backward(a, b, out, grad, needs)
    }

    fn conv2d(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out_hw: [usize; 2],
        reverse: bool,
    ) -> Result<TensorData> {
        conv::conv2d(input, weight, out_hw, reverse)
    }

    fn conv2d_add(
        &self,
        input: &TensorData,
        weight: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        match conv::conv2d_add(input, weight, bias, false)? {
            Some(out) => Ok(out),
            None => super::conv2d_then_add(self, input, weight, bias),
        }
    }

    fn conv2d_add_relu(
        &self,
        input: &TensorData,
        weight: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        match conv::conv2d_add(input, weight, bias, true)? {
            Some(out) => Ok(out),
            None => {
                let out = super::conv2d_then_add(self, input, weight, bias)?;
                elementwise::map(MapOp::Relu, &out, out.shape())
            }
        }
    }

    fn conv2d_add_relu_backward(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        conv_backward::conv2d_add_relu_backward(input, weight, out, grad, needs)
    }

    fn conv2d_add_relu_avgpool_backward(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        (kernel, needs): ([usize; 2], [bool; 3]),
    ) -> Result<[Option<TensorData>; 3]> {
        conv_backward::conv2d_add_relu_avgpool_backward(input, weight, out, grad, (kernel, needs))
    }

    fn avgpool2d(&self, input: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
        pool::avgpool2d(input, kernel)
    }

    fn avgpool2d_backward(&self, grad: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
        pool::avgpool2d_backward(grad, kernel)
    }

    fn add_scaled_(&self, y: &TensorData, alpha: f64, x: &TensorData) -> Result<()> {
        super::check_same_shape("add_scaled_", y, x)?;
        let same = y.storage().same_buffer(x.storage());
        if y.is_contiguous() && !x.is_contiguous() && !same && x.storage().is_host() {
            // A permuted gradient (a convolution's weight): packed by the strided map first.
            let packed = elementwise::map(MapOp::Id, x, x.shape())?;
            return self.add_scaled_(y, alpha, &packed);
        }
        if y.is_contiguous() && x.is_contiguous() && !same {
            let (src, mut dst) = (x.storage().read()?, y.storage().host_mut()?);
            let n = y.size();
            let xs = &src[x.offset()..][..n];
            let ys = &mut dst[y.offset()..][..n];
            let step = |ys: &mut [f64], xs: &[f64]| elementwise::add_scaled_slice(ys, alpha, xs);
            // A weight big enough for its products to be paired: its rows split as they do.
            let paired = n >= PAIRED_ELEMENTS && rayon::current_num_threads() > 1;
            if paired {
                let rows = y.shape().first().copied().unwrap_or(1).max(1);
                let h = paired_split(rows) * (n / rows);
                // Two pieces (h is at least half), the first on this thread.
                team::for_each_chunk_mut(ys, h, |i, piece| step(piece, &xs[i * h..]));
            } else {
                step(ys, xs);
            }
            profile::note(profile::Path::Contiguous, paired);
            return Ok(());
        }
        // Rare layouts (or aliasing): the reference loop.
        super::simple::SimpleOps.add_scaled_(y, alpha, x)
    }
}

/// Elements from which an SGD update (`add_scaled_`) is split in two like the products of
/// the weight it updates (`paired::Paired`).
const PAIRED_ELEMENTS: usize = 1 << 13;

/// Where a dimension of `len` is split between the calling thread and the helper when a
/// product or an update is paired: half, rounded up to 8 (`small_gemm`'s tiles), so that the
/// products of a weight and its update all cut it at the same row.
fn paired_split(len: usize) -> usize {
    len.div_ceil(2).next_multiple_of(8).min(len)
}

/// The default parallel threshold, in input elements: what [`parallel_threshold`] returns when
/// neither `MINITORCH_PAR_THRESHOLD` nor [`set_parallel_threshold`] set one (the convolution's
/// gather scales it). Map, zip and reduce have their own measured thresholds ([`Work`]).
pub const DEFAULT_PAR_THRESHOLD: usize = 1 << 16;

/// A kind of element-wise work, each with the size from which threads pay for it, measured
/// with `minitorch bench ops` under `MINITORCH_PAR_THRESHOLD=0` and `=∞` (numbers in
/// `docs/performance.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Map or zip whose operands are all packed in the output's shape (one slice loop).
    Contiguous,
    /// Map or zip through the odometer whose inner loops read every operand with stride 0 or
    /// 1 (a bias add, a broadcast row): as cheap per element as a contiguous loop.
    Broadcast,
    /// Map or zip reading some operand with a stride along the inner loop (a transposed or
    /// permuted operand): a cache line per element, so threads pay much earlier.
    Gather,
    /// Reduce where each output cell folds its own strided fibre (elements of the input).
    /// Reductions that add whole rows at a time stream like `Contiguous` and use its size.
    Reduce,
}

impl Work {
    /// Input elements from which this work is split across the threads by default.
    ///
    /// Measured with the team of spinning helpers (`team.rs`), whose hand-off costs ~1 µs
    /// (rayon's was 10–75 µs and put these at 2¹⁹, 2¹⁶ and 2¹⁷); split against one thread:
    ///
    /// - `Contiguous`, `Broadcast`: 2¹⁵: map relu 1.7× at 32,000 elements, 2.2× at 65,000;
    ///   zip mul 1.9×, 2.2×; bias add 1.4×, 1.6×; sums over rows 1.7×; at 16,000 about even.
    /// - `Gather`: 2¹⁶: a transposed map or zip split is slower up to 32,000 elements (0.5–1×)
    ///   and 1.35–1.45× at 65,000.
    /// - `Reduce`: 2¹⁶: one fibre per output cell (folded 8 cells at a time) split is 0.4× at
    ///   16,000–32,000 elements, 1.2× at 65,000, 1.5× at 131,000.
    pub const fn default_threshold(self) -> usize {
        match self {
            Work::Contiguous | Work::Broadcast => 1 << 15,
            Work::Gather => 1 << 16,
            Work::Reduce => 1 << 16,
        }
    }

    /// The threshold in force: the override when one is set, else the default for this work.
    pub fn threshold(self) -> usize {
        parallel_threshold();
        if OVERRIDDEN.load(Ordering::Relaxed) {
            THRESHOLD.load(Ordering::Relaxed)
        } else {
            self.default_threshold()
        }
    }
}

static THRESHOLD: AtomicUsize = AtomicUsize::new(0);
static OVERRIDDEN: AtomicBool = AtomicBool::new(false);
static THRESHOLD_INIT: OnceLock<()> = OnceLock::new();

/// The overall parallel threshold: the `MINITORCH_PAR_THRESHOLD` environment variable or
/// [`set_parallel_threshold`]'s value when given (then it applies to every kind of [`Work`]),
/// else [`DEFAULT_PAR_THRESHOLD`].
pub fn parallel_threshold() -> usize {
    THRESHOLD_INIT.get_or_init(|| {
        let value = std::env::var("MINITORCH_PAR_THRESHOLD")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        THRESHOLD.store(value.unwrap_or(DEFAULT_PAR_THRESHOLD), Ordering::Relaxed);
        OVERRIDDEN.store(value.is_some(), Ordering::Relaxed);
    });
    THRESHOLD.load(Ordering::Relaxed)
}

/// Sets the parallel threshold for the whole process and every kind of [`Work`]: 0 makes
/// every kernel parallel, `usize::MAX` makes every kernel serial (tests use both).
/// [`reset_parallel_threshold`] goes back to the measured per-work defaults.
pub fn set_parallel_threshold(elements: usize) {
    parallel_threshold();
    THRESHOLD.store(elements, Ordering::Relaxed);
    OVERRIDDEN.store(true, Ordering::Relaxed);
}

/// Drops any override: each kind of [`Work`] uses its measured default again.
pub fn reset_parallel_threshold() {
    parallel_threshold();
    THRESHOLD.store(DEFAULT_PAR_THRESHOLD, Ordering::Relaxed);
    OVERRIDDEN.store(false, Ordering::Relaxed);
}

/// Whether `work` over `elements` input elements runs on several threads.
fn parallel_for(work: Work, elements: usize) -> bool {
    elements >= work.threshold() && rayon::current_num_threads() > 1
}

/// A fresh buffer of `n` values for a tensor of `shape`, written by `fill(chunk, start)` for
/// consecutive chunks (`start` is the chunk's first index): in one piece on this thread, or
/// in one piece per thread when `parallel`. `fill` must write every cell of its chunk.
fn collect_chunks(
    op: &'static str,
    shape: &[usize],
    n: usize,
    parallel: bool,
    fill: impl Fn(&mut [MaybeUninit<f64>], usize) + Sync,
) -> Result<Vec<f64>> {
    let mut out = reserved(op, n, shape)?;
    let cells = &mut out.spare_capacity_mut()[..n];
    if parallel {
        let chunk = n.div_ceil(rayon::current_num_threads()).next_multiple_of(8);
        team::for_each_chunk_mut(cells, chunk, |i, piece| fill(piece, i * chunk));
    } else {
        fill(cells, 0);
    }
    // SAFETY: the chunks cover all n cells (`for_each_chunk_mut` / the whole slice), and `fill`
    // writes every cell of each chunk (its contract; both callers write one value per cell
    // from an iterator over exactly the chunk).
    unsafe { out.set_len(n) };
    Ok(out)
}

/// Fills `out` by calling `fill(chunk, first_ordinal)` on pieces whose lengths are multiples of
/// `align` (whole rows): on one thread when `work` (input elements touched) is below its kind's
/// threshold, split across threads above it, 4 pieces per thread for whichever is free, or one
/// run per thread for transposed reads ([`Work::Gather`]). Returns whether it ran in parallel.
///
/// A transposed read walks, for each tile of output rows, one line of every source row; with
/// one run per thread each core moves through its half of every source row's lines in order.
/// The zip of two transposed (1000, 1000) operands took 15–30% longer in 4 claimed pieces per
/// thread (`minitorch bench ops`, alternated builds: 418–482 µs against 351–383).
fn fill_chunks<T: Send>(
    out: &mut [T],
    align: usize,
    work: (Work, usize),
    fill: impl Fn(&mut [T], usize) + Sync,
) -> bool {
    let per_thread = if work.0 == Work::Gather { 1 } else { 4 };
    fill_pieces(out, align, work, per_thread, fill)
}

/// [`fill_chunks`] with one run of whole rows per thread, in order (the calling thread's is
/// the first): for ops that read a tensor written split the same way, by runs of batch entries
/// (the convolutions) or halves (`collect_chunks`), so that each core reads what it wrote.
/// (MNIST's pooling, split in 8 pieces claimed by whichever thread was free, read half its
/// input from the other core: `docs/performance.md`.) Returns whether it ran in parallel.
fn fill_runs<T: Send>(
    out: &mut [T],
    align: usize,
    work: (Work, usize),
    fill: impl Fn(&mut [T], usize) + Sync,
) -> bool {
    fill_pieces(out, align, work, 1, fill)
}

/// [`fill_chunks`] and [`fill_runs`]: `per_thread` pieces of whole rows per thread.
fn fill_pieces<T: Send>(
    out: &mut [T],
    align: usize,
    (kind, work): (Work, usize),
    per_thread: usize,
    fill: impl Fn(&mut [T], usize) + Sync,
) -> bool {
    let size = out.len();
    let threads = rayon::current_num_threads();
    if !parallel_for(kind, work) || size <= align {
        fill(out, 0);
        return false;
    }
    let chunk = size.div_ceil(threads * per_thread).div_ceil(align).max(1) * align;
    team::for_each_chunk_mut(out, chunk, |i, piece| fill(piece, i * chunk));
    true
}
