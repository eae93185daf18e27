//! The backend interface (MiniTorch's `TensorOps`): what every backend computes.
//!
//! A backend knows four kernels — [`map`](TensorOps::map), [`zip`](TensorOps::zip),
//! [`reduce`](TensorOps::reduce) and [`matmul`](TensorOps::matmul) — over small op enums
//! ([`MapOp`], [`ZipOp`], [`ReduceOp`]). Everything a tensor does, forward and backward, is built
//! from these, so a new backend drops in by implementing this trait and adding a [`Backend`]
//! variant; the tensor code does not change.
//!
//! | backend | what it is |
//! |---|---|
//! | [`Backend::Simple`] | the reference: plain per-element index arithmetic, the test oracle |
//! | [`Backend::Fast`] | the fast CPU backend: vectorised slice loops, size-gated threads, GEMM |
//! | [`Backend::CudaSim`] | the CUDA kernels of `kernels/` run by a CPU simulator of CUDA blocks and barriers |
//! | [`Backend::Cuda`] | the same kernels on an NVIDIA GPU, tensors in device memory |

pub(crate) mod conv_backward;
pub mod cuda;
pub(crate) mod diagnostics;
pub mod fast;
pub(crate) mod linear_backward;
pub mod ops;
pub(crate) mod pooling;
pub mod simple;

pub use ops::{MapOp, ReduceOp, ZipOp};

use crate::error::{Error, Result};
use crate::layout::Dims;
use crate::tensor_data::TensorData;
use std::fmt;
use std::str::FromStr;

/// The kernels a backend provides. Inputs may have any layout (permuted, broadcast, offset);
/// outputs are fresh packed tensors.
pub trait TensorOps {
    /// `op` on every element of `a`, broadcast into `out_shape` (which may be bigger than
    /// `a`'s shape: gradients of broadcast inputs rely on it).
    fn map(&self, op: MapOp, a: &TensorData, out_shape: &[usize]) -> Result<TensorData>;

    /// `op` on pairs of elements; the output has the broadcast of both shapes.
    fn zip(&self, op: ZipOp, a: &TensorData, b: &TensorData) -> Result<TensorData>;

    /// Folds `op` along `dim`; the output keeps `dim` with size 1.
    fn reduce(&self, op: ReduceOp, a: &TensorData, dim: usize) -> Result<TensorData>;

    /// Batched matrix product of 3-D operands `(n, i, k) @ (n, k, j)` (a batch of 1
    /// broadcasts), or the product `(i, k) @ (k, j)` of two 2-D matrices, which is 2-D (no
    /// batch dimension to add and take off again: a linear layer's products).
    fn matmul(&self, a: &TensorData, b: &TensorData) -> Result<TensorData>;

    /// `a @ b + bias`: [`matmul`](TensorOps::matmul) plus a `bias` that broadcasts into the
    /// product's shape (a linear layer's forward pass). This default computes the product and
    /// then adds; the fast backend starts its product from the bias instead.
    fn matmul_add(&self, a: &TensorData, b: &TensorData, bias: &TensorData) -> Result<TensorData> {
        let product = self.matmul(a, b)?;
        crate::layout::broadcast_target("matmul_add", bias.shape(), product.shape())?;
        self.zip(ZipOp::Add, &product, bias)
    }

    /// `relu(a @ b + bias)`: a linear layer followed by its ReLU. This default runs the two;
    /// the fast backend clamps each tile of the product in registers, before it is stored.
    fn matmul_add_relu(
        &self,
        a: &TensorData,
        b: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        let out = self.matmul_add(a, b, bias)?;
        self.map(MapOp::Relu, &out, out.shape())
    }

    /// The gradients of a linear layer, `a @ b + bias` for 2-D `a` (m, k) and `b` (k, n) and a
    /// bias of one value per column, from the output's gradient `grad` (m, n), each only when
    /// `needs` asks: `a`'s `grad @ bᵀ` (m, k), `b`'s `aᵀ @ grad` (k, n) and the bias's, `grad`
    /// summed over the rows, (1, n). Errors unless the operands are 2-D with matching inner
    /// dimensions and `grad` is (m, n). This default multiplies twice and sums with a
    /// reduction (`backend/linear_backward.rs`); the fast backend sums in one pass of its own
    /// and runs the two products as one job.
    fn matmul_add_backward(
        &self,
        a: &TensorData,
        b: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        linear_backward::matmul_add_backward_by_parts(self, a, b, grad, needs)
    }

    /// The gradients of a linear layer with its ReLU, `out = relu(a @ b + bias)` for 2-D `a`
    /// (m, k) and `b` (k, n) and a bias of one value per column, from `out` and its gradient
    /// `grad`, each only when `needs` asks. With `g` = `grad` where `out` > 0 and 0 elsewhere
    /// (`relu_back`): `a`'s gradient `g @ bᵀ` (m, k), `b`'s `aᵀ @ g` (k, n) — `MatMul`'s
    /// backward — and the bias's, `g` summed over the rows, (1, n). Errors unless the operands
    /// are 2-D with matching inner dimensions and `out` and `grad` are (m, n). This default
    /// masks with a zip, multiplies twice and sums with a reduction
    /// (`backend/linear_backward.rs`); the fast backend masks and sums in one pass and runs
    /// the two products as one job.
    fn matmul_add_relu_backward(
        &self,
        a: &TensorData,
        b: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        linear_backward::matmul_add_relu_backward_by_parts(self, a, b, out, grad, needs)
    }

    /// 2-D cross-correlation (MiniTorch's `tensor_conv2d`, which also serves 1-D through a
    /// height of 1): `input` (B, Cin, H, W) with `weight` (Cout, Cin, KH, KW) gives
    /// (B, Cout, OH, OW) for `out_hw` = (OH, OW), where
    /// `out[b,o,y,x] = Σ_c Σ_i Σ_j weight[o,c,i,j] · input[b,c,y+i,x+j]` — or `y−i, x−j` when
    /// `reverse` — and reads outside the input count as 0. Forward passes use `out_hw` =
    /// (H, W); backward passes use it for the weight's gradient (out_hw = (KH, KW)).
    fn conv2d(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out_hw: [usize; 2],
        reverse: bool,
    ) -> Result<TensorData>;

    /// The forward cross-correlation plus a `bias` that broadcasts into its output
    /// (B, Cout, H, W) (a convolution layer's forward pass, `conv2d(input, weight, [H, W],
    /// false) + bias`). This default convolves and then adds; the fast backend starts each
    /// output channel from its bias instead, when the bias has one value per channel.
    fn conv2d_add(
        &self,
        input: &TensorData,
        weight: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        conv2d_then_add(self, input, weight, bias)
    }

    /// `relu(conv2d_add(input, weight, bias))`: a convolution layer followed by its ReLU, as
    /// the network's forward pass computes them. This default runs the two; the fast backend
    /// applies the ReLU to each tile of the output in registers, before it is stored, which
    /// saves a pass over the output.
    fn conv2d_add_relu(
        &self,
        input: &TensorData,
        weight: &TensorData,
        bias: &TensorData,
    ) -> Result<TensorData> {
        let out = self.conv2d_add(input, weight, bias)?;
        self.map(MapOp::Relu, &out, out.shape())
    }

    /// The gradients of a convolution layer with its ReLU, `out = relu(conv2d_add(input,
    /// weight, bias))` for a bias of one value per output channel, from `out` and its gradient
    /// `grad`, each only when `needs` asks. With `g` = `grad` where `out` > 0 and 0 elsewhere
    /// (`relu_back`): the input's gradient and the weight's, the two convolutions of `g` that
    /// `Conv`'s backward runs, and the bias's, `g` summed over the batch, height and width, as
    /// (1, Cout, 1, 1). Errors unless `out` and `grad` have the convolution's output shape.
    /// This default masks with a zip and sums with two reductions (`backend/conv_backward.rs`);
    /// the fast backend masks and sums in one pass.
    fn conv2d_add_relu_backward(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        needs: [bool; 3],
    ) -> Result<[Option<TensorData>; 3]> {
        conv_backward::conv2d_add_relu_backward_by_parts(self, input, weight, out, grad, needs)
    }

    /// The gradients of a convolution layer with its ReLU followed by average pooling,
    /// `avgpool2d(relu(conv2d_add(input, weight, bias)), kernel)` for a bias of one value per
    /// output channel, from `out` (the layer's output before pooling) and the pooled output's
    /// gradient `grad` (B, Cout, H/kh, W/kw): [`conv2d_add_relu_backward`] of
    /// [`avgpool2d_backward`]`(grad, kernel)`, which is this default. The fast backend reads
    /// each pooled value where the mask needs it, and the spread gradient is never written.
    ///
    /// [`conv2d_add_relu_backward`]: TensorOps::conv2d_add_relu_backward
    /// [`avgpool2d_backward`]: TensorOps::avgpool2d_backward
    fn conv2d_add_relu_avgpool_backward(
        &self,
        input: &TensorData,
        weight: &TensorData,
        out: &TensorData,
        grad: &TensorData,
        (kernel, needs): ([usize; 2], [bool; 3]),
    ) -> Result<[Option<TensorData>; 3]> {
        let spread = self.avgpool2d_backward(grad, kernel)?;
        self.conv2d_add_relu_backward(input, weight, out, &spread, needs)
    }

    /// Average pooling (MiniTorch's `avgpool2d`): the mean of each (kh, kw) block of a
    /// (B, C, H, W) input, (B, C, H/kh, W/kw). Each block is summed along kh first, then kw,
    /// and the sum multiplied by 1/(kh·kw). Errors unless the input is 4-D and kh, kw divide
    /// H, W. This default reduces a (B, C, H/kh, kh, W/kw, kw) view twice and scales
    /// (`backend/pooling.rs`); the fast backend reads each block's rows once.
    fn avgpool2d(&self, input: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
        pooling::avgpool2d_by_reductions(self, input, kernel)
    }

    /// The gradient of [`avgpool2d`](TensorOps::avgpool2d): each value of `grad`
    /// (B, C, H/kh, W/kw) times 1/(kh·kw), spread over its block of the (B, C, H, W) input.
    /// This default scales and then broadcasts; the fast backend writes each row once.
    fn avgpool2d_backward(&self, grad: &TensorData, kernel: [usize; 2]) -> Result<TensorData> {
        pooling::avgpool2d_backward_by_spreading(self, grad, kernel)
    }

    /// In place: `y += alpha · x` for `x` of `y`'s shape (the optimizer's update). Every
    /// tensor sharing `y`'s storage sees the change.
    fn add_scaled_(&self, y: &TensorData, alpha: f64, x: &TensorData) -> Result<()>;

    /// Rows of a 2-D `table` (V, D) picked by `ids` (an embedding lookup): `out[i, :] =
    /// table[ids[i], :]`, shape (ids.len(), D). Errors when `table` is not 2-D or an id is not
    /// one of its rows. This default (the reference, also the fast backend's: the rows asked
    /// for, read through the table's strides) gathers on the host; the CUDA backends run
    /// `gather_rows_kernel`.
    fn gather_rows(&self, table: &TensorData, ids: &[u32]) -> Result<TensorData> {
        self.adopt(&simple::gather_rows(table, ids)?)
    }

    /// The gradient of [`gather_rows`](TensorOps::gather_rows): a (`rows`, D) tensor of zeros
    /// with row `i` of `grad` (N, D) added into row `ids[i]` (words used twice collect both
    /// gradients). Errors when `grad` is not (ids.len(), D) or an id is not below `rows`. The
    /// default adds on the host; the CUDA backends run `scatter_rows_kernel`.
    fn scatter_add_rows(&self, grad: &TensorData, ids: &[u32], rows: usize) -> Result<TensorData> {
        self.adopt(&simple::scatter_add_rows(grad, ids, rows)?)
    }

    /// Waits until the work this backend has queued has run. The CPU backends finish every
    /// op before returning (this default does nothing); the GPU one queues kernels on a
    /// stream and returns at once, so a timer must call this before it stops.
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    /// The same values in this backend's memory: shared when they already live there, else
    /// copied. Host backends share host storage and copy device storage to the host.
    fn adopt(&self, data: &TensorData) -> Result<TensorData> {
        if data.storage().is_host() {
            Ok(data.clone())
        } else {
            TensorData::new(data.to_vec()?, data.shape())
        }
    }
}

/// Checks the operands of [`TensorOps::add_scaled_`].
pub(crate) fn check_same_shape(op: &'static str, y: &TensorData, x: &TensorData) -> Result<()> {
    if y.shape() != x.shape() {
        return Err(Error::SizeMismatch {
            op,
            from: x.shape().to_vec(),
            from_size: x.size(),
            to: y.shape().to_vec(),
            to_size: y.size(),
        });
    }
    Ok(())
}

/// Which backend a tensor computes on; chosen per tensor at run time.
///
/// Constructors (`Tensor::zeros`, `from_vec`, …) use [`Backend::default`], which is
/// [`Backend::Fast`] unless changed for the current thread with [`Backend::set_default`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The reference backend: simple, slow, and the oracle for the others.
    Simple,
    /// The fast CPU backend (the default).
    Fast,
    /// The CUDA kernels, run on the CPU by the simulator (`cuda-sim`).
    CudaSim,
    /// The CUDA kernels on a GPU (`cuda`); needs the NVIDIA driver and NVRTC at run time.
    Cuda,
}

thread_local! {
    static DEFAULT: std::cell::Cell<Backend> = const { std::cell::Cell::new(Backend::Fast) };
}

impl Default for Backend {
    /// The backend constructors use on this thread.
    fn default() -> Backend {
        DEFAULT.with(|d| d.get())
    }
}

impl Backend {
    /// Sets the backend that tensor constructors use on the current thread.
    ///
    /// ```
    /// use minitorch::{Backend, Tensor};
    /// Backend::set_default(Backend::Simple);
    /// assert_eq!(Tensor::zeros(&[2]).unwrap().backend(), Backend::Simple);
    /// Backend::set_default(Backend::Fast);
    /// ```
    pub fn set_default(backend: Backend) {
        DEFAULT.with(|d| d.set(backend));
    }

    /// Every backend compiled into this build.
    pub const ALL: [Backend; 4] = [
        Backend::Simple,
        Backend::Fast,
        Backend::CudaSim,
        Backend::Cuda,
    ];

    /// The backend's kernels, timed when the [profiler](crate::profile) is on.
    pub fn ops(self) -> &'static dyn TensorOps {
        if !diagnostics::enabled() {
            return self.kernels();
        }
        match self {
            Backend::Simple => &diagnostics::Profiled(Backend::Simple),
            Backend::Fast => &diagnostics::Profiled(Backend::Fast),
            Backend::CudaSim => &diagnostics::Profiled(Backend::CudaSim),
            Backend::Cuda => &diagnostics::Profiled(Backend::Cuda),
        }
    }

    /// The backend's kernels, never profiled.
    pub fn kernels(self) -> &'static dyn TensorOps {
        match self {
            Backend::Simple => &simple::SimpleOps,
            Backend::Fast => &fast::FastOps,
            Backend::CudaSim => &cuda::sim::CudaSimOps,
            Backend::Cuda => &cuda::device::CudaOps,
        }
    }

    /// The backend's name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Simple => "simple",
            Backend::Fast => "fast",
            Backend::CudaSim => "cuda-sim",
            Backend::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| Error::Invalid {
                what: "backend",
                message: format!(
                    "unknown backend {s:?}; expected one of: {}",
                    Backend::ALL.map(Backend::name).join(", ")
                ),
            })
    }
}

/// `conv2d(input, weight, [H, W], false) + bias` with `ops`'s own convolution and zip: the
/// default [`TensorOps::conv2d_add`], and the fast backend's when its kernel cannot start from
/// the bias.
pub(crate) fn conv2d_then_add(
    ops: &(impl TensorOps + ?Sized),
    input: &TensorData,
    weight: &TensorData,
    bias: &TensorData,
) -> Result<TensorData> {
    conv2d_shape(input.shape(), weight.shape(), [1, 1])?; // 4-D operands, channels agree
    let out = ops.conv2d(input, weight, [input.shape()[2], input.shape()[3]], false)?;
    crate::layout::broadcast_target("conv2d_add", bias.shape(), out.shape())?;
    ops.zip(ZipOp::Add, &out, bias)
}

/// Checks the operands of [`TensorOps::conv2d`] and returns the output shape
/// (B, Cout, OH, OW).
pub fn conv2d_shape(input: &[usize], weight: &[usize], out_hw: [usize; 2]) -> Result<Dims> {
    let err = |reason: String| Error::Invalid {
        what: "conv2d",
        message: format!("input {input:?}, weight {weight:?}: {reason}"),
    };
    if input.len() != 4 || weight.len() != 4 {
        return Err(err(
            "the kernel takes a 4-D input (B, Cin, H, W) and a 4-D weight (Cout, Cin, KH, KW)"
                .into(),
        ));
    }
    if input[1] != weight[1] {
        return Err(err(format!(
            "the input has {} channels, the weight expects {}",
            input[1], weight[1]
        )));
    }
    crate::layout::check_shape("conv2d", &[input[0], weight[0], out_hw[0], out_hw[1]])
}

/// Checks a reduction's dimension and returns the output shape: the input's with `dim` set to 1.
pub fn reduce_shape(shape: &[usize], dim: usize) -> Result<Dims> {
    if dim >= shape.len() {
        return Err(Error::BadDim {
            op: "reduce",
            dim,
            shape: shape.to_vec(),
        });
    }
    let mut out = Dims::new(shape)?;
    out[dim] = 1;
    Ok(out)
}

/// Checks the shapes of a backend matmul — two 3-D operands, or two 2-D ones (a batch of
/// one) — and returns the output shape as `(n, i, j)`.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<[usize; 3]> {
    let err = |reason| Error::MatMul {
        lhs: a.to_vec(),
        rhs: b.to_vec(),
        reason,
    };
    // As 3-D shapes (a batch of one for 2-D operands).
    let (a, b) = match (a.len(), b.len()) {
        (2, 2) => ([1, a[0], a[1]], [1, b[0], b[1]]),
        (3, 3) => ([a[0], a[1], a[2]], [b[0], b[1], b[2]]),
        _ => return Err(err("backend matmul takes two 3-D operands or two 2-D ones")),
    };
    if a[2] != b[1] {
        return Err(err("inner dimensions differ"));
    }
    let batch = match (a[0], b[0]) {
        (x, y) if x == y => x,
        (1, y) => y,
        (x, 1) => x,
        _ => return Err(err("batch sizes differ and neither is 1")),
    };
    if crate::layout::checked_product(&[batch, a[1], b[2]]).is_none() {
        return Err(err("the product has more than usize::MAX elements"));
    }
    Ok([batch, a[1], b[2]])
}

/// For backends whose kernels take 3-D operands: the shapes checked ([`matmul_shape`], so
/// errors name the operands as given), then `kernel` on two 2-D operands lifted to a batch of
/// one (layout only) with the batch dimension taken off its result again; 3-D operands pass
/// straight through.
pub(crate) fn with_batch(
    a: &TensorData,
    b: &TensorData,
    kernel: impl FnOnce(&TensorData, &TensorData) -> Result<TensorData>,
) -> Result<TensorData> {
    matmul_shape(a.shape(), b.shape())?;
    if a.dims() == 2 && b.dims() == 2 {
        Ok(kernel(&a.lifted(), &b.lifted())?.squeeze(0))
    } else {
        kernel(a, b)
    }
}
