//! Layers and networks: the linear layer and the course's classification network (MiniTorch
//! task 3.5), the convolution layers ([`conv`], task 4.5), a trainable word-vector table
//! ([`embedding`]) and the functional operations of Module 4 ([`functional`]: pooling,
//! softmax, dropout, …).

pub mod conv;
pub mod embedding;
pub mod functional;

pub use conv::{Conv1d, Conv2d};
pub use embedding::Embedding;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::module::{Mode, Module, Param, Parameter};
use crate::random::Rng;
use crate::tensor::Tensor;

/// A fully connected layer: `x @ W + b`, with `W` of shape (in, out) drawn uniform on
/// [−0.5, 0.5) and `b` of shape (out,) set to 0.1.
pub struct Linear {
    mode: Mode,
    /// The (in, out) weight matrix.
    pub weights: Param<Tensor>,
    /// The (out,) bias.
    pub bias: Param<Tensor>,
}

impl Linear {
    /// A new layer on `backend`, initialised from `rng`.
    pub fn new(inputs: usize, outputs: usize, backend: Backend, rng: &mut Rng) -> Result<Linear> {
        let weights = Tensor::rand(&[inputs, outputs], rng)?
            .try_to(backend)?
            .sub(&Tensor::scalar(0.5, backend))?;
        let bias = Tensor::full(&[outputs], 0.1)?.try_to(backend)?;
        Ok(Linear {
            mode: Mode::default(),
            weights: Param::new(weights),
            bias: Param::new(bias),
        })
    }

    /// A layer initialised as Module 4's networks are: weights and bias both
    /// `0.1 · (rand − 0.5)` (MiniTorch's `RParam`).
    pub fn small(inputs: usize, outputs: usize, backend: Backend, rng: &mut Rng) -> Result<Linear> {
        Ok(Linear {
            mode: Mode::default(),
            weights: Param::new(rparam(&[inputs, outputs], backend, rng)?),
            bias: Param::new(rparam(&[outputs], backend, rng)?),
        })
    }

    /// The backend the weights live on.
    pub fn backend(&self) -> Backend {
        self.weights.get().backend()
    }

    /// `x @ W + b` for a batch `x` of shape (batch, in), as one [`matmul_add`](Tensor::matmul_add).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul_add(&self.weights.get(), &self.bias.get())
    }

    /// `relu(x @ W + b)`, as one [`matmul_add_relu`](Tensor::matmul_add_relu): the layer with
    /// its activation.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul_add_relu(&self.weights.get(), &self.bias.get())
    }
}

impl Module for Linear {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn own_parameters(&self) -> Vec<(&str, &Parameter)> {
        vec![
            ("weights", self.weights.parameter()),
            ("bias", self.bias.parameter()),
        ]
    }
}

/// `0.1 · (rand − 0.5)` of `shape` on `backend` (MiniTorch's `RParam`).
pub(crate) fn rparam(shape: &[usize], backend: Backend, rng: &mut Rng) -> Result<Tensor> {
    let values: Vec<f64> = Tensor::rand(shape, rng)?
        .to_vec()
        .into_iter()
        .map(|v| 0.1 * (v - 0.5))
        .collect();
    Tensor::from_vec(values, shape)?.try_to(backend)
}

/// The course network: 2 → hidden → hidden → 1 with ReLU, ReLU and a sigmoid output.
pub struct Network {
    mode: Mode,
    /// First layer (2 → hidden).
    pub layer1: Linear,
    /// Second layer (hidden → hidden).
    pub layer2: Linear,
    /// Output layer (hidden → 1).
    pub layer3: Linear,
}

impl Network {
    /// A new network with `hidden` units per hidden layer.
    pub fn new(hidden: usize, backend: Backend, rng: &mut Rng) -> Result<Network> {
        if hidden == 0 {
            return Err(Error::Invalid {
                what: "hidden",
                message: "must be at least 1".into(),
            });
        }
        Ok(Network {
            mode: Mode::default(),
            layer1: Linear::new(2, hidden, backend, rng)?,
            layer2: Linear::new(hidden, hidden, backend, rng)?,
            layer3: Linear::new(hidden, 1, backend, rng)?,
        })
    }

    /// Class-1 probabilities, shape (batch, 1), for a batch of points of shape (batch, 2).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.layer1.forward_relu(x)?;
        let h = self.layer2.forward_relu(&h)?;
        self.layer3.forward(&h)?.sigmoid()
    }
}

impl Module for Network {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![
            ("layer1", &self.layer1),
            ("layer2", &self.layer2),
            ("layer3", &self.layer3),
        ]
    }
}
