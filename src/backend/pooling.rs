//! Average pooling as a backend op (MiniTorch task 4.3): the shape checks every backend shares,
//! and the default kernels built from map, zip and reduce, which the simple and CUDA backends
//! use and the fast backend replaces with one pass each way.
//!
//! MiniTorch writes `avgpool2d` as `tile` then `mean`: the input viewed as
//! (B, C, H/kh, kh, W/kw, kw) is summed along kh, then along kw (whole rows of W values added
//! first), and scaled by 1/(kh·kw). Its gradient is the output's gradient scaled by the same
//! 1/(kh·kw) and spread over each block. The defaults below do exactly these steps, in this
//! order, so a backend that overrides them can be checked against them value for value.

use super::{MapOp, ReduceOp, TensorOps, ZipOp};
use crate::error::{Error, Result};
use crate::tensor_data::TensorData;

/// Checks a pooling input (B, C, H, W) and kernel (kh, kw); returns the output shape
/// (B, C, H/kh, W/kw). `op` names the caller in the error.
pub(crate) fn pool2d_shape(
    op: &'static str,
    shape: &[usize],
    [kh, kw]: [usize; 2],
) -> Result<[usize; 4]> {
    if shape.len() != 4 {
        return Err(Error::Invalid {
            what: op,
            message: format!("expected a 4-D input (B, C, H, W), got shape {shape:?}"),
        });
    }
    let [b, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    if kh == 0 || kw == 0 || h % kh != 0 || w % kw != 0 {
        return Err(Error::Invalid {
            what: op,
            message: format!(
                "kernel ({kh}, {kw}) must divide the height and width of shape {shape:?} exactly"
            ),
        });
    }
    Ok([b, c, h / kh, w / kw])
}

/// Checks the gradient (B, C, H/kh, W/kw) of a pooled output; returns its four sizes and the
/// input's shape (B, C, H, W).
pub(crate) fn unpool2d_shape(
    grad: &[usize],
    [kh, kw]: [usize; 2],
) -> Result<([usize; 4], [usize; 4])> {
    let op = "avgpool2d_backward";
    if grad.len() != 4 || kh == 0 || kw == 0 {
        return Err(Error::Invalid {
            what: op,
            message: format!(
                "expected a 4-D gradient (B, C, H/kh, W/kw) and a kernel of at least 1 × 1, got \
                 shape {grad:?} and kernel ({kh}, {kw})"
            ),
        });
    }
    let spread = |n: usize, k: usize| {
        n.checked_mul(k).ok_or_else(|| Error::Invalid {
            what: op,
            message: format!("shape {grad:?} spread by kernel ({kh}, {kw}) overflows"),
        })
    };
    let shape = [grad[0], grad[1], spread(grad[2], kh)?, spread(grad[3], kw)?];
    crate::layout::check_shape(op, &shape)?;
    Ok(([grad[0], grad[1], grad[2], grad[3]], shape))
}

/// The factor 1/(kh·kw) as a one-element tensor in `ops`'s memory.
fn scale(ops: &(impl TensorOps + ?Sized), [kh, kw]: [usize; 2]) -> Result<TensorData> {
    ops.adopt(&TensorData::new(vec![1.0 / (kh * kw) as f64], &[1])?)
}

/// The default [`TensorOps::avgpool2d`]: the (packed) input viewed as
/// (B, C, H/kh, kh, W/kw, kw), summed along kh, then kw, times 1/(kh·kw).
pub(crate) fn avgpool2d_by_reductions(
    ops: &(impl TensorOps + ?Sized),
    input: &TensorData,
    kernel: [usize; 2],
) -> Result<TensorData> {
    let [b, c, nh, nw] = pool2d_shape("avgpool2d", input.shape(), kernel)?;
    let [kh, kw] = kernel;
    let packed = if input.is_contiguous() {
        input.clone()
    } else {
        ops.map(MapOp::Id, input, input.shape())?
    };
    let blocks = packed.view(&[b, c, nh, kh, nw, kw])?;
    let sums = ops.reduce(ReduceOp::Sum, &ops.reduce(ReduceOp::Sum, &blocks, 3)?, 5)?;
    ops.zip(ZipOp::Mul, &sums, &scale(ops, kernel)?)?
        .view(&[b, c, nh, nw])
}

/// The default [`TensorOps::avgpool2d_backward`]: `grad` times 1/(kh·kw), each value
/// broadcast over its kh × kw block.
pub(crate) fn avgpool2d_backward_by_spreading(
    ops: &(impl TensorOps + ?Sized),
    grad: &TensorData,
    kernel: [usize; 2],
) -> Result<TensorData> {
    let ([b, c, nh, nw], shape) = unpool2d_shape(grad.shape(), kernel)?;
    let [kh, kw] = kernel;
    let scaled = ops.zip(ZipOp::Mul, grad, &scale(ops, kernel)?)?;
    let spread = ops.map(
        MapOp::Id,
        &scaled.view(&[b, c, nh, 1, nw, 1])?,
        &[b, c, nh, kh, nw, kw],
    )?;
    spread.view(&shape)
}
