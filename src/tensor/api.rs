//! The tensor's operations: checked methods returning [`Result`], each a thin call to a tensor
//! function (see [`functions`](super::functions)).

use super::Tensor;
use super::functions::Function;
use crate::error::{Error, Result};
use crate::layout::{Dims, check_shape, shape_broadcast_for};

impl Tensor {
    /// Element-wise `self + other`, broadcasting.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let a = Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
    /// let b = Tensor::from_nested(vec![10.0, 20.0]).unwrap();
    /// assert_eq!(a.add(&b).unwrap().to_vec(), vec![11.0, 22.0, 13.0, 24.0]);
    /// ```
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::Add, &[self, other])
    }

    /// Element-wise `self − other` (computed as `self + (−other)`), broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.check_pair("sub", other)?;
        self.add(&other.neg()?)
    }

    /// Element-wise `self · other`, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::Mul, &[self, other])
    }

    /// Element-wise `self / other` (computed as `self · (1/other)`), broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        self.check_pair("div", other)?;
        self.mul(&other.inv()?)
    }

    /// Element-wise `−self`.
    pub fn neg(&self) -> Result<Tensor> {
        Tensor::apply(Function::Neg, &[self])
    }

    /// Element-wise `1/self`.
    pub fn inv(&self) -> Result<Tensor> {
        Tensor::apply(Function::Inv, &[self])
    }

    /// 1.0 where `self < other`, else 0.0 (zero gradient).
    pub fn lt(&self, other: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::Lt, &[self, other])
    }

    /// 1.0 where `self > other`, else 0.0 (zero gradient).
    pub fn gt(&self, other: &Tensor) -> Result<Tensor> {
        self.check_pair("gt", other)?;
        Tensor::apply(Function::Lt, &[other, self])
    }

    /// 1.0 where `self == other` exactly, else 0.0 (zero gradient).
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::Eq, &[self, other])
    }

    /// 1.0 where `|self − other| < 0.01` (absolute), else 0.0. Not differentiable.
    pub fn is_close(&self, other: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::IsClose, &[self, other])
    }

    /// The logistic function, element-wise.
    pub fn sigmoid(&self) -> Result<Tensor> {
        Tensor::apply(Function::Sigmoid, &[self])
    }

    /// `max(x, 0)` element-wise.
    pub fn relu(&self) -> Result<Tensor> {
        Tensor::apply(Function::Relu, &[self])
    }

    /// `ln(x + 1e-6)` element-wise (the epsilon keeps `log(0)` finite, ≈ −13.8).
    pub fn log(&self) -> Result<Tensor> {
        Tensor::apply(Function::Log, &[self])
    }

    /// `eˣ` element-wise.
    pub fn exp(&self) -> Result<Tensor> {
        Tensor::apply(Function::Exp, &[self])
    }

    /// The course's training loss of probabilities `self` for binary labels `labels`,
    /// element-wise and broadcasting: `−log(p·y + (p − 1)·(y − 1))` with MiniTorch's
    /// [`log`](Tensor::log), i.e. minus the log of the probability given to the label. One op
    /// (one kernel forward, two per input backward) with the values of the course's expression
    /// `-(p.mul(y) + (p − 1)·(y − 1)).log()` bit for bit, which takes eight ops forward and
    /// eleven backward; the gradients agree with the expression's to rounding.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let p = Tensor::from_vec(vec![0.9, 0.2], &[2]).unwrap();
    /// let y = Tensor::from_vec(vec![1.0, 0.0], &[2]).unwrap();
    /// let loss = p.binary_nll(&y).unwrap().to_vec();
    /// assert_eq!(loss, vec![-(0.9f64 + 1e-6).ln(), -(0.8f64 + 1e-6).ln()]);
    /// ```
    pub fn binary_nll(&self, labels: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::BinaryNll, &[self, labels])
    }

    /// Sum along `dim`, which is kept with size 1 (like `keepdim=True`).
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let t = Tensor::from_nested(vec![vec![2.0, 3.0], vec![4.0, 6.0], vec![5.0, 7.0]]).unwrap();
    /// let s = t.sum(0).unwrap();
    /// assert_eq!((s.shape(), s.to_vec()), (&[1, 2][..], vec![11.0, 16.0]));
    /// ```
    pub fn sum(&self, dim: usize) -> Result<Tensor> {
        self.check_dim("sum", dim)?;
        Tensor::apply(Function::Sum(dim), &[self])
    }

    /// Sum of every element, as shape (1,).
    pub fn sum_all(&self) -> Result<Tensor> {
        // A 1-D tensor (a batch's losses) is summed as it is, without a view.
        if self.dims() == 1 {
            return self.sum(0);
        }
        self.flat()?.sum(0)
    }

    /// Mean along `dim` (kept with size 1).
    pub fn mean(&self, dim: usize) -> Result<Tensor> {
        self.check_dim("mean", dim)?;
        let n = self.shape()[dim] as f64;
        self.sum(dim)?.mul(&self.scalar_like(1.0 / n))
    }

    /// Mean of every element, as shape (1,).
    pub fn mean_all(&self) -> Result<Tensor> {
        self.sum_all()?
            .mul(&self.scalar_like(1.0 / self.size() as f64))
    }

    /// Logical all along `dim` (kept with size 1): 1.0 where every element is non-zero.
    /// Not differentiable.
    pub fn all(&self, dim: usize) -> Result<Tensor> {
        self.check_dim("all", dim)?;
        Tensor::apply(Function::All(dim), &[self])
    }

    /// Logical all over every element, as shape (1,).
    pub fn all_all(&self) -> Result<Tensor> {
        self.flat()?.all(0)
    }

    /// Reorders dimensions: dimension `i` of the result is dimension `order[i]` of `self`.
    /// Shares storage.
    pub fn permute(&self, order: &[usize]) -> Result<Tensor> {
        let order = self.data().layout().permute(order).and(Dims::new(order))?;
        Tensor::apply(Function::Permute(order), &[self])
    }

    /// The same elements under another shape of the same size; `self` must be contiguous.
    /// Shares storage.
    pub fn view(&self, shape: &[usize]) -> Result<Tensor> {
        // The function's forward checks that the layout can be viewed (an error, no node).
        let shape = check_shape("view", shape)?;
        Tensor::apply(Function::View(shape), &[self])
    }

    /// `self` when already packed row-major, else a packed copy (differentiable).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            Ok(self.clone())
        } else {
            Tensor::apply(Function::Copy, &[self])
        }
    }

    /// Matrix product: 2-D `(i, k) @ (k, j)`, or batched 3-D `(n, i, k) @ (n, k, j)` with a batch
    /// of 1 broadcasting; a 2-D operand against a 3-D one acts as a batch of 1.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let a = Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
    /// let id = Tensor::from_nested(vec![vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
    /// assert_eq!(a.matmul(&id).unwrap().to_vec(), a.to_vec());
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::MatMul, &[self, other])
    }

    /// `self @ other + bias` as one operation: what a linear layer computes (PyTorch's
    /// `addmm`). The product follows [`matmul`](Tensor::matmul)'s rules; `bias` must broadcast
    /// into the product's shape. One autodiff node instead of two, and the fast backend starts
    /// the product from the bias rather than adding it afterwards.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
    /// let w = Tensor::from_nested(vec![vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
    /// let b = Tensor::from_nested(vec![10.0, 20.0]).unwrap();
    /// assert_eq!(x.matmul_add(&w, &b).unwrap().to_vec(), vec![11.0, 22.0, 13.0, 24.0]);
    /// assert!(x.matmul_add(&w, &Tensor::zeros(&[3, 2]).unwrap()).is_err());
    /// ```
    pub fn matmul_add(&self, other: &Tensor, bias: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::MatMulAdd, &[self, other, bias])
    }

    /// `relu(self @ other + bias)` as one operation: a linear layer and its activation. The
    /// gradient is the two's (the ReLU's mask taken from the output, which is positive exactly
    /// where the product plus bias is), and the fast backend clamps the product as it stores
    /// it instead of making a second pass.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
    /// let w = Tensor::from_nested(vec![vec![1.0, 0.0], vec![0.0, -1.0]]).unwrap();
    /// let b = Tensor::from_nested(vec![-2.0, 3.0]).unwrap();
    /// assert_eq!(x.matmul_add_relu(&w, &b).unwrap().to_vec(), vec![0.0, 1.0, 1.0, 0.0]);
    /// ```
    pub fn matmul_add_relu(&self, other: &Tensor, bias: &Tensor) -> Result<Tensor> {
        Tensor::apply(Function::MatMulAddRelu, &[self, other, bias])
    }

    /// An embedding lookup: `self` is a (V, D) table and the result is (ids.len(), D), row `i`
    /// being the table's row `ids[i]` (PyTorch's `F.embedding`). The gradient adds each
    /// output row's gradient into the table row it came from, so a word used twice receives
    /// both. Errors when `self` is not 2-D or an id is not one of its rows.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let table = Tensor::from_nested(vec![vec![0.0, 0.0], vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
    /// let x = table.embedding(&[2, 1, 2]).unwrap();
    /// assert_eq!(x.shape(), &[3, 2]);
    /// assert_eq!(x.to_vec(), vec![3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
    /// assert!(table.embedding(&[3]).is_err());
    /// ```
    pub fn embedding(&self, ids: &[u32]) -> Result<Tensor> {
        crate::backend::simple::check_gather("embedding", self.data(), ids)?;
        Tensor::apply(Function::Embedding(ids.into()), &[self])
    }

    /// Maximum along `dim`, which is kept with size 1. The gradient flows to every position
    /// that equals the maximum (ties each receive the whole gradient, as in MiniTorch; PyTorch
    /// picks one).
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let t = Tensor::from_nested(vec![vec![1.0, 5.0, 2.0], vec![7.0, 0.0, 3.0]]).unwrap();
    /// assert_eq!(t.max(1).unwrap().to_vec(), vec![5.0, 7.0]);
    /// ```
    pub fn max(&self, dim: usize) -> Result<Tensor> {
        self.check_dim("max", dim)?;
        Tensor::apply(Function::Max(dim), &[self])
    }

    /// 1-D cross-correlation (MiniTorch task 4.1): `self` (B, Cin, W) with `weight`
    /// (Cout, Cin, K) gives (B, Cout, W), `out[b,o,w] = Σ_c Σ_k weight[o,c,k] · self[b,c,w+k]`,
    /// reads past the end counting as 0 (width kept, window anchored left; any K ≥ 1).
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[1, 1, 4]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 3]).unwrap();
    /// assert_eq!(x.conv1d(&w).unwrap().to_vec(), vec![8.0, 14.0, 8.0, 3.0]);
    /// ```
    pub fn conv1d(&self, weight: &Tensor) -> Result<Tensor> {
        self.check_conv("conv1d", weight, 3)?;
        Tensor::apply(Function::Conv, &[self, weight])
    }

    /// 2-D cross-correlation (MiniTorch task 4.2): `self` (B, Cin, H, W) with `weight`
    /// (Cout, Cin, KH, KW) gives (B, Cout, H, W), the window anchored top-left, reads past the
    /// bottom and right edges counting as 0. (PyTorch's `conv2d` with padding only on the
    /// bottom and right computes the same.)
    pub fn conv2d(&self, weight: &Tensor) -> Result<Tensor> {
        self.check_conv("conv2d", weight, 4)?;
        Tensor::apply(Function::Conv, &[self, weight])
    }

    /// [`conv1d`](Tensor::conv1d) plus `bias`, which must broadcast into the (B, Cout, W)
    /// output, as one operation: what a 1-D convolution layer computes (PyTorch's `conv1d`
    /// with a bias). One autodiff node instead of two, and the fast backend starts each output
    /// channel from its bias rather than adding it afterwards.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[1, 1, 4]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 3]).unwrap();
    /// let b = Tensor::from_vec(vec![10.0], &[1, 1]).unwrap();
    /// assert_eq!(x.conv1d_add(&w, &b).unwrap().to_vec(), vec![18.0, 24.0, 18.0, 13.0]);
    /// assert!(x.conv1d_add(&w, &Tensor::zeros(&[2, 1]).unwrap()).is_err());
    /// ```
    pub fn conv1d_add(&self, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        self.check_conv("conv1d", weight, 3)?;
        Tensor::apply(Function::ConvAdd, &[self, weight, bias])
    }

    /// [`conv2d`](Tensor::conv2d) plus `bias`, which must broadcast into the (B, Cout, H, W)
    /// output, as one operation: what a 2-D convolution layer computes (PyTorch's `conv2d`
    /// with a bias). One autodiff node instead of two, and the fast backend starts each output
    /// channel from its bias rather than adding it afterwards.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0], &[1, 1, 1, 1]).unwrap();
    /// let b = Tensor::from_vec(vec![0.5], &[1, 1, 1]).unwrap();
    /// assert_eq!(x.conv2d_add(&w, &b).unwrap().to_vec(), vec![1.5, 2.5, 3.5, 4.5]);
    /// ```
    pub fn conv2d_add(&self, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        self.check_conv("conv2d", weight, 4)?;
        Tensor::apply(Function::ConvAdd, &[self, weight, bias])
    }

    /// `relu(conv1d_add(weight, bias))` as one operation: a 1-D convolution layer and its
    /// activation. The gradient is the two's (the ReLU's mask from the output, which is
    /// positive exactly where the convolution is), and the fast backend clamps the output
    /// as it stores it instead of making a second pass.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[1, 1, 4]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 3]).unwrap();
    /// let b = Tensor::from_vec(vec![-14.0], &[1, 1]).unwrap();
    /// assert_eq!(x.conv1d_add_relu(&w, &b).unwrap().to_vec(), vec![0.0, 0.0, 0.0, 0.0]);
    /// let b = Tensor::from_vec(vec![-10.0], &[1, 1]).unwrap();
    /// assert_eq!(x.conv1d_add_relu(&w, &b).unwrap().to_vec(), vec![0.0, 4.0, 0.0, 0.0]);
    /// ```
    pub fn conv1d_add_relu(&self, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        self.check_conv("conv1d", weight, 3)?;
        Tensor::apply(Function::ConvAddRelu, &[self, weight, bias])
    }

    /// `relu(conv2d_add(weight, bias))` as one operation: a 2-D convolution layer and its
    /// activation (see [`conv1d_add_relu`](Tensor::conv1d_add_relu)).
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0], &[1, 1, 1, 1]).unwrap();
    /// let b = Tensor::from_vec(vec![-2.5], &[1, 1, 1]).unwrap();
    /// assert_eq!(x.conv2d_add_relu(&w, &b).unwrap().to_vec(), vec![0.0, 0.0, 0.5, 1.5]);
    /// ```
    pub fn conv2d_add_relu(&self, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        self.check_conv("conv2d", weight, 4)?;
        Tensor::apply(Function::ConvAddRelu, &[self, weight, bias])
    }

    /// `avgpool2d(conv2d_add_relu(weight, bias), kernel)` as one operation: a 2-D convolution
    /// layer, its activation and the average pooling after it (the MNIST network's second
    /// layer). The same values as the three apart; the backward reads the pooled gradient
    /// directly (one backend op,
    /// [`conv2d_add_relu_avgpool_backward`](crate::backend::TensorOps::conv2d_add_relu_avgpool_backward)).
    /// Errors as [`conv2d_add_relu`](Tensor::conv2d_add_relu) and
    /// [`avgpool2d`](crate::nn::functional::avgpool2d) do.
    ///
    /// ```
    /// use minitorch::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0], &[1, 1, 1, 1]).unwrap();
    /// let b = Tensor::from_vec(vec![-2.5], &[1, 1, 1]).unwrap();
    /// // relu: [0, 0, 0.5, 1.5]; the mean of the 2 × 2 block: 0.5.
    /// let y = x.conv2d_add_relu_avgpool(&w, &b, (2, 2)).unwrap();
    /// assert_eq!((y.shape(), y.to_vec()), (&[1, 1, 1, 1][..], vec![0.5]));
    /// ```
    pub fn conv2d_add_relu_avgpool(
        &self,
        weight: &Tensor,
        bias: &Tensor,
        (kh, kw): (usize, usize),
    ) -> Result<Tensor> {
        self.check_conv("conv2d", weight, 4)?;
        Tensor::apply(Function::ConvAddReluPool([kh, kw]), &[self, weight, bias])
    }

    fn check_conv(&self, op: &'static str, weight: &Tensor, rank: usize) -> Result<()> {
        let err = |reason: String| Error::Invalid {
            what: op,
            message: format!(
                "input {:?}, weight {:?}: {reason}",
                self.shape(),
                weight.shape()
            ),
        };
        let names = if rank == 3 {
            "(B, Cin, W) and (Cout, Cin, K)"
        } else {
            "(B, Cin, H, W) and (Cout, Cin, KH, KW)"
        };
        if self.dims() != rank || weight.dims() != rank {
            return Err(err(format!("expected {rank}-D operands {names}")));
        }
        if self.shape()[1] != weight.shape()[1] {
            return Err(err(format!(
                "the input has {} channels but the weight expects {}",
                self.shape()[1],
                weight.shape()[1]
            )));
        }
        Ok(())
    }

    /// The elements as one dimension.
    fn flat(&self) -> Result<Tensor> {
        self.contiguous()?.view(&[self.size()])
    }

    /// For operations composed of others (sub, div, gt): the errors the parts would report,
    /// under this operation's name and with the operands in the caller's order.
    fn check_pair(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.backend() != other.backend() {
            return Err(Error::MixedBackends {
                op,
                lhs: self.backend().name(),
                rhs: other.backend().name(),
            });
        }
        shape_broadcast_for(op, self.shape(), other.shape()).map(|_| ())
    }

    fn check_dim(&self, op: &'static str, dim: usize) -> Result<()> {
        if dim >= self.dims() {
            return Err(Error::BadDim {
                op,
                dim,
                shape: self.shape().to_vec(),
            });
        }
        Ok(())
    }
}
