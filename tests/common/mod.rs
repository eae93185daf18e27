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
pub fn permuted_tensor(shape: &[usize], data: &[f64], perm: &[usize]) -> Tensor {
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
    Tensor::from_data(view, Default::default())
}

/// A random permutation of `0..n`.
pub fn permutation(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<_>>()).prop_shuffle()
}

/// Floats in the original's range.
pub fn small_floats() -> impl Strategy<Value = f64> {
    -100.0..100.0f64
}

/// One tensor with values in [−100, 100] and a random storage permutation.
pub fn tensors() -> impl Strategy<Value = Tensor> {
    shapes()
        .prop_flat_map(|shape| {
            let n: usize = shape.iter().product();
            let d = shape.len();
            (
                Just(shape),
                prop::collection::vec(small_floats(), n),
                permutation(d),
            )
        })
        .prop_map(|(shape, data, perm)| permuted_tensor(&shape, &data, &perm))
}

/// `n` tensors with one shape and one storage layout, independent values.
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
                .map(|data| permuted_tensor(&shape, data, &perm))
                .collect()
        })
}

/// The backends under test (the reference backend is the oracle): the CPU ones always; the
/// GPU one where a GPU is usable (or required: `MINITORCH_REQUIRE_CUDA=1`).
pub static BACKENDS: std::sync::LazyLock<Vec<Backend>> = std::sync::LazyLock::new(|| {
    let mut backends = vec![Backend::Fast, Backend::CudaSim];
    let required = std::env::var("MINITORCH_REQUIRE_CUDA").is_ok_and(|v| v == "1");
    match minitorch::backend::cuda::device::gpu() {
        Ok(_) => backends.push(Backend::Cuda),
        Err(_) if required => backends.push(Backend::Cuda),
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
