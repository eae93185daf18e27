//! Optimizers (MiniTorch's `optim.py`): [`Sgd`], the course's, and [`Adam`], behind one
//! [`Optimizer`] interface that the training loops take.

use crate::error::{Error, Result};
use crate::module::{Parameter, Value};
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use std::cell::RefCell;

/// What a training loop asks of an optimizer: clear the gradients before a step's backward
/// pass, then move the parameters.
pub trait Optimizer {
    /// Clears every parameter's gradient.
    fn zero_grad(&self);
    /// Moves every parameter that has a gradient, using it.
    fn step(&self) -> Result<()>;
}

impl Optimizer for Sgd {
    fn zero_grad(&self) {
        Sgd::zero_grad(self)
    }
    fn step(&self) -> Result<()> {
        Sgd::step(self)
    }
}

fn check_rate(lr: f64) -> Result<()> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: "rate",
            message: format!("learning rate must be positive, got {lr}"),
        })
    }
}

fn zero_grads(parameters: &[Parameter]) {
    for p in parameters {
        match p.value() {
            Value::Scalar(s) => s.zero_grad(),
            Value::Tensor(t) => t.zero_grad(),
        }
    }
}

/// Stochastic gradient descent: `p ← p − lr · grad`.
pub struct Sgd {
    parameters: Vec<Parameter>,
    lr: f64,
}

impl Sgd {
    /// An optimizer over `parameters` with learning rate `lr` (finite and positive).
    pub fn new(parameters: Vec<Parameter>, lr: f64) -> Result<Sgd> {
        check_rate(lr)?;
        Ok(Sgd { parameters, lr })
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&self) {
        zero_grads(&self.parameters)
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

/// One parameter's state: its steps so far and the running means of its gradient and of the
/// gradient's square.
struct Moments {
    steps: i32,
    m: Vec<f64>,
    v: Vec<f64>,
}

/// Adam (Kingma & Ba 2014, PyTorch's `torch.optim.Adam` with its defaults): per value, running
/// means of the gradient `m` and of its square `v`,
///
/// ```text
/// m ← β₁·m + (1 − β₁)·g        v ← β₂·v + (1 − β₂)·g²
/// p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
/// ```
///
/// with β₁ = 0.9, β₂ = 0.999, ε = 1e-8 and `t` the parameter's own step count (the steps at
/// which it had a gradient, as PyTorch counts them). Each value moves about `lr`
/// per step whatever its gradient's scale, which suits layers whose gradients differ by orders
/// of magnitude (a word-vector table next to a convolution). The moments live in host memory,
/// one pair per parameter, created at its first gradient; the update is applied with the
/// backend's [`add_scaled_`](crate::backend::TensorOps::add_scaled_) (on CUDA that is one
/// download of the gradient and one upload of the update per parameter and step).
///
/// ```
/// use minitorch::{Tensor, module::Parameter, optim::{Adam, Optimizer}};
/// let p = Parameter::new(Tensor::from_vec(vec![1.0, -1.0], &[2]).unwrap());
/// let adam = Adam::new(vec![p.clone()], 0.1).unwrap();
/// let x = p.tensor().unwrap();
/// x.mul(&x).unwrap().sum_all().unwrap().backward().unwrap();
/// adam.step().unwrap();
/// // The first step moves each value by lr against its gradient's sign.
/// let after = p.tensor().unwrap().to_vec();
/// assert!((after[0] - 0.9).abs() < 1e-6 && (after[1] + 0.9).abs() < 1e-6);
/// ```
pub struct Adam {
    parameters: Vec<Parameter>,
    lr: f64,
    moments: RefCell<Vec<Option<Moments>>>,
}

impl Adam {
    /// β₁: how much of the gradient's running mean each step keeps.
    pub const BETA1: f64 = 0.9;
    /// β₂: how much of the squared gradient's running mean each step keeps.
    pub const BETA2: f64 = 0.999;
    /// ε: keeps the step finite where the squared gradient's mean is 0.
    pub const EPS: f64 = 1e-8;

    /// An optimizer over `parameters` with learning rate `lr` (finite and positive; PyTorch's
    /// default is 0.001).
    pub fn new(parameters: Vec<Parameter>, lr: f64) -> Result<Adam> {
        check_rate(lr)?;
        let moments = RefCell::new(parameters.iter().map(|_| None).collect());
        Ok(Adam {
            parameters,
            lr,
            moments,
        })
    }

    /// The moments' update for gradient `g` and the step to add to the parameter.
    fn update(&self, state: &mut Moments, g: &[f64]) -> Vec<f64> {
        state.steps = state.steps.saturating_add(1);
        let (t, m, v) = (state.steps, &mut state.m, &mut state.v);
        let (b1, b2) = (Self::BETA1, Self::BETA2);
        let step = self.lr / (1.0 - b1.powi(t));
        let root = (1.0 - b2.powi(t)).sqrt();
        m.iter_mut()
            .zip(v.iter_mut())
            .zip(g)
            .map(|((m, v), &g)| {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                -step * *m / (v.sqrt() / root + Self::EPS)
            })
            .collect()
    }
}

impl Optimizer for Adam {
    fn zero_grad(&self) {
        zero_grads(&self.parameters)
    }

    fn step(&self) -> Result<()> {
        let mut moments = self.moments.borrow_mut();
        for (p, state) in self.parameters.iter().zip(moments.iter_mut()) {
            let g = match p.value() {
                Value::Scalar(s) => s.derivative().map(|d| vec![d]),
                Value::Tensor(t) => t.grad().map(|g| g.try_to_vec()).transpose()?,
            };
            let Some(g) = g else { continue };
            let state = state.get_or_insert_with(|| Moments {
                steps: 0,
                m: vec![0.0; g.len()],
                v: vec![0.0; g.len()],
            });
            if state.m.len() != g.len() {
                return Err(Error::Invalid {
                    what: "Adam",
                    message: format!(
                        "a parameter's gradient changed size from {} to {} values",
                        state.m.len(),
                        g.len()
                    ),
                });
            }
            let delta = self.update(state, &g);
            match p.value() {
                Value::Scalar(s) => p.update(Scalar::new(s.data() + delta[0]))?,
                Value::Tensor(x) => {
                    let delta = Tensor::from_vec(delta, x.shape())?.try_to(x.backend())?;
                    x.backend().ops().add_scaled_(x.data(), 1.0, delta.data())?;
                }
            }
        }
        Ok(())
    }
}
