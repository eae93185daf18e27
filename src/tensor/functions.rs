//! Tensor functions (MiniTorch tasks 2.3, 2.4 and the MatMul of 3.2): the forward and backward
//! of every differentiable tensor operation, written against the backend interface.
//!
//! | function | forward | backward (gradient `g`) |
//! |---|---|---|
//! | Neg | −a | −g |
//! | Inv | 1/a, saves a | −g/a² |
//! | Add | a + b | (g, g) |
//! | Mul | a·b, saves a, b | (g·b, g·a) |
//! | Sigmoid | σ(a), saves σ(a) | g·σ·(1−σ) |
//! | ReLU | relu(a), saves a | g where a > 0 |
//! | Log | ln(a + 1e-6), saves a | g/(a + 1e-6) |
//! | Exp | eᵃ, saves eᵃ | g·eᵃ |
//! | Sum(dim) | Σ along dim (kept, size 1) | g broadcast back, as a view (stride 0) |
//! | LT, EQ | 1.0/0.0 | zeros |
//! | IsClose, All | 1.0/0.0 | not differentiable (output is a constant) |
//! | Permute | reorder dims (same storage) | g permuted back |
//! | View | new shape (same storage) | g (made contiguous) viewed back |
//! | Copy | packed copy | g |
//! | MatMul | a @ b, saves a, b | (g @ bᵀ, aᵀ @ g), ᵀ over the last two dims |
//! | MatMulAdd | a @ b + c in one op (one kernel on the fast backend), saves a, b | (g @ bᵀ, aᵀ @ g, g) |
//! | MatMulAddRelu | relu(a @ b + c) in one op (the fast kernels clamp each tile at its store), saves a, b and the output | MatMulAdd's, of g where the output > 0; for 2-D operands and a bias per column one backend op, `matmul_add_relu_backward` (the fast backend masks and sums the bias's gradient in one pass and runs both products as one job) |
//! | Max(dim) | max along dim (kept, size 1), saves a and the max | g where a equals the max (every tied position gets all of g, as in MiniTorch) |
//! | AvgPool2d(kh, kw) | mean of each kh × kw block of a (B, C, H, W) input, (B, C, H/kh, W/kw) (one pass on the fast backend) | g/(kh·kw) spread over each block |
//! | BinaryNll | −log(a·b + (a−1)·(b−1)) in one op (the course's loss of probability a for label b), saves a, b | (g·∂/∂a, g·∂/∂b), each one zip for the derivative (`binary_nll_back`) and one `mul` |
//! | Embedding(ids) | rows `ids` of a (V, D) table, (N, D) | g's rows added into the rows they came from, (V, D) |
//! | Conv | cross-correlation, 1-D (B,C,W) or 2-D (B,C,H,W), width kept, window anchored at the start; saves input, weight | (conv of g with the weight's channels swapped, reversed; conv of the input with g, batch and channel swapped) |
//! | ConvAdd | Conv plus a bias in one op (one kernel on the fast backend), saves input, weight | (Conv's two, g) |
//! | ConvAddRelu | relu(ConvAdd) in one op (the fast kernel clamps each tile before storing it), saves input, weight and the output | ConvAdd's, of g where the output > 0 (the same positions as the pre-activation's); with a bias per channel one backend op, `conv2d_add_relu_backward` (the fast backend masks and sums the bias's gradient in one pass) |
//! | ConvAddReluPool(kh, kw) | AvgPool2d of ConvAddRelu's output (2-D), saves input, weight and the output before pooling | ConvAddRelu's, of g spread by AvgPool2d's backward; with a bias per channel one backend op, `conv2d_add_relu_avgpool_backward` (the fast backend's mask reads the pooled g, and the spread one is never written) |
//!
//! Gradients of broadcast inputs come back in the broadcast shape; the caller
//! ([`autograd`](super::autograd)) sums them down to each input's shape.

use crate::autodiff::Context;
use crate::backend::conv_backward::conv2d_grads;
use crate::backend::{MapOp, ReduceOp, TensorOps, ZipOp};
use crate::error::{Error, Result};
use crate::layout::{Dims, broadcast_target};
use crate::tensor_data::TensorData;
use smallvec::{SmallVec, smallvec};
use std::sync::Arc;

/// One differentiable (or explicitly non-differentiable) tensor operation.
#[derive(Clone, Debug)]
pub(crate) enum Function {
    Neg,
    Inv,
    Add,
    Mul,
    Sigmoid,
    Relu,
    Log,
    Exp,
    Sum(usize),
    Lt,
    Eq,
    IsClose,
    All(usize),
    Permute(Dims),
    View(Dims),
    Copy,
    MatMul,
    MatMulAdd,
    MatMulAddRelu,
    Max(usize),
    Conv,
    ConvAdd,
    ConvAddRelu,
    /// ConvAddRelu (2-D) then average pooling with a (kh, kw) kernel.
    ConvAddReluPool([usize; 2]),
    /// Average pooling with a (kh, kw) kernel.
    AvgPool2d([usize; 2]),
    /// The rows of a (V, D) table at these ids.
    Embedding(Arc<[u32]>),
    /// The course's loss of probabilities for binary labels, element-wise.
    BinaryNll,
}

/// Gradients for each input, in input order (`None` where not needed).
pub(crate) type Grads = SmallVec<[Option<TensorData>; 3]>;

impl Function {
    /// The name used in errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Function::Neg => "Neg",
            Function::Inv => "Inv",
            Function::Add => "Add",
            Function::Mul => "Mul",
            Function::Sigmoid => "Sigmoid",
            Function::Relu => "ReLU",
            Function::Log => "Log",
            Function::Exp => "Exp",
            Function::Sum(_) => "Sum",
            Function::Lt => "LT",
            Function::Eq => "EQ",
            Function::IsClose => "IsClose",
            Function::All(_) => "All",
            Function::Permute(_) => "Permute",
            Function::View(_) => "View",
            Function::Copy => "Copy",
            Function::MatMul => "MatMul",
            Function::MatMulAdd => "MatMulAdd",
            Function::MatMulAddRelu => "MatMulAddRelu",
            Function::Max(_) => "Max",
            Function::Conv => "Conv",
            Function::ConvAdd => "ConvAdd",
            Function::ConvAddRelu => "ConvAddRelu",
            Function::ConvAddReluPool(_) => "ConvAddReluPool",
            Function::AvgPool2d(_) => "AvgPool2d",
            Function::Embedding(_) => "Embedding",
            Function::BinaryNll => "BinaryNll",
        }
    }

    /// False for comparisons whose output is never tracked.
    pub(crate) fn differentiable(&self) -> bool {
        !matches!(self, Function::IsClose | Function::All(_))
    }

    /// Computes the output from the inputs' data, saving what backward needs in `ctx`.
    pub(crate) fn forward(
        &self,
        ops: &dyn TensorOps,
        x: &[&TensorData],
        ctx: &mut Context<TensorData>,
    ) -> Result<TensorData> {
        let a = x[0];
        let map = |op| ops.map(op, a, a.shape());
        Ok(match self {
            Function::Neg => map(MapOp::Neg)?,
            Function::Inv => {
                ctx.save_for_backward([a.clone()]);
                map(MapOp::Inv)?
            }
            Function::Add => ops.zip(ZipOp::Add, a, x[1])?,
            Function::Mul => {
                ctx.save_for_backward([a.clone(), x[1].clone()]);
                ops.zip(ZipOp::Mul, a, x[1])?
            }
            Function::Sigmoid => {
                let out = map(MapOp::Sigmoid)?;
                ctx.save_for_backward([out.clone()]);
                out
            }
            Function::Relu => {
                ctx.save_for_backward([a.clone()]);
                map(MapOp::Relu)?
            }
            Function::Log => {
                ctx.save_for_backward([a.clone()]);
                map(MapOp::Log)?
            }
            Function::Exp => {
                let out = map(MapOp::Exp)?;
                ctx.save_for_backward([out.clone()]);
                out
            }
            Function::Sum(dim) => ops.reduce(ReduceOp::Sum, a, *dim)?,
            Function::All(dim) => ops.reduce(ReduceOp::All, a, *dim)?,
            Function::Lt => ops.zip(ZipOp::Lt, a, x[1])?,
            Function::Eq => ops.zip(ZipOp::Eq, a, x[1])?,
            Function::IsClose => ops.zip(ZipOp::IsClose, a, x[1])?,
            Function::Permute(order) => a.permute(order)?,
            Function::View(shape) => a.view(shape)?,
            Function::Copy => map(MapOp::Id)?,
            Function::MatMul => {
                ctx.save_for_backward([a.clone(), x[1].clone()]);
                matmul(ops, a, x[1], None)?
            }
            Function::MatMulAdd => {
                ctx.save_for_backward([a.clone(), x[1].clone()]);
                matmul(ops, a, x[1], Some((x[2], false)))?
            }
            Function::MatMulAddRelu => {
                let out = matmul(ops, a, x[1], Some((x[2], true)))?;
                ctx.save_for_backward([a.clone(), x[1].clone(), out.clone()]);
                out
            }
            Function::Max(dim) => {
                let out = ops.reduce(ReduceOp::Max, a, *dim)?;
                ctx.save_for_backward([a.clone(), out.clone()]);
                out
            }
            Function::Conv => {
                ctx.save_for_backward([a.clone(), x[1].clone()]);
                conv(ops, a, x[1])?
            }
            Function::ConvAdd => {
                ctx.save_for_backward([a.clone(), x[1].clone()]);
                conv_add(ops, a, x[1], x[2], false)?
            }
            Function::ConvAddRelu => {
                let out = conv_add(ops, a, x[1], x[2], true)?;
                ctx.save_for_backward([a.clone(), x[1].clone(), out.clone()]);
                out
            }
            Function::ConvAddReluPool(kernel) => {
                let out = conv_add(ops, a, x[1], x[2], true)?;
                let pooled = ops.avgpool2d(&out, *kernel)?;
                ctx.save_for_backward([a.clone(), x[1].clone(), out]);
                pooled
            }
            Function::AvgPool2d(kernel) => ops.avgpool2d(a, *kernel)?,
            Function::Embedding(ids) => ops.gather_rows(a, ids)?,
            Function::BinaryNll => {
                ctx.save_for_backward([a.clone(), x[1].clone()]);
                ops.zip(ZipOp::BinaryNll, a, x[1])?
            }
        })
    }

    /// The gradient for each input given the output's gradient `g`, computed only for inputs
    /// whose `needs` flag is set (the others come back as `None`). `saved` is what forward
    /// saved; `input_shapes` are the inputs' shapes.
    pub(crate) fn backward(
        &self,
        ops: &dyn TensorOps,
        saved: &[TensorData],
        input_shapes: &[&[usize]],
        needs: [bool; 3],
        g: &TensorData,
    ) -> Result<Grads> {
        // A convolution layer with its ReLU and a bias per channel: one backend op masks the
        // gradient, convolves it and sums the bias's gradient (in one pass on the fast
        // backend).
        if let Function::ConvAddRelu = self
            && per_channel(input_shapes[2], saved[2].shape())
        {
            let (lifted, [i4, w4, o4, g4]) = lift_conv([&saved[0], &saved[1], &saved[2], g])?;
            let drop = |t: Option<TensorData>| t.map(|t| if lifted { t.squeeze(2) } else { t });
            let [gi, gw, gb] = ops.conv2d_add_relu_backward(&i4, &w4, &o4, &g4, needs)?;
            return Ok(smallvec![drop(gi), drop(gw), drop(gb)]);
        }
        // The same layer followed by average pooling: one backend op reads the pooled
        // gradient where the mask needs it; with another bias, the pooling's gradient and then
        // the layer's.
        if let Function::ConvAddReluPool(kernel) = self {
            if per_channel(input_shapes[2], saved[2].shape()) {
                let [gi, gw, gb] = ops.conv2d_add_relu_avgpool_backward(
                    &saved[0],
                    &saved[1],
                    &saved[2],
                    g,
                    (*kernel, needs),
                )?;
                return Ok(smallvec![gi, gw, gb]);
            }
            let spread = ops.avgpool2d_backward(g, *kernel)?;
            return Function::ConvAddRelu.backward(ops, saved, input_shapes, needs, &spread);
        }
        // A linear layer and a bias per column: one backend op runs both products and sums
        // the bias's gradient (`matmul_add_backward`); with its ReLU, it masks the gradient
        // first, in the same op.
        if let Function::MatMulAdd = self
            && input_shapes[0].len() == 2
            && input_shapes[1].len() == 2
            && per_channel(input_shapes[2], &[input_shapes[0][0], input_shapes[1][1]])
        {
            let [ga, gb, gbias] = ops.matmul_add_backward(&saved[0], &saved[1], g, needs)?;
            return Ok(smallvec![ga, gb, gbias]);
        }
        if let Function::MatMulAddRelu = self
            && input_shapes[0].len() == 2
            && input_shapes[1].len() == 2
            && per_channel(input_shapes[2], saved[2].shape())
        {
            let [ga, gb, gbias] =
                ops.matmul_add_relu_backward(&saved[0], &saved[1], &saved[2], g, needs)?;
            return Ok(smallvec![ga, gb, gbias]);
        }
        // A layer fused with its ReLU: `g` masked by the saved output first (relu(z) > 0
        // exactly where z > 0, so it masks as z would), then the layer's own backward.
        let masked;
        let g = match self {
            Function::MatMulAddRelu | Function::ConvAddRelu => {
                masked = ops.zip(ZipOp::ReluBack, &saved[2], g)?;
                &masked
            }
            _ => g,
        };
        let one = |grad: Result<TensorData>| -> Result<Grads> { Ok(smallvec![Some(grad?)]) };
        let zip_saved = |op| ops.zip(op, &saved[0], g);
        // For two-input functions: compute each gradient only when it is needed.
        let two = |first: &dyn Fn() -> Result<TensorData>,
                   second: &dyn Fn() -> Result<TensorData>|
         -> Result<Grads> {
            Ok(smallvec![
                needs[0].then(first).transpose()?,
                needs[1].then(second).transpose()?
            ])
        };
        match self {
            Function::Neg => one(ops.map(MapOp::Neg, g, g.shape())),
            Function::Inv => one(zip_saved(ZipOp::InvBack)),
            Function::Add => two(&|| Ok(g.clone()), &|| Ok(g.clone())),
            Function::Mul => two(&|| ops.zip(ZipOp::Mul, g, &saved[1]), &|| {
                ops.zip(ZipOp::Mul, g, &saved[0])
            }),
            Function::Sigmoid => one(zip_saved(ZipOp::SigmoidBack)),
            Function::Relu => one(zip_saved(ZipOp::ReluBack)),
            Function::Log => one(zip_saved(ZipOp::LogBack)),
            Function::Exp => one(zip_saved(ZipOp::Mul)),
            // The gradient spread over the summed dimensions as a view (stride 0), not a copy:
            // the next chain rule reads it through its strides (leaves get it packed,
            // `accumulate_derivative`).
            Function::Sum(_) => one(Ok(g.relayout(g.layout().broadcast_to(input_shapes[0])?))),
            Function::Lt | Function::Eq => {
                two(&|| zeros(input_shapes[0]), &|| zeros(input_shapes[1]))
            }
            Function::IsClose | Function::All(_) => Err(Error::Invalid {
                what: "backward",
                message: format!("{} is not differentiable", self.name()),
            }),
            Function::Permute(order) => {
                let mut inverse = *order;
                for (i, &o) in order.iter().enumerate() {
                    inverse[o] = i;
                }
                one(g.permute(&inverse))
            }
            Function::View(_) => one(contiguous(ops, g).and_then(|c| c.view(input_shapes[0]))),
            Function::Copy => one(Ok(g.clone())),
            Function::MatMul => {
                let (a, b) = (&saved[0], &saved[1]);
                two(&|| matmul(ops, g, &transpose(b)?, None), &|| {
                    matmul(ops, &transpose(a)?, g, None)
                })
            }
            Function::MatMulAdd | Function::MatMulAddRelu => {
                let (a, b) = (&saved[0], &saved[1]);
                let mut grads = two(&|| matmul(ops, g, &transpose(b)?, None), &|| {
                    matmul(ops, &transpose(a)?, g, None)
                })?;
                grads.push(needs[2].then(|| g.clone()));
                Ok(grads)
            }
            Function::Max(_) => {
                let mask = ops.zip(ZipOp::Eq, &saved[0], &saved[1])?;
                one(ops.zip(ZipOp::Mul, &mask, g))
            }
            Function::Conv | Function::ConvAdd | Function::ConvAddRelu => {
                let (lifted, [i4, w4, g4]) = lift_conv([&saved[0], &saved[1], g])?;
                let drop = |t: TensorData| if lifted { t.squeeze(2) } else { t };
                let [gi, gw] = conv2d_grads(ops, &i4, &w4, &g4, [needs[0], needs[1]])?;
                let mut grads: Grads = smallvec![gi.map(drop), gw.map(drop)];
                if let Function::ConvAdd | Function::ConvAddRelu = self {
                    grads.push(needs[2].then(|| g.clone()));
                }
                Ok(grads)
            }
            Function::AvgPool2d(kernel) => one(ops.avgpool2d_backward(g, *kernel)),
            Function::ConvAddReluPool(_) => unreachable!("handled above"),
            Function::Embedding(ids) => one(ops.scatter_add_rows(g, ids, input_shapes[0][0])),
            Function::BinaryNll => {
                let (a, b) = (&saved[0], &saved[1]);
                two(
                    &|| ops.zip(ZipOp::Mul, g, &ops.zip(ZipOp::BinaryNllBack, a, b)?),
                    &|| ops.zip(ZipOp::Mul, g, &ops.zip(ZipOp::BinaryNllBack, b, a)?),
                )
            }
        }
    }
}

/// 1-D operands (B, C, W) and (O, C, K) seen as 2-D ones of height 1 (no copy); 2-D ones
/// unchanged. Returns whether they were lifted.
fn lift_conv<const N: usize>(t: [&TensorData; N]) -> Result<(bool, [TensorData; N])> {
    let lifted = t[0].dims() == 3;
    let mut out = t.map(|x| x.clone());
    if lifted {
        for x in out.iter_mut() {
            *x = x.unsqueeze(2)?;
        }
    }
    Ok((lifted, out))
}

/// Whether a bias of shape `bias` adds one value per channel (dim 1: a column of a 2-D
/// output) of an output of shape `out`: every other dimension of it, right-aligned with the
/// output's, is 1.
fn per_channel(bias: &[usize], out: &[usize]) -> bool {
    bias.len() <= out.len()
        && bias
            .iter()
            .rev()
            .enumerate()
            .all(|(k, &b)| b == 1 || k + 2 == out.len())
}

/// The forward cross-correlation: output width (and height) kept.
fn conv(ops: &dyn TensorOps, input: &TensorData, weight: &TensorData) -> Result<TensorData> {
    let (lifted, [i4, w4]) = lift_conv([input, weight])?;
    let out = ops.conv2d(&i4, &w4, [i4.shape()[2], i4.shape()[3]], false)?;
    Ok(if lifted { out.squeeze(2) } else { out })
}

/// The forward cross-correlation plus a `bias` that broadcasts into its output, then the ReLU
/// when `relu`, as one backend call ([`TensorOps::conv2d_add`],
/// [`TensorOps::conv2d_add_relu`]); a 1-D bias is broadcast to the (B, Cout, W) output as a
/// view and lifted with it.
fn conv_add(
    ops: &dyn TensorOps,
    input: &TensorData,
    weight: &TensorData,
    bias: &TensorData,
    relu: bool,
) -> Result<TensorData> {
    let (lifted, [i4, w4]) = lift_conv([input, weight])?;
    let call = |bias: &TensorData| {
        if relu {
            ops.conv2d_add_relu(&i4, &w4, bias)
        } else {
            ops.conv2d_add(&i4, &w4, bias)
        }
    };
    if !lifted {
        return call(bias);
    }
    let out_shape = [input.shape()[0], weight.shape()[0], input.shape()[2]];
    let spread = bias
        .layout()
        .broadcast_to(&out_shape)
        .map_err(|_| Error::BroadcastInto {
            op: "conv1d_add",
            from: bias.shape().to_vec(),
            to: out_shape.to_vec(),
        })?;
    let bias4 = bias.relayout(spread).unsqueeze(2)?;
    Ok(call(&bias4)?.squeeze(2))
}

/// A packed tensor of zeros.
fn zeros(shape: &[usize]) -> Result<TensorData> {
    TensorData::new(vec![0.0; shape.iter().product()], shape)
}

/// `t` itself when packed, else a packed copy.
pub(crate) fn contiguous(ops: &dyn TensorOps, t: &TensorData) -> Result<TensorData> {
    if t.is_contiguous() {
        Ok(t.clone())
    } else {
        ops.map(MapOp::Id, t, t.shape())
    }
}

/// Swaps the last two dimensions of a 2-D or 3-D tensor (a layout change, no copy).
fn transpose(t: &TensorData) -> Result<TensorData> {
    let n = t.dims();
    let mut order = [0, 1, 2];
    order.swap(n - 2, n - 1);
    t.permute(&order[..n])
}

/// Matrix product with MiniTorch's rules, plus `bias` when given: two 2-D operands go to the
/// backend as they are (a 2-D product); with a 3-D one, a 2-D operand is lifted to a batch of
/// 1 (by layout, without copying) and the batch broadcasts. The bias must broadcast into the
/// product's shape.
pub(crate) fn matmul(
    ops: &dyn TensorOps,
    a: &TensorData,
    b: &TensorData,
    bias: Option<(&TensorData, bool)>,
) -> Result<TensorData> {
    let err = |reason| Error::MatMul {
        lhs: a.shape().to_vec(),
        rhs: b.shape().to_vec(),
        reason,
    };
    let (ra, rb) = (a.dims(), b.dims());
    if !(2..=3).contains(&ra) || !(2..=3).contains(&rb) {
        return Err(err("only 2-D and 3-D (batched) operands are supported"));
    }
    if a.shape()[ra - 1] != b.shape()[rb - 2] {
        return Err(err("inner dimensions differ"));
    }
    let lift = |t: &TensorData| {
        if t.dims() == 3 || ra == rb {
            t.clone()
        } else {
            t.lifted()
        }
    };
    let (a, b) = (lift(a), lift(b));
    let batches = (ra == 3 || rb == 3).then(|| (a.shape()[0], b.shape()[0]));
    if let Some((na, nb)) = batches
        && na != nb
        && na != 1
        && nb != 1
    {
        return Err(err("batch sizes differ and neither is 1"));
    }
    let Some((bias, relu)) = bias else {
        return ops.matmul(&a, &b);
    };
    let (rows, cols) = (a.shape()[a.dims() - 2], b.shape()[b.dims() - 1]);
    let shape = match batches {
        None => [rows, cols, 0],
        Some((na, nb)) => [na.max(nb), rows, cols],
    };
    broadcast_target("matmul_add", bias.shape(), &shape[..a.dims()])?;
    if relu {
        ops.matmul_add_relu(&a, &b, bias)
    } else {
        ops.matmul_add(&a, &b, bias)
    }
}
