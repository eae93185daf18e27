//! The tensor (MiniTorch task 2.3): a cheap-to-clone handle to data, a backend and autodiff
//! history.
//!
//! ```
//! use minitorch::Tensor;
//! # fn main() -> minitorch::Result<()> {
//! let x = Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]])?.requires_grad_(true);
//! let y = x.mul(&x)?.sum_all()?; // Σ x²
//! y.backward()?;
//! assert_eq!(x.grad().unwrap().to_vec(), vec![2.0, 4.0, 6.0, 8.0]);
//! # Ok(()) }
//! ```
//!
//! Every operation has a checked form returning [`Result`] (`a.add(&b)?`); the operators
//! (`&a + &b`) are sugar that panics with the same message on bad shapes.

mod api;
mod arithmetic;
mod autograd;
pub(crate) mod functions;
mod nested;

pub use nested::NestedData;

use crate::autodiff::{self, Context};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::layout::check_shape;
use crate::random::Rng;
use crate::tensor_data::{PRINT_LIMIT, TensorData, filled, zeroed};
use functions::Function;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// How a tensor takes part in autodiff.
// The history sits inline: boxing it would cost one more heap allocation per tracked op, and
// every tensor's node is allocated anyway (`src/autodiff.rs` describes the design).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Tracking {
    /// Not tracked: gradients never flow into it.
    Constant,
    /// Made by the user and tracked: backward accumulates its gradient.
    Leaf,
    /// Made by a function from tracked inputs.
    Op(History),
}

/// The function that made a tensor, its inputs and what it saved for backward.
pub(crate) struct History {
    function: Function,
    inputs: SmallVec<[Tensor; 3]>,
    ctx: Context<TensorData>,
    /// Set once backward has consumed the saved values.
    freed: bool,
}

pub(crate) struct Node {
    id: u64,
    data: TensorData,
    backend: Backend,
    tracking: RefCell<Tracking>,
    grad: RefCell<Option<Tensor>>,
}

/// A multi-dimensional array of f64 with reverse-mode autodiff. Cloning is cheap: clones share
/// the node (data, history and gradient).
#[derive(Clone)]
pub struct Tensor(Rc<Node>);

impl Tensor {
    /// Wraps data as a new tensor.
    pub(crate) fn from_parts(data: TensorData, backend: Backend, tracking: Tracking) -> Tensor {
        Tensor(Rc::new(Node {
            id: autodiff::next_id(),
            data,
            backend,
            tracking: RefCell::new(tracking),
            grad: RefCell::new(None),
        }))
    }

    /// A constant tensor over existing data, on `backend` (no copy: the CUDA backend uploads
    /// host data when an op uses it; [`try_to`](Tensor::try_to) moves data explicitly).
    pub fn from_data(data: TensorData, backend: Backend) -> Tensor {
        Tensor::from_parts(data, backend, Tracking::Constant)
    }

    /// A tensor of `shape` holding `values` in row-major order, on the default backend.
    ///
    /// ```
    /// let t = minitorch::Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(minitorch::Tensor::from_vec(vec![1.0], &[2]).is_err());
    /// ```
    pub fn from_vec(values: Vec<f64>, shape: &[usize]) -> Result<Tensor> {
        Ok(Tensor::from_data(
            TensorData::new(values, shape)?,
            Backend::default(),
        ))
    }

    /// A tensor from nested vectors or arrays; the shape is the nesting.
    ///
    /// ```
    /// let t = minitorch::Tensor::from_nested(vec![vec![2.0, 3.0, 4.0], vec![4.0, 5.0, 7.0]]).unwrap();
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(minitorch::Tensor::from_nested(vec![vec![1.0], vec![2.0, 3.0]]).is_err());
    /// ```
    pub fn from_nested(data: impl NestedData) -> Result<Tensor> {
        let (values, shape) = nested::flatten(&data)?;
        Tensor::from_vec(values, &shape)
    }

    /// A tensor filled with `value`.
    ///
    /// A shape too big for the machine is an error, not an abort:
    ///
    /// ```
    /// use minitorch::Tensor;
    /// assert!(Tensor::full(&[1 << 40], 1.0).unwrap_err().to_string().contains("cannot allocate"));
    /// ```
    pub fn full(shape: &[usize], value: f64) -> Result<Tensor> {
        Tensor::filled_with("full", shape, value)
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Result<Tensor> {
        Tensor::filled_with("zeros", shape, 0.0)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Result<Tensor> {
        Tensor::filled_with("ones", shape, 1.0)
    }

    fn filled_with(op: &'static str, shape: &[usize], value: f64) -> Result<Tensor> {
        let shape = check_shape(op, shape)?;
        let values = filled(op, shape.product(), value, &shape)?;
        Ok(Tensor::from_data(
            TensorData::packed(values, shape),
            Backend::default(),
        ))
    }

    /// Uniform random values on [0, 1) drawn from `rng` (seed it for reproducible runs).
    ///
    /// ```
    /// use minitorch::{Rng, Tensor};
    /// let a = Tensor::rand(&[2, 2], &mut Rng::seed(1)).unwrap();
    /// let b = Tensor::rand(&[2, 2], &mut Rng::seed(1)).unwrap();
    /// assert_eq!(a.to_vec(), b.to_vec());
    /// ```
    pub fn rand(shape: &[usize], rng: &mut Rng) -> Result<Tensor> {
        let shape = check_shape("rand", shape)?;
        let mut values = zeroed("rand", shape.product(), &shape)?;
        values.iter_mut().for_each(|v| *v = rng.uniform());
        Ok(Tensor::from_data(
            TensorData::packed(values, shape),
            Backend::default(),
        ))
    }

    /// A one-element constant of shape (1,) on `backend`: how numbers enter tensor arithmetic
    /// (it broadcasts against anything).
    pub fn scalar(value: f64, backend: Backend) -> Tensor {
        let data = TensorData::packed(vec![value], crate::layout::Dims::filled(1, 1));
        Tensor::from_data(data, backend)
    }

    /// [`Tensor::scalar`] on this tensor's backend.
    pub fn scalar_like(&self, value: f64) -> Tensor {
        Tensor::scalar(value, self.backend())
    }

    /// The same values on another backend (a constant: autodiff history is not carried over).
    /// Storage is shared where both backends use the same memory, else copied (host ↔ device).
    pub fn try_to(&self, backend: Backend) -> Result<Tensor> {
        Ok(Tensor::from_data(
            backend.kernels().adopt(&self.0.data)?,
            backend,
        ))
    }

    /// [`try_to`](Tensor::try_to) for the common case.
    ///
    /// # Panics
    /// When the move fails: `backend` is [`Backend::Cuda`] on a machine without an NVIDIA
    /// driver or GPU, the device is out of memory, or the CUDA context broke. `try_to` returns
    /// that error instead.
    #[track_caller]
    pub fn to(&self, backend: Backend) -> Tensor {
        self.try_to(backend).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The backend this tensor computes on.
    pub fn backend(&self) -> Backend {
        self.0.backend
    }

    /// The data (storage and layout).
    pub fn data(&self) -> &TensorData {
        &self.0.data
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.0.data.shape()
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.0.data.size()
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.0.data.dims()
    }

    /// True when the storage is packed row-major (see [`Layout::is_contiguous`](crate::Layout::is_contiguous)).
    pub fn is_contiguous(&self) -> bool {
        self.0.data.is_contiguous()
    }

    /// The values in row-major order, copied to the host.
    pub fn try_to_vec(&self) -> Result<Vec<f64>> {
        self.0.data.to_vec()
    }

    /// The values in row-major order, copied to the host.
    ///
    /// # Panics
    /// Only for a tensor in device memory whose copy to the host fails (a broken CUDA context);
    /// [`try_to_vec`](Tensor::try_to_vec) returns that error instead.
    #[track_caller]
    pub fn to_vec(&self) -> Vec<f64> {
        self.try_to_vec().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The value at `index` (checked).
    pub fn get(&self, index: &[usize]) -> Result<f64> {
        self.0.data.get(index)
    }

    /// Writes the value at `index` directly into storage, outside autodiff (every tensor
    /// sharing the storage sees it).
    pub fn set(&self, index: &[usize], value: f64) -> Result<()> {
        self.0.data.set(index, value)
    }

    /// The only value of a one-element tensor.
    pub fn item(&self) -> Result<f64> {
        if self.size() != 1 {
            return Err(Error::NotScalar {
                shape: self.shape().to_vec(),
                size: self.size(),
            });
        }
        Ok(self.try_to_vec()?[0])
    }

    /// A constant sharing this tensor's data, with no history.
    pub fn detach(&self) -> Tensor {
        Tensor::from_data(self.0.data.clone(), self.backend())
    }

    /// Turns gradient tracking on (the tensor becomes a fresh leaf, forgetting any history) or
    /// off (it becomes a constant). Returns the same handle, for chaining.
    pub fn requires_grad_(&self, on: bool) -> Tensor {
        *self.0.tracking.borrow_mut() = if on {
            Tracking::Leaf
        } else {
            Tracking::Constant
        };
        self.clone()
    }

    /// True when gradients flow through this tensor (a leaf or a function's tracked output).
    pub fn requires_grad(&self) -> bool {
        !matches!(*self.0.tracking.borrow(), Tracking::Constant)
    }

    /// The accumulated gradient of a leaf, if any backward pass reached it.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.borrow().clone()
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        *self.0.grad.borrow_mut() = None;
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.data, f)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor(shape={:?}, backend={}, ",
            self.shape(),
            self.backend()
        )?;
        if self.size() > PRINT_LIMIT {
            return write!(f, "values=<{} elements, summarised>{self})", self.size());
        }
        match self.try_to_vec() {
            Ok(values) => write!(f, "values={values:?})"),
            Err(e) => write!(f, "values=<unreadable: {e}>)"),
        }
    }
}
