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

/// Multiply-adds per GEMM call from which gemm may use several threads. Below it, thread
/// start-up costs more than it saves (the training sizes, e.g. 10×100 @ 100×100, stay on one
/// thread). gemm applies its own finer threshold above this one.
const PARALLEL_MACS: usize = 1 << 21;

/// The output pointer, shared by calls that write disjoint cells.
#[derive(Clone, Copy)]
struct SendPtr(*mut f64);
// SAFETY: each thread writes a disjoint set of cells through the pointer (see `block`).
unsafe impl Send for SendPtr {}
// SAFETY: as above; the pointer itself is never mutated.
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f64 {
        self.0
    }
}

/// `(n, i, k) @ (n, k, j)` with batch-1 broadcasting.
pub(super) fn matmul(a: &TensorData, b: &TensorData) -> Result<TensorData> {
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let inner = a.shape()[2];
    let (guard_a, guard_b) = (a.storage().read()?, b.storage().read()?);
    let (la, lb) = (a.layout(), b.layout());
    let batch_stride = |l: &Layout| if l.shape[0] == 1 { 0 } else { l.strides[0] };
    let (ba, bb) = (batch_stride(la), batch_stride(lb));
    // The output is written in full by gemm (`read_dst = false`), so it is not zeroed first.
    let mut out: Vec<f64> = Vec::with_capacity(n * rows * cols);
    let (lhs_all, rhs_all): (&[f64], &[f64]) = (&guard_a, &guard_b);
    let threads = rayon::current_num_threads();
    let macs = rows * cols * inner;
    let per_batch = rows * cols;
    let dst_all = SendPtr(out.as_mut_ptr());
    // One batch's product, written into `out`.
    let block = |batch: usize, parallelism: Parallelism| {
        let lhs = &lhs_all[la.offset + batch * ba..];
        let rhs = &rhs_all[lb.offset + batch * bb..];
        // SAFETY: the layouts were validated against their storage (TensorData::from_parts and
        // the constructors), so every position `offset + i·stride_row + k·stride_col` with
        // i < rows and k < inner lies inside `lhs` (likewise `rhs` for k < inner, j < cols).
        // `out` has capacity for n · rows · cols values; this call writes exactly the cells
        // (batch, ·, ·) — disjoint from every other call —
        // and never reads them (read_dst is false, alpha 0), so uninitialised memory is never
        // read. The buffers outlive the call.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                inner,
                dst_all.get().add(batch * per_batch),
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
    let parallel = macs >= PARALLEL_MACS && threads > 1;
    if parallel && n >= threads {
        // Enough big batches to go round: one thread per batch, each GEMM serial.
        (0..n)
            .into_par_iter()
            .for_each(|b| block(b, Parallelism::None));
    } else if parallel {
        // Big products in turn, each split across the threads by gemm.
        (0..n).for_each(|b| block(b, Parallelism::Rayon(0)));
    } else {
        // Training sizes: splitting a product across threads measured slower (hidden 200:
        // 1.13 ms/epoch with two column halves on two threads against 0.58 ms on one).
        (0..n).for_each(|b| block(b, Parallelism::None));
    }
    // SAFETY: every one of the n · rows · cols values was written by a gemm call above.
    unsafe { out.set_len(n * per_batch) };
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
