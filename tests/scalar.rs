//! Parity with the original `tests/test_scalar.py` (tasks 1.1, 1.2, 1.4): central differences,
//! Scalar forward passes, the MathTest functions on Scalars, and derivative checks.
//!
//! Hypothesis' `small_floats` (floats in [−100, 100]) becomes a proptest range with 100 cases.
//! The parametrised items `test_one_args[fn]`, `test_two_args[fn]`, `test_one_derivative[fn]`
//! and `test_two_derivative[fn]` become one proptest per function, e.g.
//! `test_one_derivative::relu`.

mod common;

use common::math;
use minitorch::Scalar;
use minitorch::autodiff::{Context, central_difference};
use minitorch::operators::{self, is_close};
use minitorch::scalar::{ScalarFunction, apply, derivative_check};
use proptest::prelude::*;

/// `small_floats` from the original strategies: floats in [−100, 100].
fn small_floats() -> impl Strategy<Value = f64> {
    -100.0f64..=100.0
}

/// The original `assert_close`: `|a − b| < 0.01`.
fn assert_close(a: f64, b: f64) {
    assert!(is_close(a, b), "expected {a} to be close to {b}");
}

/// The Variable forms (`MathTestVariable`), written with Scalar operators and methods.
mod var {
    use minitorch::Scalar;

    pub fn neg(a: &Scalar) -> Scalar {
        -a
    }
    pub fn add_constant(a: &Scalar) -> Scalar {
        5.0 + a
    }
    pub fn square(a: &Scalar) -> Scalar {
        a * a
    }
    pub fn cube(a: &Scalar) -> Scalar {
        &(a * a) * a
    }
    pub fn sub_constant(a: &Scalar) -> Scalar {
        a - 5.0
    }
    pub fn mult_constant(a: &Scalar) -> Scalar {
        5.0 * a
    }
    pub fn div(a: &Scalar) -> Scalar {
        a / 5.0
    }
    pub fn inv(a: &Scalar) -> Scalar {
        1.0 / (a + 3.5)
    }
    pub fn sig(a: &Scalar) -> Scalar {
        a.sigmoid()
    }
    pub fn log(a: &Scalar) -> Scalar {
        (a + 100000.0).log()
    }
    pub fn relu(a: &Scalar) -> Scalar {
        (a + 5.5).relu()
    }
    pub fn exp(a: &Scalar) -> Scalar {
        (a - 200.0).exp()
    }
    pub fn explog(a: &Scalar) -> Scalar {
        (a + 100000.0).log() + (a - 200.0).exp()
    }
    pub fn complex(a: &Scalar) -> Scalar {
        ((((a * 10.0 + 7.0).relu() * 6.0 + 5.0).relu() * 10.0)
            .sigmoid()
            .log())
            / 50.0
    }

    pub fn add2(a: &Scalar, b: &Scalar) -> Scalar {
        a + b
    }
    pub fn mul2(a: &Scalar, b: &Scalar) -> Scalar {
        a * b
    }
    pub fn div2(a: &Scalar, b: &Scalar) -> Scalar {
        a / &(b + 5.5)
    }
    pub fn gt2(a: &Scalar, b: &Scalar) -> Scalar {
        (a + 1.2).gt(b)
    }
    pub fn lt2(a: &Scalar, b: &Scalar) -> Scalar {
        (a + 1.2).lt(b)
    }
    pub fn eq2(a: &Scalar, b: &Scalar) -> Scalar {
        a.eq(b + 5.5)
    }
}

/// Inputs this close to a kink or jump are skipped in the derivative checks.
///
/// relu(a + 5.5) has a kink at a = −5.5, and lt2/gt2/eq2 jump where their two sides meet. There
/// the analytic derivative (relu_back's one-sided 0, or 0 for the comparisons) and the central
/// difference (≈ 0.5 at relu's kink, ≈ ±1/(2ε) = ±5·10⁵ across a jump) legitimately disagree.
/// The original never skips: Hypothesis simply does not draw such points, since with ε = 1e-6
/// the bad set has width ~2e-6 out of 200. The margin here makes that explicit and
/// deterministic; it removes about 1e-5 of the input space.
const KINK_MARGIN: f64 = 1e-3;

fn no_kink(_: f64) -> f64 {
    f64::INFINITY
}
fn no_kink2(_: f64, _: f64) -> f64 {
    f64::INFINITY
}

fn check(result: minitorch::Result<()>) -> Result<(), TestCaseError> {
    result.map_err(|e| TestCaseError::fail(format!("derivative_check failed: {e}")))
}

/// test_one_args[fn]: the Scalar forward equals the float version (is_close).
macro_rules! one_args {
    ($($name:ident),* $(,)?) => {
        mod test_one_args {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(100))]
                $(
                    #[test]
                    fn $name(a in small_floats()) {
                        let got = var::$name(&Scalar::new(a)).data();
                        let want = math::$name(a);
                        prop_assert!(is_close(got, want), "{}({}): {} vs {}", stringify!($name), a, got, want);
                    }
                )*
            }
        }
    };
}

/// test_two_args[fn]: the Scalar forward equals the float version (is_close).
macro_rules! two_args {
    ($($name:ident),* $(,)?) => {
        mod test_two_args {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(100))]
                $(
                    #[test]
                    fn $name(a in small_floats(), b in small_floats()) {
                        let got = var::$name(&Scalar::new(a), &Scalar::new(b)).data();
                        let want = math::$name(a, b);
                        prop_assert!(is_close(got, want), "{}({}, {}): {} vs {}", stringify!($name), a, b, got, want);
                    }
                )*
            }
        }
    };
}

/// test_one_derivative[fn]: derivative_check (rtol = atol = 1e-2) on a fresh leaf. Each entry
/// gives the distance from the input to the function's kink (infinite when there is none).
macro_rules! one_derivative {
    ($($name:ident => $dist:expr),* $(,)?) => {
        mod test_one_derivative {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(100))]
                $(
                    #[test]
                    fn $name(a in small_floats()) {
                        let dist: fn(f64) -> f64 = $dist;
                        prop_assume!(dist(a) > KINK_MARGIN);
                        check(derivative_check(|v| var::$name(&v[0]), &[Scalar::new(a)]))?;
                    }
                )*
            }
        }
    };
}

/// test_two_derivative[fn]: derivative_check on two fresh leaves.
macro_rules! two_derivative {
    ($($name:ident => $dist:expr),* $(,)?) => {
        mod test_two_derivative {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(100))]
                $(
                    #[test]
                    fn $name(a in small_floats(), b in small_floats()) {
                        let dist: fn(f64, f64) -> f64 = $dist;
                        prop_assume!(dist(a, b) > KINK_MARGIN);
                        check(derivative_check(
                            |v| var::$name(&v[0], &v[1]),
                            &[Scalar::new(a), Scalar::new(b)],
                        ))?;
                    }
                )*
            }
        }
    };
}

one_args!(
    add_constant,
    complex,
    cube,
    div,
    exp,
    explog,
    inv,
    log,
    mult_constant,
    neg,
    relu,
    sig,
    square,
    sub_constant,
);

two_args!(add2, div2, eq2, gt2, lt2, mul2);

one_derivative!(
    add_constant => no_kink,
    // The inner relu's kink (a = −0.7) is harmless: σ(≥ 50) is exactly 1.0 in f64, so the
    // function is constant on [−100, 100] and both derivatives are 0.
    complex => no_kink,
    cube => no_kink,
    div => no_kink,
    exp => no_kink,
    explog => no_kink,
    inv => no_kink,
    log => no_kink,
    mult_constant => no_kink,
    neg => no_kink,
    relu => |a| (a + 5.5).abs(),
    sig => no_kink,
    square => no_kink,
    sub_constant => no_kink,
);

two_derivative!(
    add2 => no_kink2,
    div2 => no_kink2,
    eq2 => |a, b| (a - (b + 5.5)).abs(),
    gt2 => |a, b| (a + 1.2 - b).abs(),
    lt2 => |a, b| (a + 1.2 - b).abs(),
    mul2 => no_kink2,
);

// ---- task 1.1 ------------------------------------------------------------------------------

#[test]
fn test_central_diff() {
    let d = central_difference(|v| operators::id(v[0]), &[5.0], 0, 1e-6);
    assert_close(d, 1.0);

    let d = central_difference(|v| operators::add(v[0], v[1]), &[5.0, 10.0], 0, 1e-6);
    assert_close(d, 1.0);

    let d = central_difference(|v| operators::mul(v[0], v[1]), &[5.0, 10.0], 0, 1e-6);
    assert_close(d, 10.0);

    let d = central_difference(|v| operators::mul(v[0], v[1]), &[5.0, 10.0], 1, 1e-6);
    assert_close(d, 5.0);

    let d = central_difference(|v| operators::exp(v[0]), &[2.0], 0, 1e-6);
    assert_close(d, operators::exp(2.0));
    assert_close(d, std::f64::consts::E.powi(2));
}

/// central_difference through a Scalar computation (the original passes Scalars directly).
#[test]
fn test_central_diff_on_scalars() {
    let f = |v: &[f64]| {
        let (x, y) = (Scalar::constant(v[0]), Scalar::constant(v[1]));
        (&x * &y).data()
    };
    assert_close(central_difference(f, &[5.0, 10.0], 0, 1e-6), 10.0);
    assert_close(central_difference(f, &[5.0, 10.0], 1, 1e-6), 5.0);
    let g = |v: &[f64]| Scalar::constant(v[0]).exp().data();
    assert_close(central_difference(g, &[2.0], 0, 1e-6), 2f64.exp());
}

// ---- simple forward ------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn test_simple(a in small_floats(), b in small_floats()) {
        // Simple add
        let c = Scalar::new(a) + Scalar::new(b);
        assert_close(c.data(), a + b);

        // Simple mul
        let c = Scalar::new(a) * Scalar::new(b);
        assert_close(c.data(), a * b);

        // Simple relu
        let c = Scalar::new(a).relu();
        assert_close(c.data(), operators::relu(a));

        // A few more: sub, neg, div away from 0, comparisons, mixed f64 operands.
        assert_close((Scalar::new(a) - Scalar::new(b)).data(), a - b);
        assert_close((-Scalar::new(a)).data(), -a);
        if b.abs() > 0.5 {
            assert_close((Scalar::new(a) / Scalar::new(b)).data(), a / b);
            assert_close((a / Scalar::new(b)).data(), a / b);
        }
        assert_close((2.0 - Scalar::new(a)).data(), 2.0 - a);
        prop_assert_eq!(Scalar::new(a).lt(Scalar::new(b)).data(), operators::lt(a, b));
        prop_assert_eq!(Scalar::new(a).gt(Scalar::new(b)).data(), operators::lt(b, a));
        prop_assert_eq!(Scalar::new(a).eq(Scalar::new(a)).data(), 1.0);
        prop_assert_eq!(Scalar::new(a).eq(a + 1.0).data(), 0.0);
        assert_close(Scalar::new(a).sigmoid().data(), operators::sigmoid(a));
        assert_close(Scalar::new(a.abs()).log().data(), operators::log(a.abs()));
        assert_close(Scalar::new(a / 10.0).exp().data(), (a / 10.0).exp());
    }
}

/// The MathTest table checked at fixed points (so the Scalar forms cannot merely agree with
/// a wrong float form).
#[test]
fn math_test_goldens_on_scalars() {
    let one = |f: fn(&Scalar) -> Scalar, a: f64| f(&Scalar::new(a)).data();
    let two = |f: fn(&Scalar, &Scalar) -> Scalar, a: f64, b: f64| {
        f(&Scalar::new(a), &Scalar::new(b)).data()
    };
    assert_eq!(one(var::add_constant, 2.0), 7.0);
    assert_eq!(one(var::cube, -3.0), -27.0);
    assert_close(one(var::div, 10.0), 2.0);
    assert_eq!(one(var::inv, 0.5), 0.25);
    assert_eq!(one(var::mult_constant, 2.0), 10.0);
    assert_eq!(one(var::neg, 2.0), -2.0);
    assert_eq!(one(var::relu, -6.0), 0.0);
    assert_eq!(one(var::relu, -5.0), 0.5);
    assert_eq!(one(var::sig, 0.0), 0.5);
    assert_eq!(one(var::square, -3.0), 9.0);
    assert_eq!(one(var::sub_constant, 2.0), -3.0);
    assert_close(one(var::log, -99999.0), 0.0);
    assert_close(one(var::exp, 200.0), 1.0);
    assert_close(one(var::complex, 2.0), 0.0);

    assert_eq!(two(var::add2, 1.0, 2.0), 3.0);
    assert_eq!(two(var::mul2, 3.0, -2.0), -6.0);
    assert_eq!(two(var::div2, 3.0, -4.5), 3.0);
    assert_eq!(two(var::eq2, 5.5, 0.0), 1.0);
    assert_eq!(two(var::eq2, 5.0, 0.0), 0.0);
    assert_eq!(two(var::gt2, 0.0, 1.0), 1.0);
    assert_eq!(two(var::gt2, 0.0, 1.5), 0.0);
    assert_eq!(two(var::lt2, 0.0, 1.5), 1.0);
    assert_eq!(two(var::lt2, 0.0, 1.0), 0.0);
}

/// Analytic derivatives of the MathTests at fixed points (backward, not just numeric checks).
#[test]
fn math_test_derivative_goldens() {
    let d1 = |f: fn(&Scalar) -> Scalar, a: f64| {
        let x = Scalar::new(a);
        f(&x).backward();
        x.derivative().expect("the leaf got a derivative")
    };
    assert_eq!(d1(var::neg, 3.0), -1.0);
    assert_eq!(d1(var::add_constant, 3.0), 1.0);
    assert_eq!(d1(var::sub_constant, 3.0), 1.0);
    assert_eq!(d1(var::mult_constant, 3.0), 5.0);
    assert_close(d1(var::div, 3.0), 0.2);
    assert_eq!(d1(var::square, 3.0), 6.0);
    assert_eq!(d1(var::cube, 2.0), 12.0);
    assert_eq!(d1(var::inv, -3.0), -4.0); // −1/(0.5)²
    assert_eq!(d1(var::sig, 0.0), 0.25);
    assert!((d1(var::log, 0.0) - 1.0 / (100000.0 + 1e-6)).abs() < 1e-15);
    assert_eq!(d1(var::relu, -5.0), 1.0);
    assert_eq!(d1(var::relu, -6.0), 0.0);
    assert_close(d1(var::exp, 200.0), 1.0);
    assert_eq!(d1(var::complex, 1.0), 0.0);

    let d2 = |f: fn(&Scalar, &Scalar) -> Scalar, a: f64, b: f64| {
        let (x, y) = (Scalar::new(a), Scalar::new(b));
        f(&x, &y).backward();
        (x.derivative().unwrap(), y.derivative().unwrap())
    };
    assert_eq!(d2(var::add2, 3.0, 4.0), (1.0, 1.0));
    assert_eq!(d2(var::mul2, 3.0, 4.0), (4.0, 3.0));
    assert_eq!(d2(var::div2, 3.0, -4.5), (1.0, -3.0));
    assert_eq!(d2(var::lt2, 3.0, 4.0), (0.0, 0.0));
    assert_eq!(d2(var::gt2, 3.0, 4.0), (0.0, 0.0));
    assert_eq!(d2(var::eq2, 5.5, 0.0), (0.0, 0.0));
}

/// The doc example: y = x² + 3x at 2 → dy/dx = 7; wrapped numbers (3.0) are leaves too.
#[test]
fn test_backward_polynomial() {
    let x = Scalar::new(2.0);
    let y = &x * &x + 3.0 * &x;
    assert_eq!(y.data(), 10.0);
    y.backward();
    assert_eq!(x.derivative(), Some(7.0));
    assert_eq!(y.derivative(), None, "only leaves hold derivatives");
}

/// A user function with a wrong backward is caught by derivative_check, so the checks above are
/// not vacuous.
#[test]
fn derivative_check_catches_wrong_backward() {
    struct BadSquare;
    impl ScalarFunction for BadSquare {
        fn name(&self) -> &'static str {
            "BadSquare"
        }
        fn forward(&self, ctx: &mut Context<f64>, inputs: &[f64]) -> f64 {
            ctx.save_for_backward([inputs[0]]);
            inputs[0] * inputs[0]
        }
        fn backward(&self, ctx: &Context<f64>, d: f64) -> Vec<f64> {
            vec![d * ctx.saved_values()[0]] // should be 2·x·d
        }
    }
    let r = derivative_check(|v| apply(&BadSquare, &[v[0].clone()]), &[Scalar::new(3.0)]);
    assert!(r.is_err(), "a wrong derivative must fail the check");

    // And the correct one passes at the same point.
    derivative_check(|v| &v[0] * &v[0], &[Scalar::new(3.0)]).unwrap();
}

/// derivative_check uses rtol = atol = 1e-2: |a − b| ≤ 0.01 + 0.01·|b|.
#[test]
fn derivative_check_tolerance() {
    // f(x) = k·x with a backward that is off by a set amount.
    struct Scaled;
    impl ScalarFunction for Scaled {
        fn name(&self) -> &'static str {
            "Scaled"
        }
        fn forward(&self, _ctx: &mut Context<f64>, inputs: &[f64]) -> f64 {
            100.0 * inputs[0]
        }
        fn backward(&self, _ctx: &Context<f64>, d: f64) -> Vec<f64> {
            // True derivative 100; tolerance 0.01 + 1.0 = 1.01. Off by 0.9: accepted.
            vec![d * 100.9]
        }
    }
    struct ScaledWorse;
    impl ScalarFunction for ScaledWorse {
        fn name(&self) -> &'static str {
            "ScaledWorse"
        }
        fn forward(&self, _ctx: &mut Context<f64>, inputs: &[f64]) -> f64 {
            100.0 * inputs[0]
        }
        fn backward(&self, _ctx: &Context<f64>, d: f64) -> Vec<f64> {
            // Off by 1.2 > 1.01: rejected.
            vec![d * 101.2]
        }
    }
    derivative_check(|v| apply(&Scaled, &[v[0].clone()]), &[Scalar::new(1.0)]).unwrap();
    assert!(
        derivative_check(
            |v| apply(&ScaledWorse, &[v[0].clone()]),
            &[Scalar::new(1.0)]
        )
        .is_err()
    );
}

/// Truthiness is data ≠ 0, and the comparison results are Scalars of 1.0/0.0.
#[test]
fn test_truthiness_and_comparisons() {
    assert!(Scalar::new(2.0).lt(3.0).is_truthy());
    assert!(!Scalar::new(3.0).lt(3.0).is_truthy());
    assert!(Scalar::new(3.0).gt(2.0).is_truthy());
    assert!(Scalar::new(3.0).eq(3.0).is_truthy());
    assert!(!Scalar::new(0.0).is_truthy());
    assert!(Scalar::new(-0.5).is_truthy());
}
