//! Scalar autodiff (MiniTorch Module 1): a single number that remembers how it was computed.
//!
//! ```
//! use minitorch::Scalar;
//! let x = Scalar::new(2.0);
//! let y = &x * &x + 3.0 * &x; // y = x² + 3x
//! y.backward();
//! assert_eq!(x.derivative(), Some(7.0));
//! ```

use crate::autodiff::{self, Backward, Context, Parents, Variable, central_difference};
use crate::error::{Error, Result};
pub use crate::scalar_functions::ScalarFunction;
use crate::scalar_functions::{Add, EQ, Exp, Inv, LT, Log, Mul, Neg, ReLU, Sigmoid};
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

/// How a scalar was made: the function, its saved context and its inputs.
///
/// A history with no function marks a leaf: a variable whose derivative is recorded.
pub struct ScalarHistory {
    /// The function that produced the value (none for a leaf).
    pub last_fn: Option<&'static dyn ScalarFunction>,
    /// What the function saved for backward.
    pub ctx: Context<f64>,
    /// The function's inputs.
    pub inputs: Vec<Scalar>,
}

impl ScalarHistory {
    /// The history of a leaf.
    pub fn leaf() -> Self {
        ScalarHistory {
            last_fn: None,
            ctx: Context::new(false),
            inputs: Vec::new(),
        }
    }
}

struct Node {
    id: u64,
    data: f64,
    history: Option<ScalarHistory>,
    derivative: Cell<Option<f64>>,
}

/// A number in the computation graph. Cloning is cheap (a shared handle).
#[derive(Clone)]
pub struct Scalar(Rc<Node>);

impl Scalar {
    /// A new leaf: its derivative is recorded by [`backward`](Scalar::backward).
    pub fn new(data: f64) -> Scalar {
        Scalar::with_history(data, Some(ScalarHistory::leaf()))
    }

    /// A constant: autodiff ignores it.
    pub fn constant(data: f64) -> Scalar {
        Scalar::with_history(data, None)
    }

    /// A scalar with an explicit history (`None` makes a constant).
    pub fn with_history(data: f64, history: Option<ScalarHistory>) -> Scalar {
        Scalar(Rc::new(Node {
            id: autodiff::next_id(),
            data,
            history,
            derivative: Cell::new(None),
        }))
    }

    /// The value.
    pub fn data(&self) -> f64 {
        self.0.data
    }

    /// The accumulated derivative of a leaf (none before any backward pass).
    pub fn derivative(&self) -> Option<f64> {
        self.0.derivative.get()
    }

    /// Clears the accumulated derivative.
    pub fn zero_grad(&self) {
        self.0.derivative.set(None);
    }

    /// The history, if any.
    pub fn history(&self) -> Option<&ScalarHistory> {
        self.0.history.as_ref()
    }

    /// Backpropagates from this scalar with derivative 1.0.
    pub fn backward(&self) {
        self.backward_with(1.0);
    }

    /// Backpropagates from this scalar with derivative `d`.
    pub fn backward_with(&self, d: f64) {
        autodiff::backpropagate(self, d).expect("scalar backpropagation cannot fail");
    }

    /// `1.0` when `self < other`, as a scalar.
    pub fn lt(&self, other: impl Into<Scalar>) -> Scalar {
        apply(&LT, &[self.clone(), other.into()])
    }

    /// `1.0` when `self > other`, as a scalar.
    pub fn gt(&self, other: impl Into<Scalar>) -> Scalar {
        apply(&LT, &[other.into(), self.clone()])
    }

    /// `1.0` when `self == other`, as a scalar.
    pub fn eq(&self, other: impl Into<Scalar>) -> Scalar {
        apply(&EQ, &[self.clone(), other.into()])
    }

    /// `ln(self + 1e-6)`.
    pub fn log(&self) -> Scalar {
        apply(&Log, std::slice::from_ref(self))
    }

    /// `e^self`.
    pub fn exp(&self) -> Scalar {
        apply(&Exp, std::slice::from_ref(self))
    }

    /// The logistic function.
    pub fn sigmoid(&self) -> Scalar {
        apply(&Sigmoid, std::slice::from_ref(self))
    }

    /// `max(self, 0)`.
    pub fn relu(&self) -> Scalar {
        apply(&ReLU, std::slice::from_ref(self))
    }

    /// `1 / self`.
    pub fn inv(&self) -> Scalar {
        apply(&Inv, std::slice::from_ref(self))
    }

    /// True when the value is non-zero (Python truthiness).
    pub fn is_truthy(&self) -> bool {
        self.0.data != 0.0
    }
}

/// Applies a function to scalars; the result records the function and its inputs.
pub fn apply(f: &'static dyn ScalarFunction, inputs: &[Scalar]) -> Scalar {
    let raw: Vec<f64> = inputs.iter().map(Scalar::data).collect();
    let mut ctx = Context::new(false);
    let out = f.forward(&mut ctx, &raw);
    Scalar::with_history(
        out,
        Some(ScalarHistory {
            last_fn: Some(f),
            ctx,
            inputs: inputs.to_vec(),
        }),
    )
}

impl Variable for Scalar {
    type Grad = f64;

    fn unique_id(&self) -> u64 {
        self.0.id
    }

    fn is_leaf(&self) -> bool {
        self.0.history.as_ref().is_some_and(|h| h.last_fn.is_none())
    }

    fn is_constant(&self) -> bool {
        self.0.history.is_none()
    }

    fn parents(&self) -> Parents<Scalar> {
        self.0
            .history
            .as_ref()
            .map(|h| h.inputs.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn chain_rule(&self, d: &f64) -> Result<Backward<Scalar>> {
        let Some(ScalarHistory {
            last_fn: Some(f),
            ctx,
            inputs,
        }) = &self.0.history
        else {
            return Ok(Backward::new());
        };
        let grads = f.backward(ctx, *d);
        Ok(inputs
            .iter()
            .zip(grads)
            .filter(|(x, _)| !x.is_constant())
            .map(|(x, g)| (x.clone(), g))
            .collect())
    }

    fn accumulate_derivative(&self, d: f64) -> Result<()> {
        if !self.is_leaf() {
            return Err(Error::Invalid {
                what: "accumulate_derivative",
                message: "only leaf variables hold derivatives".into(),
            });
        }
        self.0
            .derivative
            .set(Some(self.0.derivative.get().unwrap_or(0.0) + d));
        Ok(())
    }

    fn add_grads(&self, a: f64, b: f64) -> Result<f64> {
        Ok(a + b)
    }
}

impl From<f64> for Scalar {
    /// Wraps a number as a leaf (as the original does when a number meets a Scalar).
    fn from(v: f64) -> Scalar {
        Scalar::new(v)
    }
}

impl From<&Scalar> for Scalar {
    fn from(v: &Scalar) -> Scalar {
        v.clone()
    }
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scalar({})", self.0.data)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scalar({})", self.0.data)
    }
}

macro_rules! scalar_binop {
    ($trait:ident, $method:ident, |$a:ident, $b:ident| $body:expr) => {
        impl std::ops::$trait<Scalar> for Scalar {
            type Output = Scalar;
            fn $method(self, rhs: Scalar) -> Scalar {
                let ($a, $b) = (self, rhs);
                $body
            }
        }
        impl std::ops::$trait<&Scalar> for &Scalar {
            type Output = Scalar;
            fn $method(self, rhs: &Scalar) -> Scalar {
                let ($a, $b) = (self.clone(), rhs.clone());
                $body
            }
        }
        impl std::ops::$trait<&Scalar> for Scalar {
            type Output = Scalar;
            fn $method(self, rhs: &Scalar) -> Scalar {
                let ($a, $b) = (self, rhs.clone());
                $body
            }
        }
        impl std::ops::$trait<Scalar> for &Scalar {
            type Output = Scalar;
            fn $method(self, rhs: Scalar) -> Scalar {
                let ($a, $b) = (self.clone(), rhs);
                $body
            }
        }
        impl std::ops::$trait<f64> for &Scalar {
            type Output = Scalar;
            fn $method(self, rhs: f64) -> Scalar {
                let ($a, $b) = (self.clone(), Scalar::from(rhs));
                $body
            }
        }
        impl std::ops::$trait<f64> for Scalar {
            type Output = Scalar;
            fn $method(self, rhs: f64) -> Scalar {
                let ($a, $b) = (self, Scalar::from(rhs));
                $body
            }
        }
        impl std::ops::$trait<&Scalar> for f64 {
            type Output = Scalar;
            fn $method(self, rhs: &Scalar) -> Scalar {
                let ($a, $b) = (Scalar::from(self), rhs.clone());
                $body
            }
        }
        impl std::ops::$trait<Scalar> for f64 {
            type Output = Scalar;
            fn $method(self, rhs: Scalar) -> Scalar {
                let ($a, $b) = (Scalar::from(self), rhs);
                $body
            }
        }
    };
}

scalar_binop!(Add, add, |a, b| apply(&Add, &[a, b]));
scalar_binop!(Sub, sub, |a, b| apply(&Add, &[a, apply(&Neg, &[b])]));
scalar_binop!(Mul, mul, |a, b| apply(&Mul, &[a, b]));
scalar_binop!(Div, div, |a, b| apply(&Mul, &[a, apply(&Inv, &[b])]));

impl std::ops::Neg for Scalar {
    type Output = Scalar;
    fn neg(self) -> Scalar {
        apply(&Neg, &[self])
    }
}

impl std::ops::Neg for &Scalar {
    type Output = Scalar;
    fn neg(self) -> Scalar {
        apply(&Neg, std::slice::from_ref(self))
    }
}

/// Compares every leaf derivative of `f` at `scalars` with central differences
/// (tolerance `|a − b| ≤ 0.01 + 0.01·|b|`, ε = 1e-6). The scalars should be fresh leaves.
///
/// ```
/// use minitorch::{Scalar, scalar::derivative_check};
/// derivative_check(|v| v[0].sigmoid() * &v[1], &[Scalar::new(0.3), Scalar::new(-2.0)]).unwrap();
/// ```
pub fn derivative_check(f: impl Fn(&[Scalar]) -> Scalar, scalars: &[Scalar]) -> Result<()> {
    let out = f(scalars);
    out.backward();
    let values: Vec<f64> = scalars.iter().map(Scalar::data).collect();
    let numeric_f =
        |v: &[f64]| f(&v.iter().map(|&x| Scalar::constant(x)).collect::<Vec<_>>()).data();
    for (i, x) in scalars.iter().enumerate() {
        let numeric = central_difference(numeric_f, &values, i, 1e-6);
        let analytic = x.derivative().unwrap_or(0.0);
        if (analytic - numeric).abs() > 1e-2 + 1e-2 * numeric.abs() {
            return Err(Error::GradCheck {
                input: i,
                index: vec![],
                analytic,
                numeric,
            });
        }
    }
    Ok(())
}
