//! Optimizers (MiniTorch's `optim.py`).

use crate::error::{Error, Result};
use crate::module::{Parameter, Value};
use crate::scalar::Scalar;

/// Stochastic gradient descent: `p ← p − lr · grad`.
pub struct Sgd {
    parameters: Vec<Parameter>,
    lr: f64,
}

impl Sgd {
    /// An optimizer over `parameters` with learning rate `lr` (finite and positive).
    pub fn new(parameters: Vec<Parameter>, lr: f64) -> Result<Sgd> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::Invalid {
                what: "rate",
                message: format!("learning rate must be positive, got {lr}"),
            });
        }
        Ok(Sgd { parameters, lr })
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&self) {
        for p in &self.parameters {
            match p.value() {
                Value::Scalar(s) => s.zero_grad(),
                Value::Tensor(t) => t.zero_grad(),
            }
        }
    }

    /// Moves every parameter that has a gradient one step against it. Tensor parameters are
    /// updated in place (like PyTorch's `p.data.add_(grad, alpha=-lr)`): run `step` after
    /// `backward`, not between a forward pass and its backward.
    pub fn step(&self) -> Result<()> {
        for p in &self.parameters {
            match p.value() {
                Value::Scalar(s) => {
                    if let Some(d) = s.derivative() {
                        p.update(Scalar::new(s.data() - self.lr * d))?;
                    }
                }
                Value::Tensor(t) => {
                    if let Some(g) = t.grad() {
                        t.backend()
                            .ops()
                            .add_scaled_(t.data(), -self.lr, g.data())?;
                    }
                }
            }
        }
        Ok(())
    }
}
