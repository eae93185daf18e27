//! Fast batched matmul on the `gemm` crate: each batch is one GEMM call that reads the
//! operands through their own strides (a transposed operand is not copied), with AVX-512
//! kernels chosen at run time.

use crate::backend::matmul_shape;
use crate::error::Result;
use crate::layout::{Dims, Layout};
use crate::profile::{self, Path};
use crate::tensor_data::TensorData;
use gemm::Parallelism;

/// Multiply-adds per GEMM call from which gemm may use several threads. Below it, thread
/// start-up costs more than it saves (the training sizes, e.g. 10×100 @ 100×100, stay on one
/// thread). gemm applies its own finer threshold above this one.
const PARALLEL_MACS: usize = 1 << 18;

/// `(n, i, k) @ (n, k, j)` with batch-1 broadcasting.
pub(super) fn matmul(a: &TensorData, b: &TensorData) -> Result<TensorData> {
    let [n, rows, cols] = matmul_shape(a.shape(), b.shape())?;
    let inner = a.shape()[2];
    let (guard_a, guard_b) = (a.storage().borrow(), b.storage().borrow());
    let (la, lb) = (a.layout(), b.layout());
    let batch_stride = |l: &Layout| if l.shape[0] == 1 { 0 } else { l.strides[0] };
    let (ba, bb) = (batch_stride(la), batch_stride(lb));
    let mut out = vec![0.0; n * rows * cols];
    let parallel = rows * cols * inner >= PARALLEL_MACS && rayon::current_num_threads() > 1;
    let parallelism = if parallel {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    for batch in 0..n {
        let lhs = &guard_a[la.offset + batch * ba..];
        let rhs = &guard_b[lb.offset + batch * bb..];
        let dst = &mut out[batch * rows * cols..][..rows * cols];
        // SAFETY: the layouts were validated against their storage (TensorData::from_parts and
        // the constructors), so every position `offset + i·stride_row + k·stride_col` with
        // i < rows and k < inner lies inside `lhs` (likewise `rhs` for k < inner, j < cols);
        // `dst` holds exactly rows × cols packed values. The slices outlive the call.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                inner,
                dst.as_mut_ptr(),
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
    }
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
