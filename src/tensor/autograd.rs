//! Tensor autodiff (MiniTorch task 2.4): applying functions with history, the chain rule with
//! un-broadcasting (`expand`), gradient accumulation at leaves, and `backward`.

use super::functions::{Function, contiguous};
use super::{History, Tensor, Tracking};
use crate::autodiff::{self, Backward, Context, Parents, Variable};
use crate::backend::{MapOp, ReduceOp, TensorOps, ZipOp};
use crate::error::{Error, Result};
use crate::layout::shape_broadcast_for;
use crate::tensor_data::TensorData;
use smallvec::SmallVec;

impl Tensor {
    /// Runs `function` on the inputs. The output records a history only when the function is
    /// differentiable and some input requires grad; otherwise it is a constant.
    pub(crate) fn apply(function: Function, inputs: &[&Tensor]) -> Result<Tensor> {
        let backend = inputs[0].backend();
        if let Some(other) = inputs[1..].iter().find(|t| t.backend() != backend) {
            return Err(Error::MixedBackends {
                op: function.name(),
                lhs: backend.name(),
                rhs: other.backend().name(),
            });
        }
        let need_grad = function.differentiable() && inputs.iter().any(|t| t.requires_grad());
        let mut ctx = Context::new(!need_grad);
        let data: SmallVec<[&TensorData; 3]> = inputs.iter().map(|t| t.data()).collect();
        let out = function.forward(backend.ops(), &data, &mut ctx)?;
        let tracking = if need_grad {
            Tracking::Op(History {
                function,
                inputs: inputs.iter().map(|&t| t.clone()).collect(),
                ctx,
                freed: false,
            })
        } else {
            Tracking::Constant
        };
        Ok(Tensor::from_parts(out, backend, tracking))
    }

    /// Backpropagates from a one-element tensor (gradient 1), accumulating `grad()` on every
    /// leaf it depends on. The graph's saved tensors are freed as they are used.
    pub fn backward(&self) -> Result<()> {
        if self.size() != 1 {
            return Err(Error::BackwardNonScalar {
                shape: self.shape().to_vec(),
            });
        }
        if !self.requires_grad() {
            return Err(Error::BackwardConstant);
        }
        let ones = TensorData::new(vec![1.0], self.shape())?;
        autodiff::backpropagate(self, ones)
    }

    /// Backpropagates from this tensor with the given gradient (same shape as the tensor).
    pub fn backward_with(&self, grad: &Tensor) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::BackwardConstant);
        }
        if grad.shape() != self.shape() {
            return Err(Error::BackwardShape {
                shape: self.shape().to_vec(),
                grad: grad.shape().to_vec(),
            });
        }
        autodiff::backpropagate(self, grad.data().clone())
    }

    /// True for a tensor the user marked as tracking (no function made it).
    pub fn is_leaf(&self) -> bool {
        matches!(*self.0.tracking.borrow(), Tracking::Leaf)
    }

    /// True for a tensor that takes no part in autodiff.
    pub fn is_constant(&self) -> bool {
        !self.requires_grad()
    }
}

/// Sums a gradient down to `shape` (MiniTorch's `expand`): a gradient arrives in the broadcast
/// shape of the function's output; every dimension the input was broadcast along is summed,
/// and leading dimensions the input did not have are dropped.
pub(crate) fn unbroadcast(
    ops: &dyn TensorOps,
    g: TensorData,
    shape: &[usize],
) -> Result<TensorData> {
    if g.shape() == shape {
        return Ok(g);
    }
    let target = shape_broadcast_for("backward", shape, g.shape())?;
    let mut g = if g.shape() != &*target {
        ops.map(MapOp::Id, &g, &target)?
    } else {
        g
    };
    let pad = target.len() - shape.len();
    let summed = |d: usize| (d < pad || shape[d - pad] == 1) && target[d] != 1;
    // Adjacent summed dimensions of a packed gradient merge into one (a view): a convolution
    // bias's (C, 1, 1) from a (B, C, H, W) gradient is then one sum over rows of H·W values
    // and one over the batch, not three passes. The innermost goes first (packed fibres).
    let packed = g.is_contiguous();
    let mut dims: SmallVec<[(usize, bool); 8]> = SmallVec::new();
    for d in 0..target.len() {
        match dims.last_mut() {
            Some((size, true)) if packed && summed(d) => *size *= target[d],
            _ => dims.push((target[d], summed(d))),
        }
    }
    if dims.len() < target.len() {
        let merged: SmallVec<[usize; 8]> = dims.iter().map(|&(size, _)| size).collect();
        g = g.view(&merged)?;
    }
    for (d, &(_, sum)) in dims.iter().enumerate().rev() {
        if sum {
            g = ops.reduce(ReduceOp::Sum, &g, d)?;
        }
    }
    contiguous(ops, &g)?.view(shape)
}

impl Variable for Tensor {
    type Grad = TensorData;

    fn unique_id(&self) -> u64 {
        self.0.id
    }

    fn is_leaf(&self) -> bool {
        Tensor::is_leaf(self)
    }

    fn is_constant(&self) -> bool {
        Tensor::is_constant(self)
    }

    fn parents(&self) -> Parents<Tensor> {
        match &*self.0.tracking.borrow() {
            Tracking::Op(h) => h.inputs.clone(),
            _ => Parents::new(),
        }
    }

    fn chain_rule(&self, d: &TensorData) -> Result<Backward<Tensor>> {
        let mut tracking = self.0.tracking.borrow_mut();
        let Tracking::Op(history) = &mut *tracking else {
            return Ok(Backward::new());
        };
        if history.freed {
            return Err(Error::GraphFreed {
                op: history.function.name(),
            });
        }
        history.freed = true;
        let saved = history.ctx.take_saved();
        let ops = self.backend().ops();
        let shapes: SmallVec<[&[usize]; 3]> = history.inputs.iter().map(|t| t.shape()).collect();
        let needs = [0, 1, 2].map(|i| history.inputs.get(i).is_some_and(Tensor::requires_grad));
        let grads = history.function.backward(ops, &saved, &shapes, needs, d)?;
        history
            .inputs
            .iter()
            .zip(grads)
            .filter_map(|(input, g)| Some((input, g?)))
            .map(|(input, g)| Ok((input.clone(), unbroadcast(ops, g, input.shape())?)))
            .collect()
    }

    fn accumulate_derivative(&self, d: TensorData) -> Result<()> {
        if !self.is_leaf() {
            return Err(Error::Invalid {
                what: "accumulate_derivative",
                message: "only leaf tensors hold gradients".into(),
            });
        }
        // A gradient spread by a view (a sum's backward, stride 0) is packed before a leaf
        // keeps it: a parameter's gradient is its own values, safe to update in place.
        let spread = d
            .strides()
            .iter()
            .zip(d.shape())
            .any(|(&s, &n)| s == 0 && n > 1);
        let d = if spread {
            self.backend().ops().map(MapOp::Id, &d, d.shape())?
        } else {
            d
        };
        let mut grad = self.0.grad.borrow_mut();
        let sum = match grad.take() {
            None => d,
            Some(old) => self.add_grads(old.data().clone(), d)?,
        };
        *grad = Some(Tensor::from_data(sum, self.backend()));
        Ok(())
    }

    fn add_grads(&self, a: TensorData, b: TensorData) -> Result<TensorData> {
        self.backend().ops().zip(ZipOp::Add, &a, &b)
    }
}
