//! Convolution layers (MiniTorch task 4.5): `conv(x, W) + b` with weights
//! (Cout, Cin, K…) and a bias per output channel, both initialised `0.1 · (rand − 0.5)`.

use super::rparam;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::module::{Mode, Module, Param, Parameter};
use crate::random::Rng;
use crate::tensor::Tensor;

fn check_channels(what: &'static str, sizes: &[usize]) -> Result<()> {
    if sizes.contains(&0) {
        return Err(Error::Invalid {
            what,
            message: format!("channel and kernel sizes must be at least 1, got {sizes:?}"),
        });
    }
    Ok(())
}

/// A 1-D convolution layer: input (B, Cin, W) → (B, Cout, W).
pub struct Conv1d {
    mode: Mode,
    /// The (Cout, Cin, K) kernel.
    pub weights: Param<Tensor>,
    /// The (Cout, 1) bias.
    pub bias: Param<Tensor>,
}

impl Conv1d {
    /// A layer of `outputs` kernels of width `kernel` over `inputs` channels.
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: usize,
        backend: Backend,
        rng: &mut Rng,
    ) -> Result<Conv1d> {
        check_channels("Conv1d", &[inputs, outputs, kernel])?;
        Ok(Conv1d {
            mode: Mode::default(),
            weights: Param::new(rparam(&[outputs, inputs, kernel], backend, rng)?),
            bias: Param::new(rparam(&[outputs, 1], backend, rng)?),
        })
    }

    /// `conv1d(x, W) + b`, as one [`conv1d_add`](Tensor::conv1d_add).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv1d_add(&self.weights.get(), &self.bias.get())
    }

    /// `relu(conv1d(x, W) + b)`, as one [`conv1d_add_relu`](Tensor::conv1d_add_relu): the
    /// layer with its activation.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        x.conv1d_add_relu(&self.weights.get(), &self.bias.get())
    }
}

impl Module for Conv1d {
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

/// A 2-D convolution layer: input (B, Cin, H, W) → (B, Cout, H, W).
pub struct Conv2d {
    mode: Mode,
    /// The (Cout, Cin, KH, KW) kernel.
    pub weights: Param<Tensor>,
    /// The (Cout, 1, 1) bias.
    pub bias: Param<Tensor>,
}

impl Conv2d {
    /// A layer of `outputs` kernels of size `kernel` = (KH, KW) over `inputs` channels.
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: (usize, usize),
        backend: Backend,
        rng: &mut Rng,
    ) -> Result<Conv2d> {
        check_channels("Conv2d", &[inputs, outputs, kernel.0, kernel.1])?;
        Ok(Conv2d {
            mode: Mode::default(),
            weights: Param::new(rparam(
                &[outputs, inputs, kernel.0, kernel.1],
                backend,
                rng,
            )?),
            bias: Param::new(rparam(&[outputs, 1, 1], backend, rng)?),
        })
    }

    /// `conv2d(x, W) + b`, as one [`conv2d_add`](Tensor::conv2d_add).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d_add(&self.weights.get(), &self.bias.get())
    }

    /// `relu(conv2d(x, W) + b)`, as one [`conv2d_add_relu`](Tensor::conv2d_add_relu): the
    /// layer with its activation.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d_add_relu(&self.weights.get(), &self.bias.get())
    }

    /// `avgpool2d(relu(conv2d(x, W) + b), kernel)`, as one
    /// [`conv2d_add_relu_avgpool`](Tensor::conv2d_add_relu_avgpool): the layer with its
    /// activation and the average pooling after it.
    pub fn forward_relu_avgpool(&self, x: &Tensor, kernel: (usize, usize)) -> Result<Tensor> {
        x.conv2d_add_relu_avgpool(&self.weights.get(), &self.bias.get(), kernel)
    }
}

impl Module for Conv2d {
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
