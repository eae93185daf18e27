//! A linear layer's backward with its ReLU (the backward of `relu(x @ W + b)`, MiniTorch's
//! `Linear` followed by `relu`) as one backend operation: the default of
//! [`TensorOps::matmul_add_relu_backward`], which masks the output's gradient with a zip, runs
//! the two products of `MatMul`'s backward on it and sums it over the rows for the bias. The
//! fast backend masks and sums in one pass and runs the two products as one job of its team
//! (`fast/linear_backward.rs`).

use super::{ReduceOp, TensorOps, ZipOp};
use crate::error::{Error, Result};
use crate::tensor_data::TensorData;

/// Checks the operands of [`TensorOps::matmul_add_relu_backward`]: 2-D `a` (m, k) and `b`
/// (k, n), and `out` and `grad` both (m, n). Returns [m, k, n].
pub(crate) fn linear_backward_shape(
    a: &TensorData,
    b: &TensorData,
    out: &TensorData,
    grad: &TensorData,
) -> Result<[usize; 3]> {
    let fail = |message: String| {
        Err(Error::Invalid {
            what: "matmul_add_relu_backward",
            message,
        })
    };
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
        return fail(format!(
            "the operands {sa:?} and {sb:?} must be 2-D matrices (m, k) and (k, n)"
        ));
    }
    let shape = [sa[0], sb[1]];
    if out.shape() != shape || grad.shape() != shape {
        return fail(format!(
            "the output {:?} and its gradient {:?} must both have the product's shape {shape:?} \
             (operands {sa:?} and {sb:?})",
            out.shape(),
            grad.shape(),
        ));
    }
    Ok([sa[0], sa[1], sb[1]])
}

/// The default [`TensorOps::matmul_add_relu_backward`]: `grad` masked by `out` (a zip), the
/// two products `g @ bᵀ` and `aᵀ @ g` (each a batch of one), and the masked gradient summed
/// over its rows (a reduction), (1, n).
pub(crate) fn matmul_add_relu_backward_by_parts(
    ops: &(impl TensorOps + ?Sized),
    a: &TensorData,
    b: &TensorData,
    out: &TensorData,
    grad: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    let [m, k, n] = linear_backward_shape(a, b, out, grad)?;
    let g = ops.zip(ZipOp::ReluBack, out, grad)?;
    let grad_a = needs[0]
        .then(|| {
            ops.matmul(&g.lifted(), &b.permute(&[1, 0])?.lifted())?
                .view(&[m, k])
        })
        .transpose()?;
    let grad_b = needs[1]
        .then(|| {
            ops.matmul(&a.permute(&[1, 0])?.lifted(), &g.lifted())?
                .view(&[k, n])
        })
        .transpose()?;
    let grad_bias = needs[2]
        .then(|| ops.reduce(ReduceOp::Sum, &g, 0))
        .transpose()?;
    Ok([grad_a, grad_b, grad_bias])
}
