//! Fast batched matmul on the `gemm` crate: each batch is one GEMM call that reads the
//! operands through their own strides (a transposed operand is not copied), with AVX-512
//! kernels chosen at run time.

use crate::backend::matmul_shape;
use crate::error::Result;
use crate::layout::{Dims, Layout};
use crate::profile::{self, Path};
use crate::tensor_data::TensorData;
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Multiply-adds per GEMM call from which gemm may use several threads. Below it, thread
/// start-up costs more than it saves (the training sizes, e.g. 10×100 @ 100×100, stay on one
/// thread). gemm applies its own finer threshold above this one.
const PARALLEL_MACS: usize = 1 << 21;

/// `(n, i, k) @ (n, k, j)` with batch-1 broadcasting.
pub(super) fn matmul(a: &TensorData, b: &TensorData) -> Result<TensorData> {
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let inner = a.shape()[2];
    let (guard_a, guard_b) = (a.storage().borrow(), b.storage().borrow());
    let (la, lb) = (a.layout(), b.layout());
    let batch_stride = |l: &Layout| if l.shape[0] == 1 { 0 } else { l.strides[0] };
    let (ba, bb) = (batch_stride(la), batch_stride(lb));
    // The output is written in full by gemm (`read_dst = false`), so it is not zeroed first.
    let mut out: Vec<f64> = Vec::with_capacity(n * rows * cols);
    let (lhs_all, rhs_all): (&[f64], &[f64]) = (&guard_a, &guard_b);
    let one = |batch: usize, dst: &mut [MaybeUninit<f64>], parallelism: Parallelism| {
        let lhs = &lhs_all[la.offset + batch * ba..];
        let rhs = &rhs_all[lb.offset + batch * bb..];
        // SAFETY: the layouts were validated against their storage (TensorData::from_parts and
        // the constructors), so every position `offset + i·stride_row + k·stride_col` with
        // i < rows and k < inner lies inside `lhs` (likewise `rhs` for k < inner, j < cols);
        // `dst` holds exactly rows × cols packed slots, which gemm only writes (read_dst is
        // false and alpha 0, so the uninitialised slots are never read). The slices outlive
        // the call.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                inner,
                dst.as_mut_ptr().cast::<f64>(),
                1,
                cols as isize,
                false,
                lhs.as_ptr(),
                la.strides[2] as isize,
                la.strides[1] as isize,
                rhs.as_ptr(),
                lb.strides[2] as isize,
                lb.strides[1] as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    };
    let threads = rayon::current_num_threads();
    let big = rows * cols * inner >= PARALLEL_MACS && threads > 1;
    let per_batch = rows * cols;
    // Enough batches to go round: one thread per batch, each GEMM serial (no split overhead).
    // Otherwise batches run in turn and gemm splits each one across the threads.
    let by_batch = big && n >= threads;
    let slots = &mut out.spare_capacity_mut()[..n * per_batch];
    if by_batch {
        slots
            .par_chunks_mut(per_batch)
            .enumerate()
            .for_each(|(b, dst)| one(b, dst, Parallelism::None));
    } else {
        let parallelism = if big {
            Parallelism::Rayon(0)
        } else {
            Parallelism::None
        };
        slots
            .chunks_mut(per_batch)
            .enumerate()
            .for_each(|(b, dst)| one(b, dst, parallelism));
    }
    // SAFETY: every one of the n · rows · cols slots was written by a gemm call above.
    unsafe { out.set_len(n * per_batch) };
    let parallel = big;
    profile::note(
        if ba == 0 || bb == 0 {
            Path::Broadcast
        } else {
            Path::Gemm
        },
        parallel,
    );
    Ok(TensorData::packed(out, Dims::new(&[n, rows, cols])?))
}
