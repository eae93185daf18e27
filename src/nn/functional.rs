//! Module 4's functional operations (MiniTorch's `nn.py`, tasks 4.3 and 4.4), written on top
//! of tensor operations so autodiff, every backend and the profiler cover them unchanged:
//! [`tile`], [`avgpool2d`], [`maxpool2d`], [`argmax`], [`softmax`], [`logsoftmax`] and
//! [`dropout`]. (`max` and the convolutions are tensor methods with their own functions:
//! [`Tensor::max`], [`Tensor::conv1d`], [`Tensor::conv2d`].)

use crate::error::{Error, Result};
use crate::random::Rng;
use crate::tensor::Tensor;

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
    let (b, c, nh, nw) = pool_shape(op, input, kernel)?;
    let (kh, kw) = kernel;
    input
        .contiguous()?
        .view(&[b, c, nh, kh, nw, kw])?
        .permute(&[0, 1, 2, 4, 3, 5])?
        .contiguous()?
        .view(&[b, c, nh, nw, kh * kw])
}

/// Mean over each (kh, kw) block: (B, C, H, W) → (B, C, H/kh, W/kw).
///
/// The same means as [`tile`] then `mean(4)`, computed without the tile's copy: the input
/// viewed as (B, C, H/kh, kh, W/kw, kw) is summed along its kh dimension (whole rows of W values
/// added together), then along kw.
pub fn avgpool2d(input: &Tensor, kernel: (usize, usize)) -> Result<Tensor> {
    let (b, c, nh, nw) = pool_shape("avgpool2d", input, kernel)?;
    let (kh, kw) = kernel;
    input
        .contiguous()?
        .view(&[b, c, nh, kh, nw, kw])?
        .sum(3)?
        .sum(5)?
        .mul(&input.scalar_like(1.0 / (kh * kw) as f64))?
        .view(&[b, c, nh, nw])
}

/// Checks a pooling input and kernel; returns (B, C, H/kh, W/kw).
fn pool_shape(
    op: &'static str,
    input: &Tensor,
    (kh, kw): (usize, usize),
) -> Result<(usize, usize, usize, usize)> {
    let shape = input.shape();
    if shape.len() != 4 {
        return Err(invalid(
            op,
            format!("expected a 4-D input (B, C, H, W), got shape {shape:?}"),
        ));
    }
    let [b, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    if kh == 0 || kw == 0 || h % kh != 0 || w % kw != 0 {
        return Err(invalid(
            op,
            format!(
                "kernel ({kh}, {kw}) must divide the height and width of shape {shape:?} exactly"
            ),
        ));
    }
    Ok((b, c, h / kh, w / kw))
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
