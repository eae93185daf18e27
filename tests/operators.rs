//! Parity with the original `tests/test_operators.py` (tasks 0.1, 0.2, 0.3): the f64 operators,
//! their algebraic properties, the list functions, and the float forms of the MathTest functions.
//!
//! Hypothesis' `small_floats` (floats in [−100, 100]) becomes a proptest range; each property runs
//! 100 cases, as the original does.

mod common;

use common::math;
use minitorch::autodiff::central_difference;
use minitorch::operators::{
    LOG_EPS, add, add_lists, binary_nll, binary_nll_back, eq, exp, id, inv, inv_back, is_close,
    log, log_back, lt, map, max, mul, neg, neg_list, prod, reduce, relu, relu_back, sigmoid, sum,
    zip_with,
};
use proptest::prelude::*;

/// `small_floats` from the original strategies: floats in [−100, 100].
fn small_floats() -> impl Strategy<Value = f64> {
    -100.0f64..=100.0
}

/// The original `assert_close`: `is_close`, i.e. `|a − b| < 0.01` (absolute).
fn assert_close(a: f64, b: f64) {
    assert!(is_close(a, b), "expected {a} to be close to {b}");
}

/// Closeness for values that can be huge (near a pole): absolute 0.01 or relative 1e-12.
fn assert_close_rel(a: f64, b: f64) {
    assert!(
        is_close(a, b) || (a - b).abs() <= 1e-12 * b.abs(),
        "expected {a} to be close to {b}"
    );
}

/// The same functions written straight from the spec's table with `std` only, as an oracle that
/// does not go through `minitorch::operators`.
mod direct {
    fn ln_eps(x: f64) -> f64 {
        (x + 1e-6).ln()
    }
    fn sigma(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }
    fn relu(x: f64) -> f64 {
        x.max(0.0)
    }
    fn bool01(b: bool) -> f64 {
        if b { 1.0 } else { 0.0 }
    }

    pub fn neg(a: f64) -> f64 {
        0.0 - a
    }
    pub fn add_constant(a: f64) -> f64 {
        a + 5.0
    }
    pub fn square(a: f64) -> f64 {
        a.powi(2)
    }
    pub fn cube(a: f64) -> f64 {
        a.powi(3)
    }
    pub fn sub_constant(a: f64) -> f64 {
        a + (-5.0)
    }
    pub fn mult_constant(a: f64) -> f64 {
        a * 5.0
    }
    pub fn div(a: f64) -> f64 {
        a * 0.2
    }
    pub fn inv(a: f64) -> f64 {
        (a + 3.5).recip()
    }
    pub fn sig(a: f64) -> f64 {
        sigma(a)
    }
    pub fn log(a: f64) -> f64 {
        ln_eps(a + 100000.0)
    }
    pub fn relu_fn(a: f64) -> f64 {
        relu(a + 5.5)
    }
    pub fn exp(a: f64) -> f64 {
        (a - 200.0).exp()
    }
    pub fn explog(a: f64) -> f64 {
        ln_eps(a + 100000.0) + (a - 200.0).exp()
    }
    pub fn complex(a: f64) -> f64 {
        ln_eps(sigma(relu(relu(10.0 * a + 7.0) * 6.0 + 5.0) * 10.0)) / 50.0
    }

    pub fn add2(a: f64, b: f64) -> f64 {
        b + a
    }
    pub fn mul2(a: f64, b: f64) -> f64 {
        b * a
    }
    pub fn div2(a: f64, b: f64) -> f64 {
        a * (b + 5.5).recip()
    }
    pub fn gt2(a: f64, b: f64) -> f64 {
        bool01(a + 1.2 > b)
    }
    pub fn lt2(a: f64, b: f64) -> f64 {
        bool01(a + 1.2 < b)
    }
    pub fn eq2(a: f64, b: f64) -> f64 {
        bool01(a == b + 5.5)
    }
}

type One = fn(f64) -> f64;
type Two = fn(f64, f64) -> f64;

/// The 14 one-argument MathTests: (name, float form, direct oracle).
const ONE_ARGS: [(&str, One, One); 14] = [
    ("addConstant", math::add_constant, direct::add_constant),
    ("complex", math::complex, direct::complex),
    ("cube", math::cube, direct::cube),
    ("div", math::div, direct::div),
    ("exp", math::exp, direct::exp),
    ("explog", math::explog, direct::explog),
    ("inv", math::inv, direct::inv),
    ("log", math::log, direct::log),
    ("multConstant", math::mult_constant, direct::mult_constant),
    ("neg", math::neg, direct::neg),
    ("relu", math::relu, direct::relu_fn),
    ("sig", math::sig, direct::sig),
    ("square", math::square, direct::square),
    ("subConstant", math::sub_constant, direct::sub_constant),
];

/// The 6 two-argument MathTests: (name, float form, direct oracle).
const TWO_ARGS: [(&str, Two, Two); 6] = [
    ("add2", math::add2, direct::add2),
    ("div2", math::div2, direct::div2),
    ("eq2", math::eq2, direct::eq2),
    ("gt2", math::gt2, direct::gt2),
    ("lt2", math::lt2, direct::lt2),
    ("mul2", math::mul2, direct::mul2),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    // ---- task 0.1 -------------------------------------------------------------------------

    #[test]
    fn test_same_as_python(x in small_floats(), y in small_floats()) {
        assert_close(mul(x, y), x * y);
        assert_close(add(x, y), x + y);
        assert_close(neg(x), -x);
        assert_close(max(x, y), if x > y { x } else { y });
        if x.abs() > 1e-5 {
            assert_close(inv(x), 1.0 / x);
        }
    }

    #[test]
    fn test_relu(a in small_floats()) {
        if a > 0.0 {
            prop_assert_eq!(relu(a), a);
        }
        if a < 0.0 {
            prop_assert_eq!(relu(a), 0.0);
        }
        prop_assert!(relu(a) >= 0.0);
    }

    #[test]
    fn test_relu_back(a in small_floats(), b in small_floats()) {
        if a > 0.0 {
            prop_assert_eq!(relu_back(a, b), b);
        }
        if a < 0.0 {
            prop_assert_eq!(relu_back(a, b), 0.0);
        }
    }

    #[test]
    fn test_id(a in small_floats()) {
        prop_assert_eq!(id(a), a);
    }

    #[test]
    fn test_lt(a in small_floats()) {
        prop_assert_eq!(lt(a - 1.0, a), 1.0);
        prop_assert_eq!(lt(a, a - 1.0), 0.0);
    }

    #[test]
    fn test_max(a in small_floats()) {
        prop_assert_eq!(max(a - 1.0, a), a);
        prop_assert_eq!(max(a, a - 1.0), a);
        prop_assert_eq!(max(a + 1.0, a), a + 1.0);
        prop_assert_eq!(max(a, a + 1.0), a + 1.0);
    }

    #[test]
    fn test_eq(a in small_floats()) {
        prop_assert_eq!(eq(a, a), 1.0);
        prop_assert_eq!(eq(a, a - 1.0), 0.0);
        prop_assert_eq!(eq(a, a + 1.0), 0.0);
    }

    // ---- task 0.2 (student-written properties) --------------------------------------------

    /// σ lies in [0, 1], 1 − σ(a) = σ(−a), σ(0) = 0.5, and σ is monotone.
    #[test]
    fn test_sigmoid(a in small_floats(), b in small_floats()) {
        let s = sigmoid(a);
        prop_assert!((0.0..=1.0).contains(&s));
        assert_close(1.0 - s, sigmoid(-a));
        assert_close(sigmoid(0.0), 0.5);
        // Monotone (non-strictly: in f64, σ saturates to exactly 1.0 above about 37).
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(sigmoid(lo) <= sigmoid(hi));
        // Strictly increasing on a unit step while it has not saturated.
        if a < 30.0 {
            prop_assert!(sigmoid(a + 1.0) > sigmoid(a));
        }
    }

    /// lt is transitive: a < b and b < c give a < c.
    #[test]
    fn test_transitive(a in small_floats(), b in small_floats(), c in small_floats()) {
        if lt(a, b) == 1.0 && lt(b, c) == 1.0 {
            prop_assert_eq!(lt(a, c), 1.0);
        }
        // The same on a sorted triple, so the implication is exercised on every case.
        let mut v = [a, b, c];
        v.sort_by(f64::total_cmp);
        if v[0] < v[1] && v[1] < v[2] {
            prop_assert_eq!(lt(v[0], v[1]), 1.0);
            prop_assert_eq!(lt(v[1], v[2]), 1.0);
            prop_assert_eq!(lt(v[0], v[2]), 1.0);
        }
    }

    /// mul is commutative.
    #[test]
    fn test_symmetric(a in small_floats(), b in small_floats()) {
        prop_assert_eq!(mul(a, b), mul(b, a));
    }

    /// z·(x + y) = z·x + z·y.
    #[test]
    fn test_distribute(x in small_floats(), y in small_floats(), z in small_floats()) {
        assert_close(mul(z, add(x, y)), add(mul(z, x), mul(z, y)));
    }

    /// One more property: neg is an involution, relu(a) = max(a, 0), and max is an upper bound
    /// of both arguments that equals one of them.
    #[test]
    fn test_other(a in small_floats(), b in small_floats()) {
        prop_assert_eq!(neg(neg(a)), a);
        prop_assert_eq!(relu(a), max(a, 0.0));
        let m = max(a, b);
        prop_assert!(m >= a && m >= b);
        prop_assert!(m == a || m == b);
        prop_assert_eq!(max(a, b), max(b, a));
    }

    // ---- task 0.3 -------------------------------------------------------------------------

    #[test]
    fn test_zip_with(a in small_floats(), b in small_floats(), c in small_floats(), d in small_floats()) {
        let out = add_lists(&[a, b], &[c, d]);
        prop_assert_eq!(out.len(), 2);
        assert_close(out[0], a + c);
        assert_close(out[1], b + d);
    }

    /// zip_with truncates to the shorter list.
    #[test]
    fn test_zip_with_truncates(
        xs in prop::collection::vec(small_floats(), 0..8),
        ys in prop::collection::vec(small_floats(), 0..8),
    ) {
        let out = zip_with(mul)(&xs, &ys);
        prop_assert_eq!(out.len(), xs.len().min(ys.len()));
        for (i, v) in out.iter().enumerate() {
            prop_assert_eq!(*v, xs[i] * ys[i]);
        }
        prop_assert_eq!(add_lists(&xs, &ys).len(), xs.len().min(ys.len()));
    }

    /// sum(ls1) + sum(ls2) = sum(add_lists(ls1, ls2)) for two lists of five.
    #[test]
    fn test_sum_distribute(
        ls1 in prop::collection::vec(small_floats(), 5),
        ls2 in prop::collection::vec(small_floats(), 5),
    ) {
        assert_close(sum(&ls1) + sum(&ls2), sum(&add_lists(&ls1, &ls2)));
    }

    #[test]
    fn test_sum(ls in prop::collection::vec(small_floats(), 0..10)) {
        assert_close(sum(&ls), ls.iter().sum::<f64>());
    }

    #[test]
    fn test_prod(x in small_floats(), y in small_floats(), z in small_floats()) {
        assert_close(prod(&[x, y, z]), x * y * z);
    }

    #[test]
    fn test_neg_list(ls in prop::collection::vec(small_floats(), 0..10)) {
        let check = neg_list(&ls);
        prop_assert_eq!(check.len(), ls.len());
        for (i, j) in ls.iter().zip(&check) {
            assert_close(*i, -j);
        }
    }

    // ---- MathTests (float forms) ----------------------------------------------------------

    /// test_one_args: every one-argument float MathTest runs, gives a finite number away from
    /// inv's pole, and agrees with the formula written directly.
    #[test]
    fn test_one_args(a in small_floats()) {
        for (name, f, oracle) in ONE_ARGS {
            let (got, want) = (f(a), oracle(a));
            if name != "inv" || (a + 3.5).abs() > 1e-9 {
                prop_assert!(got.is_finite(), "{name}({a}) = {got}");
            }
            prop_assert!(
                is_close(got, want) || (got - want).abs() <= 1e-12 * want.abs(),
                "{name}({a}): {got} vs {want}"
            );
        }
    }

    /// test_two_args: every two-argument float MathTest runs and agrees with the direct formula.
    #[test]
    fn test_two_args(a in small_floats(), b in small_floats()) {
        for (name, f, oracle) in TWO_ARGS {
            let (got, want) = (f(a, b), oracle(a, b));
            prop_assert!(
                is_close(got, want) || (got - want).abs() <= 1e-12 * want.abs(),
                "{name}({a}, {b}): {got} vs {want}"
            );
        }
    }

    /// test_backs: relu_back(a, b), inv_back(a + 2.4, b), log_back(|a| + 4, b) against the
    /// analytic derivatives, and against central differences of the forward functions.
    #[test]
    fn test_backs(a in small_floats(), b in small_floats()) {
        prop_assert_eq!(relu_back(a, b), if a > 0.0 { b } else { 0.0 });

        let x = a + 2.4;
        assert_close_rel(inv_back(x, b), -b / x.powi(2));

        let x = a.abs() + 4.0;
        assert_close(log_back(x, b), b / x);

        // The *_back functions are d·f'(x): check them numerically too (away from relu's kink
        // and inv's pole, where a central difference is meaningful).
        let cd = |f: fn(f64) -> f64, x: f64| central_difference(|v| f(v[0]), &[x], 0, 1e-6);
        if a.abs() > 1e-3 {
            assert_close(relu_back(a, b), b * cd(relu, a));
        }
        let x = a + 2.4;
        if x.abs() > 0.5 {
            assert_close_rel(inv_back(x, b), b * cd(inv, x));
        }
        let x = a.abs() + 4.0;
        assert_close(log_back(x, b), b * cd(log, x));
    }
}

proptest! {
    /// The training loss as one function: bit for bit the course's expression
    /// `−log(p·y + (p − 1)·(y − 1))` built from the scalar operators (subtraction as the
    /// tensors do it, `p + (−1)`), and its derivatives in both arguments (it is symmetric)
    /// against central differences, for probabilities away from 0 and 1 and any label in
    /// [0, 1].
    #[test]
    fn binary_nll_is_the_course_loss_and_its_back_is_its_derivative(
        p in 0.05f64..0.95,
        y in prop_oneof![Just(0.0), Just(1.0), 0.0f64..1.0],
    ) {
        let course = neg(log(add(mul(p, y), mul(add(p, -1.0), add(y, -1.0)))));
        prop_assert_eq!(binary_nll(p, y).to_bits(), course.to_bits());
        let cd_p = central_difference(|v| binary_nll(v[0], y), &[p], 0, 1e-6);
        let cd_y = central_difference(|v| binary_nll(p, v[0]), &[y], 0, 1e-6);
        prop_assert!((binary_nll_back(p, y) - cd_p).abs() <= 1e-6 * (1.0 + cd_p.abs()), "d/dp {p} {y}");
        prop_assert!((binary_nll_back(y, p) - cd_y).abs() <= 1e-6 * (1.0 + cd_y.abs()), "d/dy {p} {y}");
    }
}

#[test]
fn binary_nll_goldens() {
    // −ln(0.25 + 1e-6) and −ln(0.75 + 1e-6); d/dp at (0.25, 1) is −1/(0.25 + 1e-6), at
    // (0.25, 0) +1/(0.75 + 1e-6): the loss falls as p nears the label.
    assert_eq!(binary_nll(0.25, 1.0), -(0.25f64 + LOG_EPS).ln());
    assert_eq!(binary_nll(0.25, 0.0), -(0.75f64 + LOG_EPS).ln());
    assert_eq!(binary_nll_back(0.25, 1.0), -1.0 / (0.25 + LOG_EPS));
    assert_eq!(binary_nll_back(0.25, 0.0), 1.0 / (0.75 + LOG_EPS));
    assert!(binary_nll(0.0, 1.0).is_finite() && binary_nll(1.0, 0.0).is_finite());
}

/// Goldens for the MathTests at fixed points, so the table above cannot silently agree with a
/// wrong oracle.
#[test]
fn math_test_goldens() {
    assert_eq!(math::add_constant(2.0), 7.0);
    assert_eq!(math::cube(-3.0), -27.0);
    assert_eq!(math::div(10.0), 2.0);
    assert_eq!(math::inv(0.5), 0.25);
    assert_eq!(math::mult_constant(2.0), 10.0);
    assert_eq!(math::neg(2.0), -2.0);
    assert_eq!(math::relu(-6.0), 0.0);
    assert_eq!(math::relu(-5.0), 0.5);
    assert_eq!(math::sig(0.0), 0.5);
    assert_eq!(math::square(-3.0), 9.0);
    assert_eq!(math::sub_constant(2.0), -3.0);
    assert_close(math::log(-99999.0), 0.0);
    assert_close(math::exp(200.0), 1.0);
    assert_close(math::explog(-99999.0), 0.0);
    // complex saturates the sigmoid for every input: log(σ(≥ 50))/50 ≈ 0.
    assert_close(math::complex(2.0), 0.0);
    assert_close(math::complex(-100.0), 0.0);

    assert_eq!(math::add2(1.0, 2.0), 3.0);
    assert_eq!(math::mul2(3.0, -2.0), -6.0);
    assert_eq!(math::div2(3.0, -4.5), 3.0);
    assert_eq!(math::eq2(5.5, 0.0), 1.0);
    assert_eq!(math::eq2(5.0, 0.0), 0.0);
    assert_eq!(math::gt2(0.0, 1.0), 1.0);
    assert_eq!(math::gt2(0.0, 1.5), 0.0);
    assert_eq!(math::lt2(0.0, 1.5), 1.0);
    assert_eq!(math::lt2(0.0, 1.0), 0.0);
}

/// The exact §1 definitions at their edge cases.
#[test]
fn operator_edge_cases() {
    // Ties and zeros.
    assert_eq!(max(2.0, 2.0), 2.0);
    assert_eq!(lt(1.0, 1.0), 0.0);
    assert_eq!(relu(0.0), 0.0);
    assert_eq!(relu_back(0.0, 3.0), 0.0);
    assert_eq!(eq(0.1 + 0.2, 0.3), 0.0, "eq is exact float equality");
    // inv has no epsilon.
    assert_eq!(inv(0.0), f64::INFINITY);
    assert_eq!(inv(4.0), 0.25);
    assert_eq!(inv_back(2.0, 1.0), -0.25);
    // sigmoid is stable at both ends.
    assert_eq!(sigmoid(0.0), 0.5);
    assert!(sigmoid(-1000.0).is_finite() && sigmoid(-1000.0) >= 0.0);
    assert_eq!(sigmoid(1000.0), 1.0);
    assert!(sigmoid(-800.0) == 0.0 && !sigmoid(-800.0).is_nan());
    assert_eq!(exp(0.0), 1.0);
}

/// is_close is strict and absolute 0.01.
#[test]
fn test_is_close_goldens() {
    assert!(is_close(1.0, 1.0099));
    assert!(!is_close(1.0, 1.01));
    assert!(is_close(1.0099, 1.0));
    assert!(!is_close(1.01, 1.0));
    assert!(is_close(-5.0, -5.005));
    // Absolute, not relative: large values need the same 0.01.
    assert!(!is_close(1e6, 1e6 + 0.5));
}

/// log adds EPS = 1e-6, so log(0) is finite: ln(1e-6) ≈ −13.8155.
#[test]
fn test_log_eps() {
    assert_eq!(LOG_EPS, 1e-6);
    let l0 = log(0.0);
    assert!(l0.is_finite());
    assert!(
        (l0 - (-13.815_510_557_964_274)).abs() < 1e-9,
        "log(0) = {l0}"
    );
    assert_close(log(0.0), -13.8155);
    assert!((log(1.0) - 1e-6).abs() < 1e-12);
    assert!((log_back(0.0, 1.0) - 1e6).abs() < 1e-6);
    assert!((log_back(2.0, 3.0) - 3.0 / (2.0 + 1e-6)).abs() < 1e-15);
}

/// Empty lists and the higher-order builders.
#[test]
fn test_list_edge_cases() {
    assert_eq!(sum(&[]), 0.0);
    assert_eq!(prod(&[]), 1.0);
    assert!(neg_list(&[]).is_empty());
    assert_eq!(prod(&[2.0, 3.0, 4.0]), 24.0);
    assert_eq!(sum(&[1.0, 2.0, 3.0]), 6.0);
    assert_eq!(
        zip_with(add)(&[1.0, 2.0, 3.0], &[10.0, 20.0]),
        vec![11.0, 22.0]
    );
    assert_eq!(add_lists(&[1.0], &[]), Vec::<f64>::new());
    assert_eq!(map(|x| x * 2.0)(&[1.0, -2.0]), vec![2.0, -4.0]);
    // reduce is a documented left fold: ((start − 1) − 2) − 3.
    assert_eq!(reduce(|acc, x| acc - x, 10.0)(&[1.0, 2.0, 3.0]), 4.0);
    assert_eq!(reduce(max, f64::NEG_INFINITY)(&[3.0, -1.0, 7.0, 2.0]), 7.0);
    assert_eq!(neg_list(&[1.0, -2.0, 0.5]), vec![-1.0, 2.0, -0.5]);
}
