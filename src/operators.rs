//! Scalar operators (MiniTorch tasks 0.1 and 0.3): the f64 functions every backend applies
//! element by element, their derivatives, and the small higher-order list functions.

/// The epsilon added inside [`log`] and [`log_back`], so `log(0)` is finite (≈ −13.8).
pub const LOG_EPS: f64 = 1e-6;

/// The absolute tolerance of [`is_close`].
pub const IS_CLOSE_TOL: f64 = 1e-2;

/// `x · y`.
pub fn mul(x: f64, y: f64) -> f64 {
    x * y
}

/// `x` unchanged.
pub fn id(x: f64) -> f64 {
    x
}

/// `x + y`.
pub fn add(x: f64, y: f64) -> f64 {
    x + y
}

/// `−x`.
pub fn neg(x: f64) -> f64 {
    -x
}

/// 1.0 if `x < y`, else 0.0.
pub fn lt(x: f64, y: f64) -> f64 {
    if x < y { 1.0 } else { 0.0 }
}

/// 1.0 if `x == y` (exact float equality), else 0.0.
pub fn eq(x: f64, y: f64) -> f64 {
    if x == y { 1.0 } else { 0.0 }
}

/// `x` if `x > y`, else `y` (a tie returns `y`).
pub fn max(x: f64, y: f64) -> f64 {
    if x > y { x } else { y }
}

/// True when `|x − y| < 0.01`: an **absolute**, strict tolerance, as in the original.
///
/// ```
/// use minitorch::operators::is_close;
/// assert!(is_close(1.0, 1.0099));
/// assert!(!is_close(1.0, 1.01));
/// ```
pub fn is_close(x: f64, y: f64) -> bool {
    (x - y).abs() < IS_CLOSE_TOL
}

/// The logistic function, computed stably: `1/(1+e^−x)` for x ≥ 0, `e^x/(1+e^x)` otherwise.
///
/// ```
/// use minitorch::operators::sigmoid;
/// assert_eq!(sigmoid(0.0), 0.5);
/// assert!(sigmoid(-1000.0) >= 0.0);
/// ```
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `x` if `x > 0`, else 0.0 (so `relu(0) = 0`).
pub fn relu(x: f64) -> f64 {
    if x > 0.0 { x } else { 0.0 }
}

/// Natural log of `x + LOG_EPS` (see [`LOG_EPS`]).
pub fn log(x: f64) -> f64 {
    (x + LOG_EPS).ln()
}

/// `e^x`.
pub fn exp(x: f64) -> f64 {
    x.exp()
}

/// Derivative of [`log`] times `d`: `d / (x + LOG_EPS)`.
pub fn log_back(x: f64, d: f64) -> f64 {
    d / (x + LOG_EPS)
}

/// `1/x` (no epsilon: `inv(0)` is infinite).
pub fn inv(x: f64) -> f64 {
    1.0 / x
}

/// Derivative of [`inv`] times `d`: `−d / x²`.
pub fn inv_back(x: f64, d: f64) -> f64 {
    -d / (x * x)
}

/// Derivative of [`relu`] times `d`: `d` if `x > 0`, else 0.0.
pub fn relu_back(x: f64, d: f64) -> f64 {
    if x > 0.0 { d } else { 0.0 }
}

/// Derivative of [`sigmoid`] times `d`, from the saved output `s = sigmoid(x)`: `d·s·(1 − s)`.
pub fn sigmoid_back(s: f64, d: f64) -> f64 {
    d * s * (1.0 - s)
}

/// The course's training loss for a predicted probability `p` of a binary label `y`:
/// `−log(p·y + (p − 1)·(y − 1))`, minus the [`log`] of the probability the prediction gives
/// the label (so `−log(p)` for `y = 1`, `−log(1 − p)` for `y = 0`). The same operations in
/// the same order as the course's tensor expression, so the values are those of the
/// unfused loss, bit for bit.
///
/// ```
/// use minitorch::operators::{binary_nll, log};
/// assert_eq!(binary_nll(0.8, 1.0), -log(0.8));
/// assert_eq!(binary_nll(0.8, 0.0), -log(1.0 - 0.8));
/// ```
pub fn binary_nll(p: f64, y: f64) -> f64 {
    -log(p * y + (p - 1.0) * (y - 1.0))
}

/// Derivative of [`binary_nll`] in its first argument: `−(y + (y − 1)) / (q + LOG_EPS)` with
/// `q = p·y + (p − 1)·(y − 1)`. The expression is symmetric in `p` and `y`, so
/// `binary_nll_back(y, p)` is the derivative in `y`.
pub fn binary_nll_back(p: f64, y: f64) -> f64 {
    -(y + (y - 1.0)) / (p * y + (p - 1.0) * (y - 1.0) + LOG_EPS)
}

/// One step of a logical "all": 1.0 when both the accumulator and `x` are non-zero.
pub fn all_step(acc: f64, x: f64) -> f64 {
    if acc != 0.0 && x != 0.0 { 1.0 } else { 0.0 }
}

/// Applies `f` to every element.
///
/// ```
/// use minitorch::operators::{map, neg};
/// assert_eq!(map(neg)(&[1.0, -2.0]), vec![-1.0, 2.0]);
/// ```
pub fn map(f: impl Fn(f64) -> f64) -> impl Fn(&[f64]) -> Vec<f64> {
    move |xs| xs.iter().map(|&x| f(x)).collect()
}

/// Combines two lists element by element; the result is as long as the shorter list.
///
/// ```
/// use minitorch::operators::{zip_with, add};
/// assert_eq!(zip_with(add)(&[1.0, 2.0, 3.0], &[10.0, 20.0]), vec![11.0, 22.0]);
/// ```
pub fn zip_with(f: impl Fn(f64, f64) -> f64) -> impl Fn(&[f64], &[f64]) -> Vec<f64> {
    move |xs, ys| xs.iter().zip(ys).map(|(&x, &y)| f(x, y)).collect()
}

/// A left fold: `acc = f(acc, x)` for each `x` in order, starting from `start`.
///
/// ```
/// use minitorch::operators::{reduce, add};
/// assert_eq!(reduce(add, 0.0)(&[1.0, 2.0, 3.0]), 6.0);
/// ```
pub fn reduce(f: impl Fn(f64, f64) -> f64, start: f64) -> impl Fn(&[f64]) -> f64 {
    move |xs| xs.iter().fold(start, |acc, &x| f(acc, x))
}

/// Negates every element.
pub fn neg_list(xs: &[f64]) -> Vec<f64> {
    map(neg)(xs)
}

/// Adds two lists element by element (truncating to the shorter).
pub fn add_lists(xs: &[f64], ys: &[f64]) -> Vec<f64> {
    zip_with(add)(xs, ys)
}

/// Sum of a list (0.0 when empty).
pub fn sum(xs: &[f64]) -> f64 {
    reduce(add, 0.0)(xs)
}

/// Product of a list (1.0 when empty).
pub fn prod(xs: &[f64]) -> f64 {
    reduce(mul, 1.0)(xs)
}
