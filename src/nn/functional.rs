//! Module 4's functional operations (MiniTorch's `nn.py`, tasks 4.3 and 4.4), written on top
//! of tensor operations so autodiff, every backend and the profiler cover them unchanged:
//! [`tile`], [`maxpool2d`], [`argmax`], [`softmax`], [`logsoftmax`] and [`dropout`].
//! [`avgpool2d`] is one backend op with its own autodiff function (`AvgPool2d`), whose default
//! kernels are that composition; `max` and the convolutions are tensor methods with their own
//! functions: [`Tensor::max`], [`Tensor::conv1d`], [`Tensor::conv2d`].

use crate::backend::pooling::pool2d_shape;
use crate::error::{Error, Result};
use crate::random::Rng;
use crate::tensor::Tensor;
use crate::tensor::functions::Function;

fn invalid(what: &'static str, message: String) -> Error {
    Error::Invalid { what, message }
}

/// Splits each (kh, kw) block of a (B, C, H, W) tensor into a last dimension:
/// (B, C, H/kh, W/kw, kh·kw). Fails unless kh divides H and kw divides W.
///
/// ```
/// use minitorch::{Tensor, nn::functional::tile};
/// let x = Tensor::from_vec((0..16).map(f64::from).collect(), &[1, 1, 4, 4]).unwrap();
/// let t = tile(&x, (2, 2)).unwrap();
/// assert_eq!(t.shape(), &[1, 1, 2, 2, 4]);
/// assert_eq!(t.to_vec()[..4], [0.0, 1.0, 4.0, 5.0]);
/// ```
pub fn tile(input: &Tensor, kernel: (usize, usize)) -> Result<Tensor> {
    tile_for("tile", input, kernel)
}

fn tile_for(op: &'static str, input: &Tensor, kernel: (usize, usize)) -> Result<Tensor> {
    let (kh, kw) = kernel;
    let [b, c, nh, nw] = pool2d_shape(op, input.shape(), [kh, kw])?;
    input
        .contiguous()?
        .view(&[b, c, nh, kh, nw, kw])?
        .permute(&[0, 1, 2, 4, 3, 5])?
        .contiguous()?
        .view(&[b, c, nh, nw, kh * kw])
}

/// Mean over each (kh, kw) block: (B, C, H, W) → (B, C, H/kh, W/kw).
///
/// The same means as [`tile`] then `mean(4)`, computed by one backend op
/// ([`TensorOps::avgpool2d`](crate::backend::TensorOps::avgpool2d)) without the tile's copy:
/// each block summed along kh (whole rows of W values added together), then along kw.
///
/// ```
/// use minitorch::{Tensor, nn::functional::avgpool2d};
/// let x = Tensor::from_vec((0..16).map(f64::from).collect(), &[1, 1, 4, 4]).unwrap();
/// let p = avgpool2d(&x, (2, 2)).unwrap();
/// assert_eq!(p.shape(), &[1, 1, 2, 2]);
/// assert_eq!(p.to_vec(), [2.5, 4.5, 10.5, 12.5]);
/// ```
pub fn avgpool2d(input: &Tensor, (kh, kw): (usize, usize)) -> Result<Tensor> {
    // Every backend's kernel checks the shapes (`backend/pooling.rs`), with `tile`'s message.
    Tensor::apply(Function::AvgPool2d([kh, kw]), &[input])
}

/// Maximum over each (kh, kw) block: (B, C, H, W) → (B, C, H/kh, W/kw). The gradient goes to
/// each block's maximum (to every tied one, see [`Tensor::max`]).
pub fn maxpool2d(input: &Tensor, kernel: (usize, usize)) -> Result<Tensor> {
    let tiled = tile_for("maxpool2d", input, kernel)?;
    let s = tiled.shape().to_vec();
    tiled.max(4)?.view(&s[..4])
}

/// A one-hot mask of the maxima along `dim` (1.0 where an element equals its fibre's maximum;
/// ties are all marked). Not differentiable: the result is a constant.
pub fn argmax(input: &Tensor, dim: usize) -> Result<Tensor> {
    let x = input.detach();
    Ok(x.eq(&x.max(dim)?)?.detach())
}

/// `exp(x) / Σ exp(x)` along `dim`, computed as `exp(x − max)` over its sum so large inputs
/// cannot overflow.
///
/// ```
/// use minitorch::{Tensor, nn::functional::softmax};
/// let x = Tensor::from_nested(vec![vec![1000.0, 1000.0], vec![0.0, 3.0]]).unwrap();
/// let p = softmax(&x, 1).unwrap().to_vec();
/// assert_eq!(p[0], 0.5);
/// assert!((p[2] + p[3] - 1.0).abs() < 1e-12);
/// ```
pub fn softmax(input: &Tensor, dim: usize) -> Result<Tensor> {
    let shifted = input.sub(&input.max(dim)?.detach())?;
    let e = shifted.exp()?;
    e.div(&e.sum(dim)?)
}

/// `x − log Σ exp(x)` along `dim`, with the maximum shifted out first (log-sum-exp), so
/// inputs of ±1000 stay finite. The library's `log` adds 1e-6 inside (MiniTorch's `log`); the
/// sum here is at least 1, so the result is within 1e-6 of the exact value.
pub fn logsoftmax(input: &Tensor, dim: usize) -> Result<Tensor> {
    let shifted = input.sub(&input.max(dim)?.detach())?;
    shifted.sub(&shifted.exp()?.sum(dim)?.log()?)
}

/// How [`dropout`] treats the elements it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Dropout {
    /// MiniTorch's: kept elements are unchanged (no rescaling).
    #[default]
    Course,
    /// "Inverted" dropout (PyTorch's): kept elements are divided by `1 − rate`, so the
    /// expected value is unchanged.
    Inverted,
}

/// Zeroes each element with probability `rate` in training (`train`), keeping it where a
/// uniform draw from `rng` exceeds `rate`; identity in evaluation. `rate` 0 is the identity,
/// 1 gives all zeros.
///
/// ```
/// use minitorch::{Rng, Tensor, nn::functional::{dropout, Dropout}};
/// let x = Tensor::ones(&[1000]).unwrap();
/// let y = dropout(&x, 0.25, true, Dropout::Course, &mut Rng::seed(1)).unwrap();
/// let kept = y.to_vec().iter().filter(|&&v| v == 1.0).count();
/// assert!((700..800).contains(&kept));
/// assert!(dropout(&x, 1.5, true, Dropout::Course, &mut Rng::seed(1)).is_err());
/// ```
pub fn dropout(
    input: &Tensor,
    rate: f64,
    train: bool,
    mode: Dropout,
    rng: &mut Rng,
) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(invalid(
            "dropout",
            format!(
                "rate {rate} is outside [0, 1] (input shape {:?})",
                input.shape()
            ),
        ));
    }
    if !train || rate == 0.0 {
        return Ok(input.clone());
    }
    let keep = match mode {
        Dropout::Inverted if rate < 1.0 => 1.0 / (1.0 - rate),
        _ => 1.0,
    };
    let mask: Vec<f64> = (0..input.size())
        .map(|_| if rng.uniform() > rate { keep } else { 0.0 })
        .collect();
    let mask = Tensor::from_vec(mask, input.shape())?.try_to(input.backend())?;
    input.mul(&mask)
}
