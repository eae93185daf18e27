//! Mirrors the original `test_tensor_general.py` (tasks 3.1–3.4): every backend must compute
//! what the reference backend computes — every op, forward and backward, on contiguous,
//! permuted, offset, sliced and broadcast (stride 0) layouts — and pass grad_check itself.

mod common;

use common::layouts::{self, KINDS, Kind};
use common::{
    BACKENDS, assert_close_tensor, one_arg, reductions, shaped_tensors, shapes, small_floats,
    smooth_pairs, smooth_tensors, tensor_and_permutation, tensor_and_view_shape, tensors, two_arg,
    weights,
};
use minitorch::backend::fast::set_parallel_threshold;
use minitorch::backend::{MapOp, ReduceOp, ZipOp};
use minitorch::{Backend, Rng, Tensor, TensorData, grad_check, profile};
use proptest::prelude::*;

/// Whether a backend folds in the reference's order (bit-identical sums). The CUDA reduce
/// kernel sums in a tree, so its results are compared within 1e-12 (relative).
fn same_fold_order(backend: Backend) -> bool {
    !matches!(backend, Backend::CudaSim | Backend::Cuda)
}

/// Whether a backend's `op` must match the reference bit for bit. On a GPU, exp and log are
/// CUDA's (within 1 ulp of the exact value, as the host's libm is), so the maps built on them
/// may differ from the reference by a few units in the last place; every other op is IEEE
/// arithmetic in the reference's order, and identical.
fn bit_identical(backend: Backend, op: MapOp) -> bool {
    backend != Backend::Cuda || !matches!(op, MapOp::Exp | MapOp::Log | MapOp::Sigmoid)
}

/// As [`bit_identical`] for zips: only the training loss (`binary_nll`) takes a log.
fn zip_bit_identical(backend: Backend, op: ZipOp) -> bool {
    backend != Backend::Cuda || !matches!(op, ZipOp::BinaryNll)
}

/// How far a GPU's exp, log and sigmoid may be from the reference, in units in the last place.
const GPU_MATH_ULPS: u64 = 4;

const SHAPES: [&[usize]; 5] = [&[7], &[3, 5], &[2, 3, 4], &[2, 1, 3, 5], &[4, 33]];

/// Bit-identical values (NaN equal to NaN) and equal shapes.
fn assert_same(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.to_vec().iter().zip(want.to_vec()).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

/// As [`assert_same`] where `op` must be bit-identical on the backend, else equal shapes and
/// values at most [`GPU_MATH_ULPS`] apart (infinities and NaNs as they are).
fn assert_mapped(op: MapOp, got: &Tensor, want: &Tensor, what: &str) {
    assert_within(bit_identical(got.backend(), op), got, want, what)
}

/// [`assert_mapped`] for a zip.
fn assert_zipped(op: ZipOp, got: &Tensor, want: &Tensor, what: &str) {
    assert_within(zip_bit_identical(got.backend(), op), got, want, what)
}

/// [`assert_same`] when `exact`, else equal shapes and values at most [`GPU_MATH_ULPS`] apart.
fn assert_within(exact: bool, got: &Tensor, want: &Tensor, what: &str) {
    if exact {
        return assert_same(got, want, what);
    }
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.to_vec().iter().zip(want.to_vec()).enumerate() {
        assert!(
            common::ulps_apart(*g, w) <= GPU_MATH_ULPS,
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

fn run_map(t: &Tensor, op: MapOp, out: &[usize]) -> Tensor {
    Tensor::from_data(
        t.backend().kernels().map(op, t.data(), out).unwrap(),
        t.backend(),
    )
}

fn run_zip(a: &Tensor, b: &Tensor, op: ZipOp) -> Tensor {
    Tensor::from_data(
        a.backend().kernels().zip(op, a.data(), b.data()).unwrap(),
        a.backend(),
    )
}

fn run_reduce(t: &Tensor, op: ReduceOp, dim: usize) -> Tensor {
    Tensor::from_data(
        t.backend().kernels().reduce(op, t.data(), dim).unwrap(),
        t.backend(),
    )
}

/// Every map, zip and reduce on every pair of layout kinds, against the reference.
fn check_kernels(shapes: &[&[usize]]) {
    for &backend in BACKENDS.iter() {
        for (s, shape) in shapes.iter().enumerate() {
            let n: usize = shape.iter().product();
            let (va, vb) = (
                layouts::values(n, 1 + s as u64),
                layouts::values(n, 100 + s as u64),
            );
            for ka in KINDS {
                let a = layouts::make(&va, shape, ka, backend);
                let a_ref = layouts::make(&va, shape, ka, Backend::Simple);
                for op in MapOp::ALL {
                    assert_mapped(
                        op,
                        &run_map(&a, op, shape),
                        &run_map(&a_ref, op, shape),
                        &format!("{op:?} {ka:?} {shape:?}"),
                    );
                }
                for op in ReduceOp::ALL {
                    for dim in 0..shape.len() {
                        let what = format!("{op:?} dim {dim} {ka:?} {shape:?}");
                        assert_reduced(
                            &run_reduce(&a, op, dim),
                            &run_reduce(&a_ref, op, dim),
                            &what,
                        );
                    }
                }
                for kb in KINDS {
                    let b = layouts::make(&vb, shape, kb, backend);
                    let b_ref = layouts::make(&vb, shape, kb, Backend::Simple);
                    for op in ZipOp::ALL {
                        let what = format!("{op:?} {ka:?}×{kb:?} {shape:?}");
                        let (got, want) = (run_zip(&a, &b, op), run_zip(&a_ref, &b_ref, op));
                        assert_zipped(op, &got, &want, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn kernels_match_reference_on_every_layout() {
    check_kernels(&SHAPES);
}

#[test]
fn kernels_match_reference_when_forced_parallel_or_serial() {
    // Big enough for several chunks per thread; the threshold is process-wide, and results do
    // not depend on it, so other tests running meanwhile are unaffected.
    set_parallel_threshold(0);
    check_kernels(&[&[64, 67], &[3, 40, 9]]);
    set_parallel_threshold(usize::MAX);
    check_kernels(&[&[64, 67]]);
    minitorch::backend::fast::reset_parallel_threshold();
}

#[test]
fn broadcast_operands_match_reference() {
    for &backend in BACKENDS.iter() {
        let shape = [3, 4, 5];
        let v = layouts::values(60, 7);
        for dim in 0..3 {
            let small = 60 / shape[dim];
            let vb = layouts::values(small, 8 + dim as u64);
            for kind in KINDS {
                let a = layouts::make(&v, &shape, kind, backend);
                let a_ref = layouts::make(&v, &shape, kind, Backend::Simple);
                let b = layouts::broadcast(&vb, &shape, dim, backend);
                let b_ref = layouts::broadcast(&vb, &shape, dim, Backend::Simple);
                for op in ZipOp::ALL {
                    let what = format!("{op:?} {kind:?} with stride-0 dim {dim}");
                    assert_zipped(
                        op,
                        &run_zip(&a, &b, op),
                        &run_zip(&a_ref, &b_ref, op),
                        &what,
                    );
                    assert_zipped(
                        op,
                        &run_zip(&b, &a, op),
                        &run_zip(&b_ref, &a_ref, op),
                        &format!("{what}, swapped"),
                    );
                }
                for op in ReduceOp::ALL {
                    for d in 0..3 {
                        let what = format!("{op:?} dim {d} of stride-0 dim {dim}");
                        assert_reduced(&run_reduce(&b, op, d), &run_reduce(&b_ref, op, d), &what);
                    }
                }
            }
        }
        // Implicit broadcasting of smaller shapes: row (bias add), column, scalar, both sides.
        let a = Tensor::from_vec(layouts::values(12, 3), &[3, 4]).unwrap();
        for other in [vec![4], vec![1, 4], vec![3, 1], vec![1]] {
            let n: usize = other.iter().product();
            let b = Tensor::from_vec(layouts::values(n, 4), &other).unwrap();
            for op in ZipOp::ALL {
                let (fa, fb) = (a.to(backend), b.to(backend));
                let (ra, rb) = (a.to(Backend::Simple), b.to(Backend::Simple));
                assert_zipped(
                    op,
                    &run_zip(&fa, &fb, op),
                    &run_zip(&ra, &rb, op),
                    &format!("{op:?} [3,4] vs {other:?}"),
                );
                assert_zipped(
                    op,
                    &run_zip(&fb, &fa, op),
                    &run_zip(&rb, &ra, op),
                    &format!("{op:?} {other:?} vs [3,4]"),
                );
            }
        }
        // Map into a bigger shape (how gradients of broadcast inputs are expanded).
        let row = Tensor::from_vec(layouts::values(5, 9), &[5]).unwrap();
        assert_same(
            &run_map(&row.to(backend), MapOp::Id, &[2, 3, 5]),
            &run_map(&row.to(Backend::Simple), MapOp::Id, &[2, 3, 5]),
            "map into [2,3,5]",
        );
        // Broadcast along the last dimension (each row one repeated value: the backward of a
        // sum over it, the pooling's), for the row widths the fast backend stores whole (2,
        // 4, 8) and others, from every layout; exp shows the op ran once per value.
        for n in [2, 3, 4, 5, 8, 9] {
            for kind in KINDS {
                let v = layouts::values(35, 20 + n as u64);
                let a = layouts::make(&v, &[5, 7, 1], kind, backend);
                let a_ref = layouts::make(&v, &[5, 7, 1], kind, Backend::Simple);
                for op in [MapOp::Id, MapOp::Exp] {
                    assert_mapped(
                        op,
                        &run_map(&a, op, &[5, 7, n]),
                        &run_map(&a_ref, op, &[5, 7, n]),
                        &format!("{op:?} of {kind:?} [5,7,1] into [5,7,{n}]"),
                    );
                }
            }
        }
    }
}

#[test]
fn test_mm2() {
    for &backend in BACKENDS.iter() {
        let a = Tensor::rand(&[2, 3], &mut Rng::seed(1))
            .unwrap()
            .to(backend);
        let b = Tensor::rand(&[3, 4], &mut Rng::seed(2))
            .unwrap()
            .to(backend);
        let c = a.matmul(&b).unwrap();
        let c2 = a
            .view(&[2, 3, 1])
            .unwrap()
            .mul(&b.view(&[1, 3, 4]).unwrap())
            .unwrap()
            .sum(1)
            .unwrap()
            .view(&[2, 4])
            .unwrap();
        assert_close_tensor(&c, &c2);
        grad_check(|v| v[0].matmul(&v[1]), &[a.clone(), b.clone()]).unwrap();
        let bias = Tensor::rand(&[4], &mut Rng::seed(3)).unwrap().to(backend);
        grad_check(|v| v[0].matmul_add(&v[1], &v[2]), &[a, b, bias]).unwrap();
    }
}

/// Moves reference-backend tensors to `backend`, checking that they arrived there.
fn moved(ts: &[Tensor], backend: Backend) -> Vec<Tensor> {
    ts.iter()
        .map(|t| {
            let m = t.to(backend);
            assert_eq!(m.backend(), backend);
            m
        })
        .collect()
}

proptest! {
    // 100 cases each, as the original runs for most of these (it runs test_two_grad 50 and
    // test_two_grad_broadcast 25). Every case runs on each backend, cuda-sim included; all of
    // this file's property tests take a few seconds together (test_bmm most of them).
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn test_bmm(d in 2usize..5, a in 2usize..5, b in 2usize..5, c in 2usize..5, seed in any::<u64>()) {
        for &backend in BACKENDS.iter() {
            let mut rng = Rng::seed(seed);
            let x = Tensor::rand(&[d, a, b], &mut rng).unwrap().to(backend);
            let y = Tensor::rand(&[1, b, c], &mut rng).unwrap().to(backend);
            let z = x.matmul(&y).unwrap();
            prop_assert_eq!(z.backend(), backend);
            let z2 = x.view(&[d, a, b, 1]).unwrap().mul(&y.view(&[1, 1, b, c]).unwrap()).unwrap().sum(2).unwrap().view(&[d, a, c]).unwrap();
            assert_close_tensor(&z, &z2);
            prop_assert!(grad_check(|v| v[0].matmul(&v[1]), &[x, y]).is_ok());
        }
    }

    /// The original's test_create: a list of floats (here also a shape) on each backend reads
    /// back the same.
    #[test]
    fn test_create(shaped in shapes().prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        (Just(shape), prop::collection::vec(small_floats(), n))
    })) {
        let (shape, values) = shaped;
        for &backend in BACKENDS.iter() {
            let t = Tensor::from_data(TensorData::new(values.clone(), &shape).unwrap(), Backend::Simple).to(backend);
            prop_assert_eq!(t.backend(), backend);
            prop_assert_eq!(t.shape(), &shape[..]);
            prop_assert_eq!(t.to_vec(), values.clone());
            for (idx, v) in t.data().indices().zip(&values) {
                prop_assert_eq!(t.get(&idx).unwrap(), *v);
            }
        }
    }

    /// Random shapes and layouts: forward values of every MathTest equal the float functions
    /// (the original's test_one_args and test_two_args per backend), and forward values and
    /// gradients are identical to the reference backend's.
    #[test]
    fn forward_and_backward_match_reference(ts in shaped_tensors(2)) {
        for &backend in BACKENDS.iter() {
            let run = |on: Backend, f: &dyn Fn(&[Tensor]) -> minitorch::Result<Tensor>, inputs: &[Tensor]| {
                let xs: Vec<Tensor> = moved(inputs, on).into_iter().map(|t| t.requires_grad_(true)).collect();
                let out = f(&xs).unwrap();
                assert_eq!(out.backend(), on);
                out.sum_all().unwrap().backward().unwrap();
                let grads: Vec<Vec<f64>> = xs.iter().map(|x| x.grad().map(|g| g.to_vec()).unwrap_or_default()).collect();
                (out.to_vec(), grads)
            };
            let (a, b) = (ts[0].to_vec(), ts[1].to_vec());
            for (name, float_fn, f) in one_arg() {
                let g = |v: &[Tensor]| f(&v[0]);
                let (got, want) = (run(backend, &g, &ts[..1]), run(Backend::Simple, &g, &ts[..1]));
                for (i, (&y, &x)) in got.0.iter().zip(&a).enumerate() {
                    prop_assert!(minitorch::operators::is_close(y, float_fn(x)), "{} on {}: element {}: {} vs {}", name, backend, i, y, float_fn(x));
                }
                prop_assert!(agree(backend, &got.0, &want.0) && agree(backend, &got.1[0], &want.1[0]), "{}", name);
            }
            for (name, float_fn, f) in two_arg() {
                let g = |v: &[Tensor]| f(&v[0], &v[1]);
                let (got, want) = (run(backend, &g, &ts), run(Backend::Simple, &g, &ts));
                for (i, ((&y, &x1), &x2)) in got.0.iter().zip(&a).zip(&b).enumerate() {
                    prop_assert!(minitorch::operators::is_close(y, float_fn(x1, x2)), "{} on {}: element {}: {} vs {}", name, backend, i, y, float_fn(x1, x2));
                }
                prop_assert!(agree(backend, &got.0, &want.0), "{} forward", name);
                prop_assert!(agree(backend, &got.1[0], &want.1[0]) && agree(backend, &got.1[1], &want.1[1]), "{} backward", name);
            }
            // A tree-order sum of values that cancel is off by up to ~n·ε·Σ|x|, which can be
            // far more than 1e-12 of the result: the tolerance scales with Σ|x|.
            let scale: f64 = a.iter().map(|x| x.abs()).sum();
            for (name, _, f) in reductions() {
                let g = |v: &[Tensor]| f(&v[0]);
                let (got, want) = (run(backend, &g, &ts[..1]), run(Backend::Simple, &g, &ts[..1]));
                prop_assert!(agree_within(backend, &got.0, &want.0, scale) && agree(backend, &got.1[0], &want.1[0]), "{}", name);
            }
        }
    }

    /// Every one-argument function against central differences on each backend, on values
    /// away from relu's kink and inv's pole (`common::smooth_floats`).
    #[test]
    fn test_one_derivative(t in smooth_tensors()) {
        for &backend in BACKENDS.iter() {
            let t = &moved(std::slice::from_ref(&t), backend)[0];
            for (name, _, f) in one_arg() {
                let r = grad_check(|v| f(&v[0]), std::slice::from_ref(t));
                prop_assert!(r.is_ok(), "{} on {}: {:?}", name, backend, r);
            }
        }
    }

    /// Every two-argument function against central differences on each backend, on values
    /// away from the comparisons' jumps and div2's pole (`common::smooth_pairs`).
    #[test]
    fn test_two_grad(ts in smooth_pairs()) {
        for &backend in BACKENDS.iter() {
            let xs = moved(&ts, backend);
            for (name, _, f) in two_arg() {
                let r = grad_check(|v| f(&v[0], &v[1]), &xs);
                prop_assert!(r.is_ok(), "{} on {}: {:?}", name, backend, r);
            }
        }
    }

    /// The original's test_two_grad_broadcast (25 examples there) on each backend: equal
    /// shapes, then either side reduced along dim 0 so it broadcasts against the other.
    #[test]
    fn test_two_grad_broadcast(ts in smooth_pairs()) {
        let s = [ts[0].sum(0).unwrap().detach(), ts[1].sum(0).unwrap().detach()];
        for &backend in BACKENDS.iter() {
            let (t, s) = (moved(&ts, backend), moved(&s, backend));
            for (name, _, f) in two_arg() {
                let f = |v: &[Tensor]| f(&v[0], &v[1]);
                for (what, pair) in [
                    ("t1, t2", [t[0].clone(), t[1].clone()]),
                    ("t1.sum(0), t2", [s[0].clone(), t[1].clone()]),
                    ("t1, t2.sum(0)", [t[0].clone(), s[1].clone()]),
                ] {
                    let r = grad_check(f, &pair);
                    prop_assert!(r.is_ok(), "{} ({}) on {}: {:?}", name, what, backend, r);
                }
            }
        }
    }

    #[test]
    fn test_reduce(t in tensors()) {
        for &backend in BACKENDS.iter() {
            let t = moved(std::slice::from_ref(&t), backend);
            for (name, _, f) in reductions() {
                let r = grad_check(|v| f(&v[0]), &t);
                prop_assert!(r.is_ok(), "{} on {}: {:?}", name, backend, r);
            }
        }
    }

    /// The original's test_permute on each backend (the permuted tensor's sum), and with each
    /// element weighted by where it lands, so a wrongly permuted gradient fails.
    #[test]
    fn test_permute((t, perm) in tensor_and_permutation(small_floats())) {
        for &backend in BACKENDS.iter() {
            let t = moved(std::slice::from_ref(&t), backend);
            let r = grad_check(|v| v[0].permute(&perm), &t);
            prop_assert!(r.is_ok(), "on {}: {:?}", backend, r);
            let w = weights(t[0].permute(&perm).unwrap().shape(), backend);
            let r = grad_check(|v| v[0].permute(&perm)?.mul(&w), &t);
            prop_assert!(r.is_ok(), "weighted, on {}: {:?}", backend, r);
        }
    }

    /// View under autograd on each backend: a random tensor made contiguous and viewed as a
    /// random factorisation of its size, each element weighted by where it lands.
    #[test]
    fn test_back_view((t, shape) in tensor_and_view_shape()) {
        for &backend in BACKENDS.iter() {
            let t = moved(std::slice::from_ref(&t), backend);
            let v = t[0].contiguous().unwrap().view(&shape).unwrap();
            prop_assert_eq!(v.backend(), backend);
            prop_assert_eq!(v.to_vec(), t[0].to_vec());
            let w = weights(&shape, backend);
            let r = grad_check(|v| v[0].contiguous()?.view(&shape)?.mul(&w), &t);
            prop_assert!(r.is_ok(), "on {}: {:?}", backend, r);
        }
    }
}

fn bits_eq(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[test]
fn test_create_fixed() {
    for &backend in BACKENDS.iter() {
        let t = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])
            .unwrap()
            .to(backend);
        assert_eq!(t.backend(), backend);
        assert_eq!(t.to_vec(), vec![1.0, 2.0, 3.0]);
    }
}

/// The original checks Numba's diagnostics for map(id), zip(eq), reduce(add) and a small
/// matmul; here the profiler reports the path each took (on 100 elements: below 64 the fast
/// backend hands elementwise work to the reference loop).
#[test]
fn profiler_reports_paths() {
    profile::enable(true);
    profile::reset();
    let x = Tensor::from_vec(layouts::values(100, 1), &[100])
        .unwrap()
        .to(Backend::Fast);
    Backend::Fast
        .ops()
        .map(MapOp::Id, x.data(), &[100])
        .unwrap();
    Backend::Fast
        .ops()
        .zip(ZipOp::Eq, x.data(), x.data())
        .unwrap();
    Backend::Fast
        .ops()
        .reduce(ReduceOp::Sum, x.data(), 0)
        .unwrap();
    let a = Tensor::ones(&[1, 10, 20]).unwrap().to(Backend::Fast);
    let b = Tensor::ones(&[1, 20, 10]).unwrap().to(Backend::Fast);
    Backend::Fast.ops().matmul(a.data(), b.data()).unwrap();
    let t = x.permute(&[0]).unwrap();
    Backend::Fast
        .ops()
        .zip(
            ZipOp::Add,
            t.data(),
            &Tensor::scalar(1.0, Backend::Fast).data().clone(),
        )
        .unwrap();
    let report = profile::report();
    profile::enable(false);
    // The packing-free kernels need AVX-512; elsewhere the lifted 2-D product goes to gemm
    // with a broadcast (stride 0) batch.
    #[cfg(target_arch = "x86_64")]
    let small_product_path = if std::arch::is_x86_feature_detected!("avx512f") {
        "small gemm"
    } else {
        "broadcast"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let small_product_path = "broadcast";
    // (Serial or parallel depends on the process-wide threshold another test may be changing.)
    for (op, path) in [
        ("map id", "contiguous"),
        ("zip eq", "contiguous"),
        ("reduce sum", "contiguous"),
        ("matmul", small_product_path),
        ("zip add", "broadcast"),
    ] {
        let found = report
            .lines()
            .any(|l| l.starts_with("fast") && l[9..].starts_with(&format!("{op:<16} {path}")));
        assert!(found, "missing {op} / {path} in\n{report}");
    }
}

#[test]
fn layouts_hold_the_values_they_claim() {
    // Guards the helpers: every kind reads back the same logical values.
    let v = layouts::values(24, 2);
    for kind in KINDS {
        let t = layouts::make(&v, &[2, 3, 4], kind, Backend::Simple);
        assert_eq!(t.to_vec(), v, "{kind:?}");
        assert_eq!(
            t.is_contiguous(),
            matches!(kind, Kind::Contiguous | Kind::Offset),
            "{kind:?}"
        );
    }
}

/// A reduction's result: bit-identical where the backend folds in the reference's order,
/// else within 1e-12 relative.
fn assert_reduced(got: &Tensor, want: &Tensor, what: &str) {
    if same_fold_order(got.backend()) {
        return assert_same(got, want, what);
    }
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert!(
        agree(got.backend(), &got.to_vec(), &want.to_vec()),
        "{what}: {:?} vs {:?}",
        got.to_vec(),
        want.to_vec()
    );
}

/// Values a backend computed against the reference's: bit-identical where it folds in the
/// reference's order, else within 1e-12 relative.
fn agree(backend: Backend, got: &[f64], want: &[f64]) -> bool {
    agree_within(backend, got, want, 0.0)
}

/// [`agree`], the relative tolerance taken against `scale` too where that is bigger (the sum
/// of the magnitudes a reduction added).
fn agree_within(backend: Backend, got: &[f64], want: &[f64], scale: f64) -> bool {
    if same_fold_order(backend) {
        return bits_eq(got, want);
    }
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            (g.is_nan() && w.is_nan())
                || g == w
                || (g - w).abs() <= 1e-12 * g.abs().max(w.abs()).max(scale)
        })
}

/// The ulp distance the GPU comparison of exp, log and sigmoid relies on.
#[test]
fn ulps_apart_counts_representable_values() {
    use common::ulps_apart;
    assert_eq!(ulps_apart(1.0, 1.0), 0);
    assert_eq!(ulps_apart(1.0, 1.0 + f64::EPSILON), 1);
    assert_eq!(ulps_apart(1.0 + 4.0 * f64::EPSILON, 1.0), 4);
    assert_eq!(ulps_apart(-2.0, -2.0 - 2.0 * f64::EPSILON), 1);
    assert_eq!(ulps_apart(f64::INFINITY, f64::INFINITY), 0);
    assert_eq!(ulps_apart(f64::NAN, f64::NAN), 0);
    assert_eq!(ulps_apart(f64::NAN, 1.0), u64::MAX);
    assert_eq!(ulps_apart(-1e-300, 1e-300), u64::MAX);
    assert_eq!(ulps_apart(f64::MAX, f64::INFINITY), 1);
}

/// A sum over one dimension sends its gradient back as a stride-0 view (no copy): every op's
/// backward, on every backend, must read it through its strides. Each op's output is summed
/// over dimension 1, weighted (so the gradient differs along the other dimensions), and the
/// inputs' gradients are compared with the reference backend's.
#[test]
fn gradients_through_a_sum_view_match_reference_for_every_op() {
    use minitorch::nn::functional::{avgpool2d, logsoftmax, maxpool2d};
    type Op = fn(&[Tensor]) -> minitorch::Result<Tensor>;
    let cases: Vec<(&str, Vec<Vec<usize>>, Op)> = vec![
        ("sigmoid", vec![vec![3, 4]], |t| t[0].sigmoid()),
        ("mul", vec![vec![3, 4], vec![1, 4]], |t| t[0].mul(&t[1])),
        ("matmul", vec![vec![3, 5], vec![5, 4]], |t| {
            t[0].matmul(&t[1])
        }),
        ("matmul_add", vec![vec![3, 5], vec![5, 4], vec![4]], |t| {
            t[0].matmul_add(&t[1], &t[2])
        }),
        (
            "matmul_add_relu",
            vec![vec![3, 5], vec![5, 4], vec![4]],
            |t| t[0].matmul_add_relu(&t[1], &t[2]),
        ),
        ("batched matmul", vec![vec![2, 3, 5], vec![2, 5, 4]], |t| {
            t[0].matmul(&t[1])
        }),
        (
            "conv1d_add_relu",
            vec![vec![2, 3, 9], vec![4, 3, 3], vec![4, 1]],
            |t| t[0].conv1d_add_relu(&t[1], &t[2]),
        ),
        (
            "conv2d_add_relu",
            vec![vec![2, 3, 6, 6], vec![4, 3, 3, 3], vec![4, 1, 1]],
            |t| t[0].conv2d_add_relu(&t[1], &t[2]),
        ),
        (
            "conv2d_add_relu_avgpool",
            vec![vec![2, 3, 8, 8], vec![4, 3, 3, 3], vec![4, 1, 1]],
            |t| t[0].conv2d_add_relu_avgpool(&t[1], &t[2], (2, 2)),
        ),
        ("avgpool2d", vec![vec![2, 3, 4, 4]], |t| {
            avgpool2d(&t[0], (2, 2))
        }),
        ("maxpool2d", vec![vec![2, 3, 4, 4]], |t| {
            maxpool2d(&t[0], (2, 2))
        }),
        ("logsoftmax", vec![vec![3, 5]], |t| logsoftmax(&t[0], 1)),
        ("max", vec![vec![3, 5, 2]], |t| t[0].max(2)),
        ("permute", vec![vec![3, 4, 2]], |t| t[0].permute(&[2, 0, 1])),
        ("embedding", vec![vec![6, 4]], |t| {
            t[0].embedding(&[5, 0, 2, 2])
        }),
    ];
    for (name, shapes, f) in cases {
        let run = |backend: Backend| -> Vec<Tensor> {
            let inputs: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n: usize = s.iter().product();
                    let values = (0..n).map(|k| ((k * 37 + i * 11) % 17) as f64 / 8.0 - 1.0);
                    Tensor::from_vec(values.collect(), s)
                        .unwrap()
                        .to(backend)
                        .requires_grad_(true)
                })
                .collect();
            let out = f(&inputs).unwrap();
            let summed = out.sum(1).unwrap();
            let n = summed.size();
            let weights: Vec<f64> = (0..n).map(|k| 1.0 + k as f64 / 4.0).collect();
            let w = Tensor::from_vec(weights, summed.shape())
                .unwrap()
                .to(backend);
            summed
                .mul(&w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            inputs.iter().map(|t| t.grad().unwrap()).collect()
        };
        let want = run(Backend::Simple);
        for &backend in BACKENDS.iter() {
            for (i, (g, w)) in run(backend).iter().zip(&want).enumerate() {
                common::assert_near(g, w, &format!("{name} on {backend}: input {i}"));
            }
        }
    }
}
