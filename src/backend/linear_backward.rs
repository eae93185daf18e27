//! A linear layer's backward (the backward of `x @ W + b`, MiniTorch's `Linear`, alone or
//! followed by `relu`) as one backend operation: the defaults of
//! [`TensorOps::matmul_add_backward`] and [`TensorOps::matmul_add_relu_backward`], which
//! (after masking the output's gradient with a zip, for the ReLU) run the two products of
//! `MatMul`'s backward and sum the gradient over the rows for the bias. The fast backend masks
//! and sums in one pass and runs the two products as one job of its team
//! (`fast/linear_backward.rs`).

use super::{ReduceOp, TensorOps, ZipOp};
use crate::error::{Error, Result};
use crate::tensor_data::TensorData;

/// Checks the operands of a linear layer's backward `op` ([`TensorOps::matmul_add_backward`],
/// [`TensorOps::matmul_add_relu_backward`]): 2-D `a` (m, k) and `b` (k, n), and `grad` (and
/// `out`, when the op has one) (m, n). Returns [m, k, n].
pub(crate) fn linear_backward_shape(
    op: &'static str,
    a: &TensorData,
    b: &TensorData,
    out: Option<&TensorData>,
    grad: &TensorData,
) -> Result<[usize; 3]> {
    let fail = |message: String| Err(Error::Invalid { what: op, message });
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
        return fail(format!(
            "the operands {sa:?} and {sb:?} must be 2-D matrices (m, k) and (k, n)"
        ));
    }
    let shape = [sa[0], sb[1]];
    match out {
        Some(out) if out.shape() != shape || grad.shape() != shape => fail(format!(
            "the output {:?} and its gradient {:?} must both have the product's shape {shape:?} \
             (operands {sa:?} and {sb:?})",
            out.shape(),
            grad.shape(),
        )),
        None if grad.shape() != shape => fail(format!(
            "the gradient {:?} must have the product's shape {shape:?} (operands {sa:?} and \
             {sb:?})",
            grad.shape(),
        )),
        _ => Ok([sa[0], sa[1], sb[1]]),
    }
}

/// The default [`TensorOps::matmul_add_relu_backward`]: `grad` masked by `out` (a zip), then
/// [`matmul_add_backward_by_parts`]'s products and sum of the masked gradient.
pub(crate) fn matmul_add_relu_backward_by_parts(
    ops: &(impl TensorOps + ?Sized),
    a: &TensorData,
    b: &TensorData,
    out: &TensorData,
    grad: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    linear_backward_shape("matmul_add_relu_backward", a, b, Some(out), grad)?;
    let g = ops.zip(ZipOp::ReluBack, out, grad)?;
    products_and_sum(ops, a, b, &g, needs)
}

/// The default [`TensorOps::matmul_add_backward`]: the two products `grad @ bᵀ` and
/// `aᵀ @ grad` (2-D), and `grad` summed over its rows (a reduction), (1, n).
pub(crate) fn matmul_add_backward_by_parts(
    ops: &(impl TensorOps + ?Sized),
    a: &TensorData,
    b: &TensorData,
    grad: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    linear_backward_shape("matmul_add_backward", a, b, None, grad)?;
    products_and_sum(ops, a, b, grad, needs)
}

/// `g @ bᵀ`, `aᵀ @ g` and `g` summed over its rows, each when `needs` asks.
fn products_and_sum(
    ops: &(impl TensorOps + ?Sized),
    a: &TensorData,
    b: &TensorData,
    g: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    let grad_a = needs[0]
        .then(|| ops.matmul(g, &b.permute(&[1, 0])?))
        .transpose()?;
    let grad_b = needs[1]
        .then(|| ops.matmul(&a.permute(&[1, 0])?, g))
        .transpose()?;
    let grad_bias = needs[2]
        .then(|| ops.reduce(ReduceOp::Sum, g, 0))
        .transpose()?;
    Ok([grad_a, grad_b, grad_bias])
}
