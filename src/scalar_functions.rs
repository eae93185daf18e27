//! Differentiable scalar functions (MiniTorch task 1.2): each has a forward on raw f64 values
//! and a backward giving one derivative per input.
//!
//! Users can define their own by implementing [`ScalarFunction`] and calling
//! [`apply`](crate::scalar::apply):
//!
//! ```
//! use minitorch::autodiff::Context;
//! use minitorch::scalar::{apply, Scalar, ScalarFunction};
//!
//! /// f(x, y) = x·y + x
//! struct MulAdd;
//! impl ScalarFunction for MulAdd {
//!     fn name(&self) -> &'static str { "MulAdd" }
//!     fn forward(&self, ctx: &mut Context<f64>, inputs: &[f64]) -> f64 {
//!         ctx.save_for_backward(inputs.iter().copied());
//!         inputs[0] * inputs[1] + inputs[0]
//!     }
//!     fn backward(&self, ctx: &Context<f64>, d: f64) -> Vec<f64> {
//!         let [x, y] = [ctx.saved_values()[0], ctx.saved_values()[1]];
//!         vec![d * (y + 1.0), d * x]
//!     }
//! }
//! let (x, y) = (Scalar::new(5.0), Scalar::new(10.0));
//! let z = apply(&MulAdd, &[x.clone(), y.clone()]);
//! z.backward();
//! assert_eq!((x.derivative(), y.derivative()), (Some(11.0), Some(5.0)));
//! ```

use crate::autodiff::Context;
use crate::operators;

/// A function of scalars with a hand-written derivative.
pub trait ScalarFunction {
    /// Name used when printing a graph.
    fn name(&self) -> &'static str;
    /// Computes the output from raw input values, saving what backward needs in `ctx`.
    fn forward(&self, ctx: &mut Context<f64>, inputs: &[f64]) -> f64;
    /// The derivative with respect to each input, given the output's derivative `d`.
    fn backward(&self, ctx: &Context<f64>, d: f64) -> Vec<f64>;
}

fn saved(ctx: &Context<f64>, i: usize) -> f64 {
    ctx.saved_values()[i]
}

macro_rules! scalar_function {
    ($(#[$doc:meta])* $name:ident, |$ctx:ident, $x:ident| $fwd:expr, |$bctx:ident, $d:ident| $bwd:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl ScalarFunction for $name {
            fn name(&self) -> &'static str {
                stringify!($name)
            }
            fn forward(&self, $ctx: &mut Context<f64>, $x: &[f64]) -> f64 {
                $fwd
            }
            fn backward(&self, $bctx: &Context<f64>, $d: f64) -> Vec<f64> {
                $bwd
            }
        }
    };
}

scalar_function!(
    /// `a + b`.
    Add, |_ctx, x| x[0] + x[1], |_c, d| vec![d, d]
);
scalar_function!(
    /// `ln(a + 1e-6)`.
    Log,
    |ctx, x| {
        ctx.save_for_backward([x[0]]);
        operators::log(x[0])
    },
    |c, d| vec![operators::log_back(saved(c, 0), d)]
);
scalar_function!(
    /// `a · b`.
    Mul,
    |ctx, x| {
        ctx.save_for_backward([x[0], x[1]]);
        x[0] * x[1]
    },
    |c, d| vec![d * saved(c, 1), d * saved(c, 0)]
);
scalar_function!(
    /// `1 / a`.
    Inv,
    |ctx, x| {
        ctx.save_for_backward([x[0]]);
        operators::inv(x[0])
    },
    |c, d| vec![operators::inv_back(saved(c, 0), d)]
);
scalar_function!(
    /// `−a`.
    Neg, |_ctx, x| -x[0], |_c, d| vec![-d]
);
scalar_function!(
    /// The logistic function.
    Sigmoid,
    |ctx, x| {
        let s = operators::sigmoid(x[0]);
        ctx.save_for_backward([s]);
        s
    },
    |c, d| {
        let s = saved(c, 0);
        vec![d * s * (1.0 - s)]
    }
);
scalar_function!(
    /// `max(a, 0)`.
    ReLU,
    |ctx, x| {
        ctx.save_for_backward([x[0]]);
        operators::relu(x[0])
    },
    |c, d| vec![operators::relu_back(saved(c, 0), d)]
);
scalar_function!(
    /// `e^a`.
    Exp,
    |ctx, x| {
        let out = operators::exp(x[0]);
        ctx.save_for_backward([out]);
        out
    },
    |c, d| vec![d * saved(c, 0)]
);
scalar_function!(
    /// 1.0 when `a < b` (zero derivative).
    LT, |_ctx, x| operators::lt(x[0], x[1]), |_c, _d| vec![0.0, 0.0]
);
scalar_function!(
    /// 1.0 when `a == b` (zero derivative).
    EQ, |_ctx, x| operators::eq(x[0], x[1]), |_c, _d| vec![0.0, 0.0]
);
