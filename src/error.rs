//! The one error type of the library.
//!
//! Every fallible operation returns [`Result`]. Messages name the operation and the shapes,
//! dimensions or values involved, so a failure points at its cause without a debugger:
//!
//! ```
//! use minitorch::Tensor;
//! let a = Tensor::zeros(&[5, 2]).unwrap();
//! let b = Tensor::zeros(&[5]).unwrap();
//! let err = a.add(&b).unwrap_err();
//! assert_eq!(err.to_string(), "add: cannot broadcast shapes [5, 2] and [5] (dim 1: 2 vs 5)");
//! ```

use thiserror::Error;

/// Shorthand for `std::result::Result<T, minitorch::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in minitorch.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// Two shapes are not broadcast-compatible (numpy rules).
    #[error(
        "{op}: cannot broadcast shapes {lhs:?} and {rhs:?} (dim {dim}: {lhs_size} vs {rhs_size})"
    )]
    Broadcast {
        /// The operation that broadcast.
        op: &'static str,
        /// Left shape.
        lhs: Vec<usize>,
        /// Right shape.
        rhs: Vec<usize>,
        /// The failing dimension, counted in the broadcast (right-aligned) result.
        dim: usize,
        /// Size of the left operand there.
        lhs_size: usize,
        /// Size of the right operand there.
        rhs_size: usize,
    },
    /// A dimension argument is out of range for the tensor.
    #[error("{op}: dim {dim} is out of range for shape {shape:?}")]
    BadDim {
        /// The operation.
        op: &'static str,
        /// The requested dimension.
        dim: usize,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// A permutation is not a permutation of `0..dims`.
    #[error("{op}: {order:?} is not a permutation of the {} dims of shape {shape:?}", shape.len())]
    BadPermutation {
        /// The operation.
        op: &'static str,
        /// The requested order.
        order: Vec<usize>,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// The operation needs a contiguous (packed row-major) tensor.
    #[error(
        "{op}: must be contiguous to view (shape {shape:?}, strides {strides:?}); call contiguous() first"
    )]
    NotContiguous {
        /// The operation.
        op: &'static str,
        /// The tensor's shape.
        shape: Vec<usize>,
        /// The tensor's strides.
        strides: Vec<usize>,
    },
    /// Element counts disagree (a view to a different size, data that does not fill a shape).
    #[error("{op}: size mismatch: {from:?} has {from_size} elements but {to:?} needs {to_size}")]
    SizeMismatch {
        /// The operation.
        op: &'static str,
        /// The source shape (or `[len]` for flat data).
        from: Vec<usize>,
        /// Its element count.
        from_size: usize,
        /// The requested shape.
        to: Vec<usize>,
        /// Its element count.
        to_size: usize,
    },
    /// A shape is unusable (no dims, too many dims, a zero-sized dim).
    #[error("{op}: invalid shape {shape:?}: {reason}")]
    BadShape {
        /// The operation.
        op: &'static str,
        /// The offending shape.
        shape: Vec<usize>,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Strides (and offset) that do not fit the shape, or reach positions that overflow `usize`
    /// or lie outside the storage.
    #[error(
        "{op}: strides {strides:?} with offset {offset} do not fit shape {shape:?} (wrong count, positions past usize::MAX, or past the end of the storage)"
    )]
    BadStrides {
        /// The operation.
        op: &'static str,
        /// The shape.
        shape: Vec<usize>,
        /// The strides.
        strides: Vec<usize>,
        /// The offset.
        offset: usize,
    },
    /// A buffer the machine cannot provide.
    #[error("{op}: cannot allocate {} for a tensor of shape {shape:?}{}", human_bytes(*bytes), limit_note(*limit))]
    Alloc {
        /// The operation.
        op: &'static str,
        /// The tensor's shape.
        shape: Vec<usize>,
        /// Bytes asked for (saturated at `u128` range).
        bytes: u128,
        /// The machine's memory (RAM + swap) in bytes, when the request exceeded it.
        limit: Option<u64>,
    },
    /// A tensor that cannot be broadcast into a (bigger) target shape.
    #[error("{op}: cannot broadcast shape {from:?} into {to:?}")]
    BroadcastInto {
        /// The operation.
        op: &'static str,
        /// The tensor's shape.
        from: Vec<usize>,
        /// The target shape.
        to: Vec<usize>,
    },
    /// An index with the wrong length or an entry out of range.
    #[error("{op}: index {index:?} is out of range for shape {shape:?}")]
    BadIndex {
        /// The operation.
        op: &'static str,
        /// The index (negative entries included as given).
        index: Vec<i128>,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// Matrix multiplication with incompatible operands.
    #[error("matmul: cannot multiply {lhs:?} by {rhs:?}: {reason}")]
    MatMul {
        /// Left shape.
        lhs: Vec<usize>,
        /// Right shape.
        rhs: Vec<usize>,
        /// What is wrong.
        reason: &'static str,
    },
    /// `backward()` without a gradient on a tensor with more than one element.
    #[error("backward: must provide a gradient for a non-scalar output of shape {shape:?}")]
    BackwardNonScalar {
        /// The output's shape.
        shape: Vec<usize>,
    },
    /// A gradient passed to `backward_with` has the wrong shape.
    #[error("backward: gradient of shape {grad:?} does not match output shape {shape:?}")]
    BackwardShape {
        /// The output's shape.
        shape: Vec<usize>,
        /// The gradient's shape.
        grad: Vec<usize>,
    },
    /// `backward()` on a tensor that does not track gradients.
    #[error(
        "backward: the tensor does not require grad (it is a constant); call requires_grad_(true) on its inputs"
    )]
    BackwardConstant,
    /// A second backward pass through a graph whose saved tensors were freed.
    #[error(
        "backward: the saved tensors of {op} were freed by an earlier backward pass; rebuild the graph (run the forward pass again)"
    )]
    GraphFreed {
        /// The function whose context was consumed.
        op: &'static str,
    },
    /// An operation mixes tensors on different backends.
    #[error(
        "{op}: operands are on different backends ({lhs} and {rhs}); move one with .to(backend)"
    )]
    MixedBackends {
        /// The operation.
        op: &'static str,
        /// Left backend name.
        lhs: &'static str,
        /// Right backend name.
        rhs: &'static str,
    },
    /// `item()` on a tensor with more than one element.
    #[error("item: tensor of shape {shape:?} has {size} elements, expected 1")]
    NotScalar {
        /// The shape.
        shape: Vec<usize>,
        /// Its size.
        size: usize,
    },
    /// Nested data whose rows have different lengths.
    #[error(
        "tensor: ragged nested data: expected length {expected} at depth {depth}, found {found}"
    )]
    Ragged {
        /// Nesting depth of the mismatch (0 = outermost).
        depth: usize,
        /// Length of the first row at that depth.
        expected: usize,
        /// The differing length.
        found: usize,
    },
    /// A gradient check found an analytic derivative that disagrees with central differences.
    #[error(
        "grad_check: input {input} at index {index:?}: analytic {analytic} vs numeric {numeric}"
    )]
    GradCheck {
        /// Which argument.
        input: usize,
        /// The checked index within it.
        index: Vec<usize>,
        /// Derivative from backpropagation.
        analytic: f64,
        /// Derivative from central differences.
        numeric: f64,
    },
    /// A CUDA library (driver, NVRTC) or device is missing.
    #[error("CUDA is not available: {library} {message}")]
    CudaUnavailable {
        /// What was not found.
        library: &'static str,
        /// Where it was looked for, and what to install.
        message: String,
    },
    /// A CUDA kernel (on a GPU or in the simulator) failed.
    #[error("{kernel}: {message}")]
    Kernel {
        /// The kernel's name.
        kernel: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A file that cannot be read, written or understood.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A bad argument to a library function (a hyper-parameter, a name).
    #[error("{what}: {message}")]
    Invalid {
        /// The function or flag.
        what: &'static str,
        /// What is wrong with the value.
        message: String,
    },
}

/// `bytes` as a short human-readable size: `8.8 TB`, `512 B`.
pub(crate) fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn limit_note(limit: Option<u64>) -> String {
    match limit {
        Some(total) => format!(
            " (this machine has {} of memory and swap)",
            human_bytes(u128::from(total))
        ),
        None => String::new(),
    }
}
