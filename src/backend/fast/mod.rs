//! The fast CPU backend (MiniTorch tasks 3.1 and 3.2): the same results as the reference
//! backend, computed with slice loops the compiler vectorises, merged dimensions, broadcast
//! specialisations, size-gated parallelism (rayon), and register-tiled or packed GEMM for
//! matmul.
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

mod conv;
mod direct_conv;
mod elementwise;
mod matmul;
mod reduce;
#[cfg(target_arch = "x86_64")]
mod small_gemm;
mod strided;

use super::{MapOp, ReduceOp, TensorOps, ZipOp};
use crate::backend::diagnostics as profile;
use crate::error::Result;
use crate::tensor_data::TensorData;
use rayon::prelude::*;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        matmul::matmul(a, b, None)
    }

    fn matmul_add(&self, a: &TensorData, b: &TensorData, bias: &TensorData) -> Result<TensorData> {
        matmul::matmul(a, b, Some(bias))
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
            ys.iter_mut().zip(xs).for_each(|(v, &g)| *v += alpha * g);
            profile::note(profile::Path::Contiguous, false);
            return Ok(());
        }
        // Rare layouts (or aliasing): the reference loop.
        super::simple::SimpleOps.add_scaled_(y, alpha, x)
    }
}

/// Output size (elements) from which map, zip and reduce run on several threads.
///
/// Below it a rayon dispatch costs more than the second core saves on these memory-bound loops
/// (measurements in `docs/performance.md`). Override with the `MINITORCH_PAR_THRESHOLD` environment variable
/// or [`set_parallel_threshold`].
pub const DEFAULT_PAR_THRESHOLD: usize = 1 << 16;

static THRESHOLD: AtomicUsize = AtomicUsize::new(0);
static THRESHOLD_INIT: OnceLock<()> = OnceLock::new();

/// The current parallel threshold (see [`DEFAULT_PAR_THRESHOLD`]).
pub fn parallel_threshold() -> usize {
    THRESHOLD_INIT.get_or_init(|| {
        let value = std::env::var("MINITORCH_PAR_THRESHOLD")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_PAR_THRESHOLD);
        THRESHOLD.store(value, Ordering::Relaxed);
    });
    THRESHOLD.load(Ordering::Relaxed)
}

/// Sets the parallel threshold for the whole process: 0 makes every kernel parallel,
/// `usize::MAX` makes every kernel serial (tests use both).
pub fn set_parallel_threshold(elements: usize) {
    parallel_threshold();
    THRESHOLD.store(elements, Ordering::Relaxed);
}

/// Fills `out` by calling `fill(chunk, first_ordinal)` on pieces whose lengths are multiples of
/// `align` (whole rows): on one thread when `work` (input elements touched) is below the
/// threshold, split across threads above it. Returns whether it ran in parallel.
fn fill_chunks(
    out: &mut [f64],
    align: usize,
    work: usize,
    fill: impl Fn(&mut [f64], usize) + Sync,
) -> bool {
    let size = out.len();
    let threads = rayon::current_num_threads();
    if work < parallel_threshold() || threads < 2 || size <= align {
        fill(out, 0);
        return false;
    }
    let chunk = size.div_ceil(threads * 4).div_ceil(align).max(1) * align;
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, piece)| fill(piece, i * chunk));
    true
}
