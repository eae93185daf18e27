//! Gradient checking for tensor functions (MiniTorch task 2.4), public so users can check
//! their own compositions.

use crate::error::{Error, Result};
use crate::random::Rng;
use crate::tensor::Tensor;

/// Step used for central differences.
pub const GRAD_CHECK_EPS: f64 = 1e-6;

/// Checks backpropagated gradients of `f` against central differences.
///
/// Each input is made a tracking leaf with its gradient cleared; `f(vals).sum()` is
/// backpropagated; then, for each input, one index is drawn (seeded, so failures reproduce)
/// and the gradient there is compared with
/// `(f(x + ε).sum() − f(x − ε).sum()) / 2ε` (ε = 1e-6) using `|a − b| ≤ 0.01 + 0.01·|b|`.
///
/// ```
/// use minitorch::{grad_check, Tensor};
/// let x = Tensor::from_nested(vec![0.5, -1.0, 2.0]).unwrap();
/// grad_check(|v| v[0].sigmoid()?.mul(&v[0]), &[x]).unwrap();
/// ```
pub fn grad_check(f: impl Fn(&[Tensor]) -> Result<Tensor>, vals: &[Tensor]) -> Result<()> {
    for x in vals {
        x.requires_grad_(true);
        x.zero_grad();
    }
    let mut rng = Rng::seed(10);
    f(vals)?.sum_all()?.backward()?;
    let constants: Vec<Tensor> = vals.iter().map(Tensor::detach).collect();
    for (i, x) in vals.iter().enumerate() {
        let index = x.data().sample(&mut rng);
        let shifted = |delta: f64| -> Result<f64> {
            let bump = Tensor::zeros(x.shape())?;
            bump.set(&index, delta)?;
            let bump = bump.try_to(x.backend())?;
            let mut args = constants.clone();
            args[i] = args[i].add(&bump)?;
            f(&args)?.sum_all()?.item()
        };
        let numeric =
            (shifted(GRAD_CHECK_EPS)? - shifted(-GRAD_CHECK_EPS)?) / (2.0 * GRAD_CHECK_EPS);
        let analytic = match x.grad() {
            Some(g) => g.get(&index)?,
            None => 0.0,
        };
        if (analytic - numeric).abs() > 1e-2 + 1e-2 * numeric.abs() {
            return Err(Error::GradCheck {
                input: i,
                index: index.to_vec(),
                analytic,
                numeric,
            });
        }
    }
    Ok(())
}
