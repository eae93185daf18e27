//! Fast backward of a linear layer, with its ReLU or without: the mask and the bias's gradient
//! in one pass, the two products in one job.
//!
//! The default (`backend/linear_backward.rs`) masks the output's gradient with a zip, sums the
//! bias's gradient with a reduction (a second read of the masked gradient) and runs the two
//! products one after the other. Here the calling thread masks the gradient row by row and
//! adds each row into the column sums as it writes it (the reduction's order: bit for bit its
//! sums), and when both products are paired (`paired::Paired`, a training step's sizes) each
//! core computes its half of both in one team job — the same half of the weight on the same
//! core as in the forward product and the update, one synchronisation instead of two.
//! Without the ReLU (an output layer) the pass only sums the gradient's columns. Gradients
//! big enough for threads (`Work::Contiguous`) take the default, whose zip and reduction are
//! threaded. Measurements: `docs/performance.md`.

use super::{FastOps, Work, matmul, paired, parallel_for};
use crate::backend::diagnostics::{self as profile, Path};
use crate::backend::linear_backward::{
    linear_backward_shape, matmul_add_backward_by_parts, matmul_add_relu_backward_by_parts,
};
use crate::error::Result;
use crate::layout::Dims;
use crate::operators::relu_back;
use crate::tensor_data::{TensorData, reserved};
use std::mem::MaybeUninit;

/// Fast [`matmul_add_relu_backward`](crate::backend::TensorOps::matmul_add_relu_backward).
pub(super) fn matmul_add_relu_backward(
    a: &TensorData,
    b: &TensorData,
    out: &TensorData,
    grad: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    let [m, _, n] = linear_backward_shape("matmul_add_relu_backward", a, b, Some(out), grad)?;
    let cells = m * n;
    if !(out.is_contiguous() && grad.is_contiguous() && cells > 0)
        || parallel_for(Work::Contiguous, cells)
    {
        return matmul_add_relu_backward_by_parts(&FastOps, a, b, out, grad, needs);
    }
    let mut values = reserved("matmul_add_relu_backward", cells, &[m, n])?;
    // Pooled buffers, like every op's output (`tests/allocations.rs`).
    let mut sums = reserved("matmul_add_relu_backward", n, &[1, n])?;
    sums.resize(n, 0.0);
    {
        let (guard_out, guard_grad) = (out.storage().read()?, grad.storage().read()?);
        // Packed, so their values are the m · n from their offsets (spans checked at
        // construction).
        let (so, sg) = (
            &guard_out[out.offset()..][..cells],
            &guard_grad[grad.offset()..][..cells],
        );
        mask_rows_wide(&mut values.spare_capacity_mut()[..cells], so, sg, &mut sums);
    }
    // SAFETY: `mask_rows` wrote every cell of its m rows of n.
    unsafe { values.set_len(cells) };
    profile::note(Path::Contiguous, false);
    let g = TensorData::packed_like(values, grad);
    products_and_sums(a, b, &g, sums, needs)
}

/// Fast [`matmul_add_backward`](crate::backend::TensorOps::matmul_add_backward): the
/// gradient's column sums in one pass (the reduction's order, bit for bit its sums), then the
/// products as for the layer with its ReLU.
pub(super) fn matmul_add_backward(
    a: &TensorData,
    b: &TensorData,
    grad: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    let [m, _, n] = linear_backward_shape("matmul_add_backward", a, b, None, grad)?;
    let cells = m * n;
    if !(grad.is_contiguous() && cells > 0) || parallel_for(Work::Contiguous, cells) {
        return matmul_add_backward_by_parts(&FastOps, a, b, grad, needs);
    }
    let mut sums = reserved("matmul_add_backward", n, &[1, n])?;
    sums.resize(n, 0.0);
    if needs[2] {
        let guard = grad.storage().read()?;
        // Packed: its m · n values from its offset (span checked at construction).
        for row in guard[grad.offset()..][..cells].chunks_exact(n) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
    products_and_sums(a, b, grad, sums, needs)
}

/// A linear layer's gradients from its (masked) output gradient `g`, (m, n), and `g`'s column
/// sums: `g @ bᵀ` and `aᵀ @ g` — as one team job when both are paired (`paired::matmul_two`) —
/// and the sums as the bias's (1, n), each when `needs` asks.
fn products_and_sums(
    a: &TensorData,
    b: &TensorData,
    g: &TensorData,
    sums: Vec<f64>,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    let n = sums.len();
    let (bt, at) = (b.permute(&[1, 0])?, a.permute(&[1, 0])?);
    let (grad_a, grad_b) = match needs {
        [true, true, _] => {
            let [ga, gb] = paired::matmul_two([[g, &bt], [&at, g]])?;
            (Some(ga), Some(gb))
        }
        [first, second, _] => (
            first
                .then(|| matmul::matmul(g, &bt, None, false))
                .transpose()?,
            second
                .then(|| matmul::matmul(&at, g, None, false))
                .transpose()?,
        ),
    };
    Ok([
        grad_a,
        grad_b,
        needs[2]
            .then(|| Ok(TensorData::packed(sums, Dims::new(&[1, n])?)))
            .transpose()?,
    ])
}

/// `dst[i] = relu_back(out[i], grad[i])` row by row (rows of `sums.len()` values), each row
/// added into `sums` as it is written: the sums over the rows, in row order.
#[inline(always)]
fn mask_rows(dst: &mut [MaybeUninit<f64>], out: &[f64], grad: &[f64], sums: &mut [f64]) {
    let n = sums.len();
    for ((d, o), g) in dst
        .chunks_exact_mut(n)
        .zip(out.chunks_exact(n))
        .zip(grad.chunks_exact(n))
    {
        for (((d, &o), &g), s) in d.iter_mut().zip(o).zip(g).zip(sums.iter_mut()) {
            let v = relu_back(o, g);
            d.write(v);
            *s += v;
        }
    }
}

wide_copy! {
    /// [`mask_rows`], in its AVX-512 copy when the CPU has it.
    fn mask_rows_wide = mask_rows(dst: &mut [MaybeUninit<f64>], out: &[f64], grad: &[f64], sums: &mut [f64])
}
