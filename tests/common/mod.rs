//! Shared test helpers: the original's MathTest functions on floats and tensors, and proptest
//! strategies for tensors with permuted (mostly non-contiguous) layouts.
#![allow(dead_code)]

pub mod layouts;
pub mod math;

use minitorch::{Backend, Result, Tensor, TensorData, operators};

/// Makes the reference backend the default on this thread (the Module 2 suites run on it).
pub fn use_reference_backend() {
    Backend::set_default(Backend::Simple);
}
use proptest::prelude::*;

/// A one-argument MathTest: name, float form, tensor form.
pub type OneArg = (&'static str, fn(f64) -> f64, fn(&Tensor) -> Result<Tensor>);
/// A two-argument MathTest.
pub type TwoArg = (
    &'static str,
    fn(f64, f64) -> f64,
    fn(&Tensor, &Tensor) -> Result<Tensor>,
);
/// A reduction MathTest: name, float form over all values, tensor form.
pub type Red = (
    &'static str,
    fn(&[f64]) -> f64,
    fn(&Tensor) -> Result<Tensor>,
);

fn c(t: &Tensor, v: f64) -> Tensor {
    t.scalar_like(v)
}

/// The 14 one-argument MathTests, alphabetical as the original collects them.
pub fn one_arg() -> Vec<OneArg> {
    vec![
        ("addConstant", math::add_constant, |t| c(t, 5.0).add(t)),
        ("complex", math::complex, |t| {
            let x = t.mul(&c(t, 10.0))?.add(&c(t, 7.0))?.relu()?;
            let x = x.mul(&c(t, 6.0))?.add(&c(t, 5.0))?.relu()?;
            x.mul(&c(t, 10.0))?.sigmoid()?.log()?.div(&c(t, 50.0))
        }),
        ("cube", math::cube, |t| t.mul(t)?.mul(t)),
        ("div", math::div, |t| t.div(&c(t, 5.0))),
        ("exp", math::exp, |t| t.sub(&c(t, 200.0))?.exp()),
        ("explog", math::explog, |t| {
            t.add(&c(t, 100000.0))?
                .log()?
                .add(&t.sub(&c(t, 200.0))?.exp()?)
        }),
        ("inv", math::inv, |t| c(t, 1.0).div(&t.add(&c(t, 3.5))?)),
        ("log", math::log, |t| t.add(&c(t, 100000.0))?.log()),
        ("multConstant", math::mult_constant, |t| c(t, 5.0).mul(t)),
        ("neg", math::neg, |t| t.neg()),
        ("relu", math::relu, |t| t.add(&c(t, 5.5))?.relu()),
        ("sig", math::sig, |t| t.sigmoid()),
        ("square", math::square, |t| t.mul(t)),
        ("subConstant", math::sub_constant, |t| t.sub(&c(t, 5.0))),
    ]
}

/// The 6 two-argument MathTests.
pub fn two_arg() -> Vec<TwoArg> {
    vec![
        ("add2", math::add2, |a, b| a.add(b)),
        ("div2", math::div2, |a, b| a.div(&b.add(&c(b, 5.5))?)),
        ("eq2", math::eq2, |a, b| a.eq(&b.add(&c(b, 5.5))?)),
        ("gt2", math::gt2, |a, b| a.add(&c(a, 1.2))?.gt(b)),
        ("lt2", math::lt2, |a, b| a.add(&c(a, 1.2))?.lt(b)),
        ("mul2", math::mul2, |a, b| a.mul(b)),
    ]
}

/// The 3 reduction MathTests (float forms reduce every value; tensor forms as the original).
pub fn reductions() -> Vec<Red> {
    vec![
        (
            "mean_full_red",
            |xs| operators::sum(xs) / xs.len() as f64,
            |t| t.mean_all(),
        ),
        (
            "mean_red",
            |xs| operators::sum(xs) / xs.len() as f64,
            |t| t.mean(0),
        ),
        ("sum_red", operators::sum, |t| t.sum(0)),
    ]
}

/// `assert_close_tensor`: every element within the original's absolute 0.01.
pub fn assert_close_tensor(a: &Tensor, b: &Tensor) {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let close = a.is_close(b).unwrap().all_all().unwrap().item().unwrap();
    assert_eq!(
        close,
        1.0,
        "tensors differ:\n{:?}\n{:?}",
        a.to_vec(),
        b.to_vec()
    );
}

/// Shapes of 1–4 dims, each of size 1–3.
pub fn shapes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=3, 1..=4)
}

/// Builds a tensor of `shape` holding `data` in row-major order, but stored in the layout of
/// the permutation `perm` (so it is usually non-contiguous), as the original's strategy does.
/// It is on `backend`: never on the thread's default, which a test may not have set yet.
pub fn permuted_tensor(shape: &[usize], data: &[f64], perm: &[usize], backend: Backend) -> Tensor {
    let stored_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    // Lay the values out so that, read back through the inverse permutation, they are `data`.
    let logical = TensorData::new(data.to_vec(), shape).unwrap();
    let stored = TensorData::new(vec![0.0; data.len()], &stored_shape).unwrap();
    let view = stored.permute(&inverse).unwrap();
    for idx in logical.indices() {
        view.set(&idx, logical.get(&idx).unwrap()).unwrap();
    }
    Tensor::from_data(view, backend)
}

/// A random permutation of `0..n`.
pub fn permutation(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<_>>()).prop_shuffle()
}

/// Floats in the original's range.
pub fn small_floats() -> impl Strategy<Value = f64> + Clone {
    -100.0..100.0f64
}

/// One tensor with values in [−100, 100] and a random storage permutation, on the reference
/// backend (whatever the thread's default; move it with `.to(backend)`).
pub fn tensors() -> impl Strategy<Value = Tensor> {
    tensors_of(small_floats())
}

/// One tensor of values drawn from `values`, with a random storage permutation, on the
/// reference backend.
pub fn tensors_of(values: impl Strategy<Value = f64> + Clone) -> impl Strategy<Value = Tensor> {
    shapes()
        .prop_flat_map(move |shape| {
            let n: usize = shape.iter().product();
            let d = shape.len();
            (
                Just(shape),
                prop::collection::vec(values.clone(), n),
                permutation(d),
            )
        })
        .prop_map(|(shape, data, perm)| permuted_tensor(&shape, &data, &perm, Backend::Simple))
}

/// `n` tensors with one shape and one storage layout, independent values, on the reference
/// backend.
pub fn shaped_tensors(n: usize) -> impl Strategy<Value = Vec<Tensor>> {
    shapes()
        .prop_flat_map(move |shape| {
            let size: usize = shape.iter().product();
            let d = shape.len();
            (
                Just(shape),
                prop::collection::vec(prop::collection::vec(small_floats(), size), n),
                permutation(d),
            )
        })
        .prop_map(|(shape, datas, perm)| {
            datas
                .iter()
                .map(|data| permuted_tensor(&shape, data, &perm, Backend::Simple))
                .collect()
        })
}

/// How far inputs stay from a kink or jump (relu, the comparisons) in the gradient tests:
/// a thousand times grad_check's ε (1e-6), so `x ± ε` never crosses it, even after rounding.
pub const KINK_MARGIN: f64 = 1e3 * minitorch::GRAD_CHECK_EPS;
/// How far a divisor stays from 0 (inv, div2) in the gradient tests: the derivatives stay
/// below 100 / 0.5² = 400 and the central differences' truncation error negligible.
pub const POLE_MARGIN: f64 = 0.5;

/// Whether every one-argument MathTest is smooth around `a`: relu(a + 5.5) has a kink at
/// −5.5, complex's relu(10a + 7) one at −0.7 and inv = 1/(a + 3.5) a pole at −3.5.
pub fn one_arg_smooth_at(a: f64) -> bool {
    (a + 5.5).abs() > KINK_MARGIN && (a + 0.7).abs() > KINK_MARGIN && (a + 3.5).abs() > POLE_MARGIN
}

/// Floats in the original's range, away from the one-argument MathTests' kinks and poles.
pub fn smooth_floats() -> impl Strategy<Value = f64> + Clone {
    small_floats().prop_filter("near a kink or pole of a one-argument MathTest", |&a| {
        one_arg_smooth_at(a)
    })
}

/// [`tensors`] whose values keep away from the one-argument MathTests' kinks and poles.
pub fn smooth_tensors() -> impl Strategy<Value = Tensor> {
    tensors_of(smooth_floats())
}

/// The value pairs `(a[i], b[i])` a broadcasting zip combines: the shapes have equal rank and
/// each dim is equal or 1 on one side (as `t.sum(0)` against `t`). Paired here, not by the
/// library's broadcasting, so a broadcasting bug cannot hide in the choice of inputs.
pub fn broadcast_pairs(a: &Tensor, b: &Tensor) -> Vec<(f64, f64)> {
    assert_eq!(a.dims(), b.dims(), "broadcast_pairs takes equal ranks");
    let shape: Vec<usize> = a
        .shape()
        .iter()
        .zip(b.shape())
        .map(|(&x, &y)| x.max(y))
        .collect();
    let pin = |idx: &[usize], t: &Tensor| -> Vec<usize> {
        idx.iter()
            .zip(t.shape())
            .map(|(&i, &n)| if n == 1 { 0 } else { i })
            .collect()
    };
    let big = TensorData::new(vec![0.0; shape.iter().product()], &shape).unwrap();
    big.indices()
        .map(|idx| (a.get(&pin(&idx, a)).unwrap(), b.get(&pin(&idx, b)).unwrap()))
        .collect()
}

/// Whether every two-argument MathTest is smooth around `(a, b)` broadcast together: lt2 and
/// gt2 jump where a + 1.2 = b, eq2 where a = b + 5.5, and div2 = a/(b + 5.5) has a pole at
/// b = −5.5.
pub fn two_arg_smooth_at(a: &Tensor, b: &Tensor) -> bool {
    broadcast_pairs(a, b).iter().all(|&(x, y)| {
        (x + 1.2 - y).abs() > KINK_MARGIN
            && (x - (y + 5.5)).abs() > KINK_MARGIN
            && (y + 5.5).abs() > POLE_MARGIN
    })
}

/// Two tensors as [`shaped_tensors`]`(2)`, `[t1, t2]`, at which every two-argument MathTest is
/// smooth, and also at `(t1.sum(0), t2)` and `(t1, t2.sum(0))` (the broadcast checks).
pub fn smooth_pairs() -> impl Strategy<Value = Vec<Tensor>> {
    shaped_tensors(2).prop_filter("near a jump or pole of a two-argument MathTest", |ts| {
        let (t1, t2) = (&ts[0], &ts[1]);
        let (s1, s2) = (t1.sum(0).unwrap(), t2.sum(0).unwrap());
        two_arg_smooth_at(t1, t2) && two_arg_smooth_at(&s1, t2) && two_arg_smooth_at(t1, &s2)
    })
}

/// A random tensor (as [`tensors`]) and a random permutation of its dims.
pub fn tensor_and_permutation(
    values: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = (Tensor, Vec<usize>)> {
    tensors_of(values).prop_flat_map(|t| {
        let n = t.dims();
        (Just(t), permutation(n))
    })
}

/// A random shape of 1–4 dims whose sizes multiply to `size`: its prime factors dealt out
/// to random dims (dims that get none have size 1).
pub fn factorisations(size: usize) -> impl Strategy<Value = Vec<usize>> {
    let mut primes = vec![];
    let (mut rest, mut p) = (size, 2);
    while rest > 1 {
        while rest % p == 0 {
            primes.push(p);
            rest /= p;
        }
        p += 1;
    }
    let count = primes.len();
    (1usize..=4, prop::collection::vec(0usize..4, count)).prop_map(move |(dims, slots)| {
        let mut shape = vec![1; dims];
        for (&prime, &slot) in primes.iter().zip(&slots) {
            shape[slot % dims] *= prime;
        }
        shape
    })
}

/// A random tensor (as [`tensors`]) and a random shape of the same size to view it as.
pub fn tensor_and_view_shape() -> impl Strategy<Value = (Tensor, Vec<usize>)> {
    tensors().prop_flat_map(|t| {
        let size = t.size();
        (Just(t), factorisations(size))
    })
}

/// Fixed, distinct, non-uniform weights of `shape` on `backend`: multiplying an output by them
/// makes each input's gradient depend on where it went (a plain sum's gradient is all ones,
/// whatever the mapping).
pub fn weights(shape: &[usize], backend: Backend) -> Tensor {
    let n: usize = shape.iter().product();
    // 1, −1, 3, −2, 5, −3, …
    let values = (0..n)
        .map(|k| match k % 2 {
            0 => k as f64 + 1.0,
            _ => -(k as f64 + 1.0) / 2.0,
        })
        .collect();
    Tensor::from_data(TensorData::new(values, shape).unwrap(), Backend::Simple).to(backend)
}

/// How many representable `f64` values apart `a` and `b` are: 0 when equal (NaN equal to NaN),
/// `u64::MAX` when only one is NaN or their signs differ.
pub fn ulps_apart(a: f64, b: f64) -> u64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        0
    } else if a.is_nan() || b.is_nan() || a.is_sign_negative() != b.is_sign_negative() {
        u64::MAX
    } else {
        a.to_bits().abs_diff(b.to_bits())
    }
}

/// Whether a GPU must be present (`MINITORCH_REQUIRE_CUDA=1`): then a missing one fails the
/// GPU tests instead of skipping them.
pub fn cuda_required() -> bool {
    std::env::var("MINITORCH_REQUIRE_CUDA").is_ok_and(|v| v == "1")
}

/// True when a GPU is usable (and says which on stderr); otherwise says why `test` skips, past
/// the harness's output capture, or fails it when a GPU is required.
pub fn cuda_or_skip(test: &str) -> bool {
    use std::io::Write;
    match minitorch::backend::cuda::device::gpu() {
        Ok(g) => {
            let _ = writeln!(std::io::stderr(), "{test}: on {}", g.description);
            true
        }
        Err(e) => {
            assert!(!cuda_required(), "{test}: MINITORCH_REQUIRE_CUDA=1 but {e}");
            let _ = writeln!(std::io::stderr(), "SKIP {test}: {e}");
            false
        }
    }
}

/// The backends under test (the reference backend is the oracle): the CPU ones always; the
/// GPU one where a GPU is usable (or required: `MINITORCH_REQUIRE_CUDA=1`).
pub static BACKENDS: std::sync::LazyLock<Vec<Backend>> = std::sync::LazyLock::new(|| {
    let mut backends = vec![Backend::Fast, Backend::CudaSim];
    match minitorch::backend::cuda::device::gpu() {
        Ok(_) => backends.push(Backend::Cuda),
        Err(_) if cuda_required() => backends.push(Backend::Cuda),
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "cuda not tested ({e})");
        }
    }
    backends
});

/// Relative closeness for GEMM results, whose summation order differs from the reference.
pub fn assert_near(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.to_vec().iter().zip(want.to_vec()).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
            "{what}: element {i}: {g} vs {w}"
        );
    }
}
