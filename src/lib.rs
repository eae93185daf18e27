//! # minitorch
//!
//! A Rust re-implementation of [MiniTorch](https://minitorch.github.io), the Cornell Tech
//! teaching library, through Module 4: scalar and tensor autodiff, strided tensors with
//! broadcasting, interchangeable backends (reference, fast CPU, CUDA and a CUDA simulator),
//! convolutions, pooling, softmax and dropout, and the course's MNIST network.
//!
//! The default `cli` feature builds the `minitorch` program; `default-features = false`
//! gives the library alone (no clap, indicatif, mimalloc, plotters or HTTP client).
//!
//! ```
//! use minitorch::Tensor;
//! # fn main() -> minitorch::Result<()> {
//! let x = Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]])?.requires_grad_(true);
//! let w = Tensor::from_nested(vec![vec![0.5], vec![-1.0]])?.requires_grad_(true);
//! let loss = x.matmul(&w)?.sigmoid()?.sum_all()?;
//! loss.backward()?;
//! assert_eq!(w.grad().unwrap().shape(), &[2, 1]);
//! # Ok(()) }
//! ```
//!
//! Where each MiniTorch idea lives:
//!
//! | MiniTorch | here |
//! |---|---|
//! | `operators.py` (task 0.1, 0.3) | [`operators`] |
//! | `module.py` (task 0.4) | [`module`] |
//! | `autodiff.py` (tasks 1.1–1.4) | [`autodiff`] |
//! | `scalar.py`, `scalar_functions.py` (Module 1) | [`scalar`], [`scalar_functions`] |
//! | `tensor_data.py` (tasks 2.1, 2.2) | [`layout`], [`tensor_data`] |
//! | `tensor.py`, `tensor_functions.py` (tasks 2.3, 2.4) | [`Tensor`], `tensor/functions.rs` |
//! | `tensor_ops.py` (`SimpleOps`) | [`backend`], [`backend::simple`] |
//! | the functions `map`/`zip`/`reduce` apply (and how to add one) | [`backend::ops`] |
//! | `testing.py` / `grad_check` | [`grad_check()`], [`scalar::derivative_check`] |
//! | `nn`, `optim.py`, `datasets.py` | [`nn`], [`optim`], [`datasets`], [`train`] |
//! | `fast_conv.py`, `nn.py` (tasks 4.1–4.4) | [`Tensor::conv1d`], [`Tensor::conv2d`], [`Tensor::max`], [`nn::functional`], [`nn::conv`] |
//! | `run_mnist_multiclass.py` (task 4.5) | [`models::mnist`], [`data::idx`] |
//! | `run_sentiment.py` (task 4.5) | [`models::sentiment`], [`data::text`]; trainable word vectors: [`Tensor::embedding`], [`nn::Embedding`]; [`optim::Adam`] |
//! | `run_scalar.py` network (Module 1) | [`scalar_network`] |
//! | fast ops (task 3.1, 3.2), diagnostics | [`backend::fast`], [`profile`] |
//! | CUDA ops (task 3.3, 3.4): kernels, simulator, GPU | `kernels/*.cu`, [`backend::cuda`] |

#![warn(missing_docs)]

pub mod aligned_alloc;
pub mod autodiff;
pub mod backend;
pub mod checkpoint;
pub mod data;
pub mod datasets;
pub mod error;
mod grad_check;
pub mod layout;
pub mod models;
pub mod module;
pub mod nn;
pub mod operators;
pub mod optim;
pub mod profile;
pub mod random;
pub mod scalar;
pub mod scalar_functions;
pub mod scalar_network;
pub mod tensor;
pub mod tensor_data;
pub mod train;

pub use backend::Backend;
pub use error::{Error, Result};
pub use grad_check::{GRAD_CHECK_EPS, grad_check};
pub use layout::Layout;
pub use random::Rng;
pub use scalar::Scalar;
pub use tensor::Tensor;
pub use tensor_data::TensorData;
