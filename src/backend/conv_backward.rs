//! A convolution layer's gradients (the backward of MiniTorch tasks 4.1–4.2) as backend
//! operations: [`conv2d_grads`], the input's and the weight's gradients, each a convolution
//! (the autodiff functions `Conv` and `ConvAdd` use it), and the default of
//! [`TensorOps::conv2d_add_relu_backward`], a layer with its ReLU: the gradient masked where the
//! output is positive, those two convolutions, and the bias's gradient summed per channel. The
//! fast backend computes the mask and the sums in one pass (`fast/conv_backward.rs`).

use super::{ReduceOp, TensorOps, ZipOp, conv2d_shape};
use crate::error::{Error, Result};
use crate::tensor_data::TensorData;

/// The gradients of `conv2d(input, weight)` (4-D operands, output (B, Cout, H, W)) from the
/// output's gradient `g`, each only when `needs` asks: the input's, `g` convolved in reverse
/// with the weight's channels swapped; the weight's, the input convolved with `g` over the
/// batch (batch and channels swapped in both), (Cout, Cin, KH, KW).
pub(crate) fn conv2d_grads(
    ops: &(impl TensorOps + ?Sized),
    input: &TensorData,
    weight: &TensorData,
    g: &TensorData,
    needs: [bool; 2],
) -> Result<[Option<TensorData>; 2]> {
    let swap = [1, 0, 2, 3];
    let [h, w] = [input.shape()[2], input.shape()[3]];
    let [kh, kw] = [weight.shape()[2], weight.shape()[3]];
    let grad_input = needs[0]
        .then(|| ops.conv2d(g, &weight.permute(&swap)?, [h, w], true))
        .transpose()?;
    let grad_weight = needs[1]
        .then(|| {
            ops.conv2d(&input.permute(&swap)?, &g.permute(&swap)?, [kh, kw], false)?
                .permute(&swap)
        })
        .transpose()?;
    Ok([grad_input, grad_weight])
}

/// Checks the operands of [`TensorOps::conv2d_add_relu_backward`]: 4-D `input` and `weight`
/// whose channels agree, and `out` and `grad` both of the convolution's output shape
/// (B, Cout, H, W), which it returns.
pub(crate) fn relu_backward_shape(
    input: &TensorData,
    weight: &TensorData,
    out: &TensorData,
    grad: &TensorData,
) -> Result<[usize; 4]> {
    let shape = conv2d_shape(
        input.shape(),
        weight.shape(),
        [
            input.shape().get(2).copied().unwrap_or(0),
            input.shape().get(3).copied().unwrap_or(0),
        ],
    )?;
    if out.shape() != &*shape || grad.shape() != &*shape {
        return Err(Error::Invalid {
            what: "conv2d_add_relu_backward",
            message: format!(
                "the output {:?} and its gradient {:?} must both have the convolution's shape \
                 {:?} (input {:?}, weight {:?})",
                out.shape(),
                grad.shape(),
                &*shape,
                input.shape(),
                weight.shape()
            ),
        });
    }
    Ok([shape[0], shape[1], shape[2], shape[3]])
}

/// The default [`TensorOps::conv2d_add_relu_backward`]: `grad` masked by `out` (a zip), the
/// two convolutions of [`conv2d_grads`], and the masked gradient's sums over each channel's
/// rows of H·W values, then over the batch (two reductions), as (1, Cout, 1, 1).
pub(crate) fn conv2d_add_relu_backward_by_parts(
    ops: &(impl TensorOps + ?Sized),
    input: &TensorData,
    weight: &TensorData,
    out: &TensorData,
    grad: &TensorData,
    needs: [bool; 3],
) -> Result<[Option<TensorData>; 3]> {
    let [b, c, h, w] = relu_backward_shape(input, weight, out, grad)?;
    let g = ops.zip(ZipOp::ReluBack, out, grad)?;
    let [grad_input, grad_weight] = conv2d_grads(ops, input, weight, &g, [needs[0], needs[1]])?;
    let grad_bias = needs[2]
        .then(|| {
            let rows = ops.reduce(ReduceOp::Sum, &g.view(&[b, c, h * w])?, 2)?;
            ops.reduce(ReduceOp::Sum, &rows, 0)?.view(&[1, c, 1, 1])
        })
        .transpose()?;
    Ok([grad_input, grad_weight, grad_bias])
}
