//! Matrix products on every backend against the reference: `matmul`, `matmul_add` and
//! `matmul_add_relu` over
//! shapes and layouts chosen to send the fast backend down each of its paths (the two
//! packing-free kernels with every tile edge, their bias start, the packed GEMM, one product
//! per thread), six kinds of bias, and random sizes. The original's own matmul tests
//! (`test_mm2`, `test_bmm`) stay in `tensor_general.rs`.

mod common;

use common::layouts::{self, Kind};
use common::{BACKENDS, assert_near};
use minitorch::tensor_data::Storage;
use minitorch::{Backend, Layout, Rng, Tensor, TensorData};
use proptest::prelude::*;

/// Which operands of a product are stored transposed (and permuted back): each pair of
/// layouts sends the fast backend down another kernel (row-major `b`: broadcast-multiply;
/// transposed `b` with row-major `a`: dot products; both transposed: the packed GEMM).
const TRANSPOSES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// A random tensor of `shape`, stored with its last two dims swapped when `transpose` (same
/// values, strided layout).
fn matrix(shape: &[usize], transpose: bool, rng: &mut Rng) -> Tensor {
    let t = Tensor::rand(shape, rng).unwrap();
    if !transpose {
        return t;
    }
    let n = shape.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.swap(n - 2, n - 1);
    let stored_shape: Vec<usize> = order.iter().map(|&o| shape[o]).collect();
    let stored = Tensor::from_vec(t.permute(&order).unwrap().to_vec(), &stored_shape).unwrap();
    stored.permute(&order).unwrap()
}

fn matmul_case(a_shape: &[usize], b_shape: &[usize], seed: u64) {
    for (ta, tb) in TRANSPOSES {
        let mut rng = Rng::seed(seed);
        let (a, b) = (matrix(a_shape, ta, &mut rng), matrix(b_shape, tb, &mut rng));
        let want = a
            .to(Backend::Simple)
            .matmul(&b.to(Backend::Simple))
            .unwrap();
        for &backend in BACKENDS.iter() {
            let got = a.to(backend).matmul(&b.to(backend)).unwrap();
            assert_near(
                &got,
                &want,
                &format!("{a_shape:?} @ {b_shape:?} (transposed: {ta}, {tb}) on {backend}"),
            );
        }
    }
}

#[test]
fn matmul_matches_reference() {
    matmul_case(&[2, 3], &[3, 4], 1);
    matmul_case(&[10, 100], &[100, 100], 2);
    matmul_case(&[100, 10], &[10, 100], 2);
    matmul_case(&[3, 4, 5], &[3, 5, 2], 3);
    matmul_case(&[3, 4, 5], &[1, 5, 2], 4);
    matmul_case(&[1, 4, 5], &[3, 5, 2], 5);
    matmul_case(&[3, 4, 5], &[5, 2], 6);
    matmul_case(&[33, 33], &[33, 33], 7);
    matmul_case(&[2, 45, 33], &[2, 33, 40], 8);
    matmul_case(&[2, 70, 90], &[2, 90, 65], 9);
    matmul_case(&[25, 17], &[17, 1], 10);
    // Every tile edge of the small-product kernels: 6 + 5 rows and 32 + 3 columns (axpy),
    // 4 + 4 + 3 rows and 8 × 4 + 3 columns (dot), k a multiple of 8, a single row.
    matmul_case(&[11, 16], &[16, 35], 13);
    matmul_case(&[1, 24], &[24, 5], 14);
    // Big products: one alone goes to the packed GEMM (split across threads); a batch of
    // them goes one product per thread (on a 2-thread machine, each on the small-product
    // kernels where they suit).
    matmul_case(&[130, 140], &[140, 150], 11);
    matmul_case(&[2, 130, 140], &[2, 140, 150], 12);
    // Big thin products (few rows, or a short inner dimension): the small-product kernels,
    // split by column ranges across the threads (2²¹ multiply-adds and more; the ranges are
    // multiples of 32 columns, the last one shorter).
    matmul_case(&[10, 700], &[700, 333], 15);
    matmul_case(&[700, 10], &[10, 333], 16);
    // Lone mid-sized products (2²¹ to 2²⁴ multiply-adds) at most 128 rows or columns across:
    // the small-product kernels, one block of columns per thread, or of rows when the output
    // is narrow.
    matmul_case(&[100, 200], &[200, 150], 17);
    matmul_case(&[1001, 100], &[100, 50], 18);
}

/// The same tensor (same layout) with each value v stored as 2v − 1: signed products, for the
/// ReLU to clamp some and pass others.
fn signed(t: &Tensor) -> Tensor {
    let data = t.data();
    let values: Vec<f64> = data
        .storage()
        .read()
        .unwrap()
        .iter()
        .map(|v| 2.0 * v - 1.0)
        .collect();
    let moved = TensorData::from_parts(Storage::new(values), *data.layout()).unwrap();
    Tensor::from_data(moved, t.backend())
}

/// The backend-level product takes two 2-D matrices (a 2-D product, equal to the 3-D product
/// of the same matrices as batches of one) or two 3-D batches, and refuses a mix of the two
/// with an error naming both shapes — on every backend.
#[test]
fn backend_matmul_takes_two_matrices_or_two_batches() {
    let mut rng = Rng::seed(31);
    for (ta, tb) in TRANSPOSES {
        let (a, b) = (matrix(&[5, 7], ta, &mut rng), matrix(&[7, 3], tb, &mut rng));
        for &backend in std::iter::once(&Backend::Simple).chain(BACKENDS.iter()) {
            let ops = backend.ops();
            let (x, y) = (a.to(backend), b.to(backend));
            let batch = |t: &Tensor, shape: &[usize]| t.contiguous().unwrap().view(shape).unwrap();
            let (x3, y3) = (batch(&x, &[1, 5, 7]), batch(&y, &[1, 7, 3]));
            let flat = ops.matmul(x.data(), y.data()).unwrap();
            assert_eq!(flat.shape(), &[5, 3], "{backend}");
            let batched = ops.matmul(x3.data(), y3.data()).unwrap();
            assert_eq!(batched.shape(), &[1, 5, 3], "{backend}");
            let (flat, batched) = (
                Tensor::from_data(flat, backend),
                Tensor::from_data(batched, backend).view(&[5, 3]).unwrap(),
            );
            assert_near(
                &flat,
                &batched,
                &format!("{backend} (transposed: {ta}, {tb})"),
            );
            let err = ops.matmul(x.data(), y3.data()).unwrap_err().to_string();
            assert!(
                err.contains("[5, 7]") && err.contains("[1, 7, 3]") && err.contains("2-D"),
                "{backend}: {err}"
            );
        }
    }
}

/// `a @ b + bias` against the reference's product plus bias, for biases the fast backend
/// starts its product from (per column: contiguous, offset, a single value) and ones it adds
/// afterwards (strided, per row, per cell); and `matmul_add_relu` against the reference's
/// product, bias and `relu`.
#[test]
fn matmul_add_matches_reference() {
    let mut rng = Rng::seed(12);
    let mut bias_cases = |cols: usize, out: &[usize]| -> Vec<(&str, Tensor)> {
        let rows = out[out.len() - 2];
        // Column 1 of a (cols, 3) buffer, as a (1, cols) row: offset 1, stride 3.
        let strided = Layout::contiguous(&[cols, 3])
            .unwrap()
            .narrow(1, 1, 1)
            .unwrap()
            .permute(&[1, 0])
            .unwrap();
        let buffer = Storage::new(layouts::values(3 * cols, 14));
        vec![
            ("per column", Tensor::rand(&[cols], &mut rng).unwrap()),
            (
                "offset",
                layouts::make(
                    &layouts::values(cols, 15),
                    &[cols],
                    Kind::Offset,
                    Backend::Simple,
                ),
            ),
            ("one value", Tensor::rand(&[1], &mut rng).unwrap()),
            (
                "strided",
                Tensor::from_data(
                    TensorData::from_parts(buffer, strided).unwrap(),
                    Backend::Simple,
                ),
            ),
            ("per row", Tensor::rand(&[rows, 1], &mut rng).unwrap()),
            ("per cell", Tensor::rand(out, &mut rng).unwrap()),
        ]
    };
    for (a_shape, b_shape, out) in [
        (&[10, 100][..], &[100, 100][..], &[10, 100][..]),
        (&[10, 100], &[100, 1], &[10, 1]),
        (&[11, 16], &[16, 35], &[11, 35]),
        (&[10, 700], &[700, 333], &[10, 333]),
        (&[1001, 100], &[100, 50], &[1001, 50]),
        (&[3, 4, 5], &[5, 2], &[3, 4, 2]),
        (&[2, 45, 33], &[2, 33, 40], &[2, 45, 40]),
        (&[130, 140], &[140, 150], &[130, 150]),
        // Paired on two threads (a weight's halves, `run_paired`): split along k (partial
        // sums, the bias in the first), along the output's columns, along its rows.
        (&[10, 100], &[100, 100], &[10, 100]),
        (&[100, 10], &[10, 100], &[100, 100]),
        (&[200, 100], &[100, 10], &[200, 10]),
    ] {
        let cols = out[out.len() - 1];
        for (name, bias) in bias_cases(cols, out) {
            for (ta, tb) in TRANSPOSES {
                let mut rng = Rng::seed(13);
                let (a, b) = (matrix(a_shape, ta, &mut rng), matrix(b_shape, tb, &mut rng));
                let a = signed(&a);
                let on = |t: &Tensor, backend| t.to(backend);
                let want = on(&a, Backend::Simple)
                    .matmul(&on(&b, Backend::Simple))
                    .unwrap()
                    .add(&on(&bias, Backend::Simple))
                    .unwrap();
                let want_relu = want.relu().unwrap();
                let clamped = want_relu.to_vec();
                assert!(clamped.contains(&0.0) && clamped.iter().any(|&v| v > 0.0));
                for &backend in BACKENDS.iter() {
                    let what = format!(
                        "{a_shape:?} @ {b_shape:?} + {name} bias (transposed: {ta}, {tb}) on {backend}"
                    );
                    let (x, y, c) = (on(&a, backend), on(&b, backend), on(&bias, backend));
                    assert_near(&x.matmul_add(&y, &c).unwrap(), &want, &what);
                    let got = x.matmul_add_relu(&y, &c).unwrap();
                    assert_near(&got, &want_relu, &format!("relu of {what}"));
                }
            }
        }
    }
}

/// `matmul_add_relu`'s gradients against the reference's `relu(matmul_add)` (whole gradients,
/// an uneven upstream gradient) on every backend, including the paired sizes of a training
/// step; and against central differences on a small case.
#[test]
fn matmul_add_relu_gradients_match_the_composition() {
    for (a_shape, b_shape) in [
        (&[3, 4][..], &[4, 5][..]),
        (&[10, 100], &[100, 100]),
        (&[10, 200], &[200, 200]),
    ] {
        for (ta, tb) in TRANSPOSES {
            let mut rng = Rng::seed(21);
            let a = signed(&matrix(a_shape, ta, &mut rng));
            let b = matrix(b_shape, tb, &mut rng);
            let cols = b_shape[1];
            let bias = Tensor::rand(&[cols], &mut rng).unwrap();
            let g = signed(&Tensor::rand(&[a_shape[0], cols], &mut rng).unwrap());
            let run = |backend: Backend, fused: bool| {
                let x = a.to(backend).requires_grad_(true);
                let w = b.to(backend).requires_grad_(true);
                let c = bias.to(backend).requires_grad_(true);
                let out = if fused {
                    x.matmul_add_relu(&w, &c).unwrap()
                } else {
                    x.matmul_add(&w, &c).unwrap().relu().unwrap()
                };
                out.backward_with(&g.to(backend)).unwrap();
                [out, x.grad().unwrap(), w.grad().unwrap(), c.grad().unwrap()]
            };
            let want = run(Backend::Simple, false);
            for &backend in std::iter::once(&Backend::Simple).chain(BACKENDS.iter()) {
                let got = run(backend, true);
                for (name, (g, w)) in ["out", "grad a", "grad b", "grad bias"]
                    .iter()
                    .zip(got.iter().zip(&want))
                {
                    let what = format!("{a_shape:?} @ {b_shape:?} ({ta}, {tb}) {backend} {name}");
                    assert_near(g, w, &what);
                }
            }
        }
    }
    for &backend in std::iter::once(&Backend::Simple).chain(BACKENDS.iter()) {
        let mut rng = Rng::seed(22);
        let a = signed(&Tensor::rand(&[3, 4], &mut rng).unwrap()).to(backend);
        let b = Tensor::rand(&[4, 5], &mut rng).unwrap().to(backend);
        let bias = Tensor::rand(&[5], &mut rng).unwrap().to(backend);
        let out = a.matmul_add_relu(&b, &bias).unwrap().to_vec();
        assert!(
            out.iter().all(|&v| v == 0.0 || v > 1e-3),
            "values near the kink"
        );
        minitorch::grad_check(|v| v[0].matmul_add_relu(&v[1], &v[2]), &[a, b, bias])
            .unwrap_or_else(|e| panic!("matmul_add_relu on {backend}: {e}"));
    }
}

/// `TensorOps::matmul_add_relu_backward` on every backend against the reference's, for each
/// combination of the gradients asked for and every layout of the four operands: a small
/// case, the course network's paired sizes (the fast backend's one-job products), MNIST's
/// hidden layer, and one big enough for threads (its fallback to the threaded zip and
/// reduction); `out` holds NaN where the mask must read it as 0.
#[test]
fn linear_relu_backward_op_matches_the_reference() {
    use layouts::{KINDS, make, values};
    let cases = [
        (3, 4, 5),
        (10, 100, 100),
        (10, 200, 200),
        (16, 392, 64),
        (300, 20, 150),
    ];
    for (m, k, n) in cases {
        let (av, bv, gv) = (values(m * k, 31), values(k * n, 32), values(m * n, 33));
        let ov: Vec<f64> = values(m * n, 34)
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 89 == 7 { f64::NAN } else { v.max(0.0) })
            .collect();
        let run = |backend: Backend, kind, needs: [bool; 3]| {
            let [a, b, o, g] = [(&av, [m, k]), (&bv, [k, n]), (&ov, [m, n]), (&gv, [m, n])]
                .map(|(v, shape)| make(v, &shape, kind, backend));
            backend
                .ops()
                .matmul_add_relu_backward(a.data(), b.data(), o.data(), g.data(), needs)
                .unwrap()
                .map(|t| t.map(|t| Tensor::from_data(t, backend)))
        };
        for needs in [
            [true, true, true],
            [false, true, true],
            [true, false, false],
            [false, false, true],
        ] {
            let want = run(Backend::Simple, Kind::Contiguous, needs);
            let shapes = [vec![m, k], vec![k, n], vec![1, n]];
            for (w, shape) in want.iter().zip(&shapes) {
                assert_eq!(
                    w.as_ref().map(|w| w.shape().to_vec()).as_ref(),
                    Some(shape).filter(|_| w.is_some())
                );
            }
            for &backend in std::iter::once(&Backend::Simple).chain(BACKENDS.iter()) {
                if backend == Backend::CudaSim && m * k * n > 100_000 {
                    continue; // the simulator runs every CUDA thread on the CPU: small cases
                }
                for kind in KINDS {
                    let got = run(backend, kind, needs);
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        let what = format!(
                            "({m}, {k}) @ ({k}, {n}) {needs:?} {backend} {kind:?} gradient {i}"
                        );
                        match (g, w) {
                            (Some(g), Some(w)) => assert_near(g, w, &what),
                            (None, None) => assert!(!needs[i], "{what}: missing"),
                            _ => panic!("{what}: asked for {}", needs[i]),
                        }
                    }
                }
            }
        }
    }
    let zeros =
        |shape: &[usize]| TensorData::new(vec![0.0; shape.iter().product()], shape).unwrap();
    for &backend in std::iter::once(&Backend::Simple).chain(BACKENDS.iter()) {
        let ops = backend.ops();
        let on = |shape: &[usize]| ops.adopt(&zeros(shape)).unwrap();
        let (a, b, good) = (on(&[2, 3]), on(&[3, 4]), on(&[2, 4]));
        for (a, b, out, grad, names) in [
            (&a, &b, &good, &on(&[4, 2]), ["[4, 2]", "[2, 4]"]),
            (&a, &on(&[4, 4]), &good, &good, ["[2, 3]", "[4, 4]"]),
            (&on(&[1, 2, 3]), &b, &good, &good, ["[1, 2, 3]", "[3, 4]"]),
        ] {
            let err = ops
                .matmul_add_relu_backward(a, b, out, grad, [true; 3])
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("matmul_add_relu_backward:")
                    && names.iter().all(|name| err.contains(name)),
                "{backend}: {err}"
            );
        }
    }
}

/// A linear layer `(m, k) @ (k, n) + bias`, with its ReLU (`matmul_add_relu`) or without
/// (`matmul_add`), through autodiff for each bias shape the one-op backward takes ((n,),
/// (1, n) and a single value, (1,)) and one it does not (a bias per cell, (m, n)): every
/// gradient against the reference's composition of separate ops (`matmul_add` then `relu`;
/// `matmul` then `add`), on every backend.
fn linear_gradients_match_the_composition(relu: bool, (m, k, n): (usize, usize, usize)) {
    for bias_shape in [&[n][..], &[1, n], &[1], &[m, n]] {
        let mut rng = Rng::seed(23);
        let a = signed(&Tensor::rand(&[m, k], &mut rng).unwrap());
        let b = signed(&Tensor::rand(&[k, n], &mut rng).unwrap());
        let bias = signed(&Tensor::rand(bias_shape, &mut rng).unwrap());
        let g = signed(&Tensor::rand(&[m, n], &mut rng).unwrap());
        let run = |backend: Backend, fused: bool| {
            let [x, w, c] = [&a, &b, &bias].map(|t| t.to(backend).requires_grad_(true));
            let out = match (relu, fused) {
                (true, true) => x.matmul_add_relu(&w, &c).unwrap(),
                (true, false) => x.matmul_add(&w, &c).unwrap().relu().unwrap(),
                (false, true) => x.matmul_add(&w, &c).unwrap(),
                (false, false) => x.matmul(&w).unwrap().add(&c).unwrap(),
            };
            out.backward_with(&g.to(backend)).unwrap();
            [x.grad().unwrap(), w.grad().unwrap(), c.grad().unwrap()]
        };
        let want = run(Backend::Simple, false);
        for &backend in std::iter::once(&Backend::Simple).chain(BACKENDS.iter()) {
            for (name, (g, w)) in ["a", "b", "bias"]
                .iter()
                .zip(run(backend, true).iter().zip(&want))
            {
                let what = format!("({m}, {k}) @ ({k}, {n}) + {bias_shape:?}, relu {relu}");
                assert_near(g, w, &format!("{what} on {backend}: grad {name}"));
            }
        }
    }
}

#[test]
fn linear_relu_gradients_for_every_bias_shape() {
    linear_gradients_match_the_composition(true, (10, 100, 100));
}

/// Without the ReLU, for a hidden layer's and an output layer's shapes (100 columns and 1);
/// and the backend op (`matmul_add_backward`) refuses operands of the wrong shapes with an
/// error naming them.
#[test]
fn linear_gradients_for_every_bias_shape() {
    linear_gradients_match_the_composition(false, (10, 100, 100));
    linear_gradients_match_the_composition(false, (10, 100, 1));
    let zeros =
        |shape: &[usize]| TensorData::new(vec![0.0; shape.iter().product()], shape).unwrap();
    for &backend in std::iter::once(&Backend::Simple).chain(BACKENDS.iter()) {
        let ops = backend.ops();
        let on = |shape: &[usize]| ops.adopt(&zeros(shape)).unwrap();
        let (a, b) = (on(&[2, 3]), on(&[3, 4]));
        for (a, b, grad, names) in [
            (&a, &b, &on(&[4, 2]), ["[4, 2]", "[2, 4]"]),
            (&a, &on(&[4, 4]), &on(&[2, 4]), ["[2, 3]", "[4, 4]"]),
            (&on(&[1, 2, 3]), &b, &on(&[2, 4]), ["[1, 2, 3]", "[3, 4]"]),
        ] {
            let err = ops
                .matmul_add_backward(a, b, grad, [true; 3])
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("matmul_add_backward:")
                    && names.iter().all(|name| err.contains(name)),
                "{backend}: {err}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// Random sizes reach every tile edge of the small-product kernels (and the 8-wide tail
    /// along k): each operand row-major or transposed, with and without a per-column bias.
    #[test]
    fn matmul_random_shapes(
        m in 1usize..30,
        k in 1usize..30,
        n in 1usize..40,
        ta in any::<bool>(),
        tb in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed(seed);
        let (a, b) = (matrix(&[m, k], ta, &mut rng), matrix(&[k, n], tb, &mut rng));
        let a = signed(&a);
        let bias = Tensor::rand(&[n], &mut rng).unwrap();
        let reference = |t: &Tensor| t.to(Backend::Simple);
        let want = reference(&a).matmul(&reference(&b)).unwrap();
        let want_add = want.add(&reference(&bias)).unwrap();
        let want_relu = want_add.relu().unwrap();
        for &backend in BACKENDS.iter() {
            let (x, y) = (a.to(backend), b.to(backend));
            let what = format!("({m}, {k}) @ ({k}, {n}), transposed {ta} {tb}, on {backend}");
            assert_near(&x.matmul(&y).unwrap(), &want, &what);
            assert_near(&x.matmul_add(&y, &bias.to(backend)).unwrap(), &want_add, &what);
            assert_near(&x.matmul_add_relu(&y, &bias.to(backend)).unwrap(), &want_relu, &what);
        }
    }
}
