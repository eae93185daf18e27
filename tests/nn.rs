//! MiniTorch's `test_nn.py` (tasks 4.3 and 4.4) and more: pooling, max and argmax, softmax and
//! logsoftmax, dropout — forward against direct computation, gradients against central
//! differences on every backend, backends against the reference, and bad input.

mod common;

use common::layouts::values;
use common::{BACKENDS, assert_near};
use minitorch::nn::functional::{
    Dropout, argmax, avgpool2d, dropout, logsoftmax, maxpool2d, softmax, tile,
};
use minitorch::{Backend, Rng, Tensor, grad_check};
use proptest::prelude::*;

fn all_backends() -> Vec<Backend> {
    let mut b = vec![Backend::Simple];
    b.extend(BACKENDS.iter().copied());
    b
}

/// Distinct values (no ties, gaps far wider than grad_check's ε), shuffled by `seed`.
fn distinct(shape: &[usize], seed: u64, backend: Backend) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.37 - n as f64 * 0.15).collect();
    Rng::seed(seed).shuffle(&mut v);
    Tensor::from_vec(v, shape).unwrap().to(backend)
}

#[test]
fn test_avg() {
    for backend in all_backends() {
        let t = distinct(&[1, 1, 4, 4], 1, backend);
        let v = t.to_vec();
        for (kh, kw) in [(2, 2), (2, 1), (1, 2), (4, 4), (1, 1)] {
            let out = avgpool2d(&t, (kh, kw)).unwrap();
            assert_eq!(out.shape(), &[1, 1, 4 / kh, 4 / kw]);
            for y in 0..4 / kh {
                for x in 0..4 / kw {
                    let mut s = 0.0;
                    for i in 0..kh {
                        for j in 0..kw {
                            s += v[(y * kh + i) * 4 + x * kw + j];
                        }
                    }
                    let got = out.get(&[0, 0, y, x]).unwrap();
                    assert!(
                        (got - s / (kh * kw) as f64).abs() < 1e-12,
                        "{backend} ({kh},{kw})"
                    );
                }
            }
            grad_check(|x| avgpool2d(&x[0], (kh, kw)), std::slice::from_ref(&t)).unwrap();
        }
    }
}

#[test]
fn test_max_pool() {
    for backend in all_backends() {
        let t = distinct(&[2, 3, 4, 4], 2, backend);
        let v = t.to_vec();
        for (kh, kw) in [(2, 2), (2, 1), (1, 2)] {
            let out = maxpool2d(&t, (kh, kw)).unwrap();
            for (b, c, y, x) in [(0, 0, 0, 0), (1, 2, 1, 1), (0, 1, 4 / kh - 1, 4 / kw - 1)] {
                let mut m = f64::NEG_INFINITY;
                for i in 0..kh {
                    for j in 0..kw {
                        m = m.max(v[((b * 3 + c) * 4 + y * kh + i) * 4 + x * kw + j]);
                    }
                }
                assert_eq!(out.get(&[b, c, y, x]).unwrap(), m, "{backend}");
            }
            grad_check(|x| maxpool2d(&x[0], (kh, kw)), std::slice::from_ref(&t)).unwrap();
        }
    }
}

#[test]
fn test_max_forward_and_backward() {
    for backend in all_backends() {
        let t = distinct(&[2, 3, 4], 3, backend);
        for dim in 0..3 {
            let out = t.max(dim).unwrap();
            let mut want_shape = [2, 3, 4];
            want_shape[dim] = 1;
            assert_eq!(out.shape(), &want_shape[..]);
            grad_check(|x| x[0].max(dim), std::slice::from_ref(&t)).unwrap();
        }
        let flat = t.contiguous().unwrap().view(&[24]).unwrap();
        assert_eq!(
            flat.max(0).unwrap().item().unwrap(),
            t.to_vec().into_iter().fold(f64::NEG_INFINITY, f64::max)
        );
    }
}

/// The documented choice on ties: every position equal to the maximum receives the whole
/// gradient (MiniTorch's mask), where PyTorch picks one.
#[test]
fn max_gradient_goes_to_every_tied_maximum() {
    for backend in all_backends() {
        let t = Tensor::from_vec(vec![1.0, 3.0, 3.0, 2.0], &[1, 4])
            .unwrap()
            .to(backend)
            .requires_grad_(true);
        t.max(1).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(t.grad().unwrap().to_vec(), vec![0.0, 1.0, 1.0, 0.0]);
        let u = Tensor::from_vec(vec![1.0, 5.0, 3.0, 2.0], &[1, 4])
            .unwrap()
            .to(backend)
            .requires_grad_(true);
        u.max(1).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(u.grad().unwrap().to_vec(), vec![0.0, 1.0, 0.0, 0.0]);
    }
}

#[test]
fn argmax_is_a_one_hot_constant() {
    for backend in all_backends() {
        let t = Tensor::from_nested(vec![vec![1.0, 9.0, 3.0], vec![7.0, 0.0, 7.0]])
            .unwrap()
            .to(backend)
            .requires_grad_(true);
        let a = argmax(&t, 1).unwrap();
        assert_eq!(a.to_vec(), vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        assert!(a.is_constant());
        assert_eq!(
            argmax(&t, 0).unwrap().to_vec(),
            vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
        );
    }
}

#[test]
fn test_softmax_sums_to_one_along_every_dim() {
    for backend in all_backends() {
        let t = distinct(&[2, 3, 4], 4, backend);
        for dim in 0..3 {
            let s = softmax(&t, dim).unwrap().sum(dim).unwrap();
            for v in s.to_vec() {
                assert!((v - 1.0).abs() < 1e-12, "{backend} dim {dim}: {v}");
            }
            grad_check(|x| softmax(&x[0], dim), std::slice::from_ref(&t)).unwrap();
        }
    }
}

#[test]
fn test_log_softmax_matches_softmax_and_stays_finite() {
    for backend in all_backends() {
        let t = distinct(&[2, 3, 4], 5, backend);
        for dim in 0..3 {
            let a = logsoftmax(&t, dim).unwrap().exp().unwrap();
            let b = softmax(&t, dim).unwrap();
            for (x, y) in a.to_vec().iter().zip(b.to_vec()) {
                assert!((x - y).abs() < 1e-5, "{backend}: {x} vs {y}");
            }
            grad_check(|x| logsoftmax(&x[0], dim), std::slice::from_ref(&t)).unwrap();
        }
        let big = Tensor::from_vec(vec![1000.0, -1000.0, 999.0, 0.0], &[1, 4])
            .unwrap()
            .to(backend);
        let l = logsoftmax(&big, 1).unwrap().to_vec();
        assert!(l.iter().all(|v| v.is_finite()), "{l:?}");
        // The exact values: log(1 + e^-1) ≈ 0.3133 below 0 for the largest.
        assert!((l[0] + (1.0 + (-1.0f64).exp()).ln()).abs() < 1e-5, "{l:?}");
        assert!(
            (l[1] + 2000.0 + (1.0 + (-1.0f64).exp()).ln()).abs() < 1e-5,
            "{l:?}"
        );
        let s = softmax(&big, 1).unwrap().to_vec();
        assert!(s.iter().all(|v| v.is_finite()) && (s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn test_drop_rates() {
    let t = Tensor::from_vec(values(400, 1), &[20, 20]).unwrap();
    let mut rng = Rng::seed(7);
    // Rate 0 and evaluation mode are the identity; rate 1 drops everything.
    assert_eq!(
        dropout(&t, 0.0, true, Dropout::Course, &mut rng)
            .unwrap()
            .to_vec(),
        t.to_vec()
    );
    assert_eq!(
        dropout(&t, 0.7, false, Dropout::Course, &mut rng)
            .unwrap()
            .to_vec(),
        t.to_vec()
    );
    assert!(
        dropout(&t, 1.0, true, Dropout::Course, &mut rng)
            .unwrap()
            .to_vec()
            .iter()
            .all(|&v| v == 0.0)
    );
    // Rate 0.25 keeps about three quarters, unchanged (the course does not rescale) ...
    let d = dropout(&t, 0.25, true, Dropout::Course, &mut rng)
        .unwrap()
        .to_vec();
    let kept: Vec<usize> = (0..400).filter(|&i| d[i] != 0.0).collect();
    assert!((260..340).contains(&kept.len()), "{}", kept.len());
    assert!(kept.iter().all(|&i| d[i] == t.to_vec()[i]));
    // ... and inverted dropout scales the kept ones by 1/(1 − rate).
    let d = dropout(&t, 0.25, true, Dropout::Inverted, &mut rng)
        .unwrap()
        .to_vec();
    for (i, v) in d.iter().enumerate() {
        assert!(*v == 0.0 || (v - t.to_vec()[i] / 0.75).abs() < 1e-12);
    }
    // Seeded: the same seed drops the same elements.
    let a = dropout(&t, 0.5, true, Dropout::Course, &mut Rng::seed(3)).unwrap();
    let b = dropout(&t, 0.5, true, Dropout::Course, &mut Rng::seed(3)).unwrap();
    assert_eq!(a.to_vec(), b.to_vec());
    // Gradients flow only through kept elements.
    let x = t.clone().requires_grad_(true);
    let y = dropout(&x, 0.5, true, Dropout::Course, &mut Rng::seed(3)).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    let g = x.grad().unwrap().to_vec();
    for (gi, ai) in g.iter().zip(a.to_vec()) {
        assert_eq!(*gi, if ai == 0.0 { 0.0 } else { 1.0 });
    }
}

#[test]
fn module4_ops_match_the_reference_on_every_backend_and_layout() {
    use common::layouts::{KINDS, make};
    let shape = [2, 3, 4, 4];
    let v: Vec<f64> = distinct(&shape, 9, Backend::Simple).to_vec();
    let gv = values(2 * 3 * 2 * 2, 4);
    for kind in KINDS {
        let run = |backend: Backend| {
            let x = make(&v, &shape, kind, backend).requires_grad_(true);
            let pooled = maxpool2d(&x, (2, 2))
                .unwrap()
                .add(&avgpool2d(&x, (2, 2)).unwrap())
                .unwrap();
            let sm = logsoftmax(&pooled, 1)
                .unwrap()
                .mul(&softmax(&pooled, 3).unwrap())
                .unwrap();
            let g = Tensor::from_vec(gv.clone(), sm.shape())
                .unwrap()
                .to(backend);
            sm.backward_with(&g).unwrap();
            (sm, x.grad().unwrap())
        };
        let (want, want_grad) = run(Backend::Simple);
        for backend in BACKENDS.iter().copied() {
            let (got, got_grad) = run(backend);
            assert_near(&got, &want, &format!("{backend} {kind:?}"));
            assert_near(&got_grad, &want_grad, &format!("{backend} {kind:?} grad"));
        }
    }
}

/// Builds a pooling input and an output gradient on a backend.
type MakeInputs = Box<dyn Fn(Backend) -> (Tensor, Tensor)>;

/// The backend's pooling kernels (forward and gradient) against the reference on every layout
/// of their operand, a broadcast one included, for square, tall, wide, odd-sized and 1 × 1
/// kernels, and at the MNIST size, where the fast backend splits the work across threads.
/// The fast kernels add in the reference's order, so they must agree bit for bit.
#[test]
fn avgpool_kernels_match_the_reference_on_every_layout() {
    use common::layouts::{KINDS, broadcast, make};
    let cases: [(&[usize], [usize; 2]); 10] = [
        (&[2, 3, 4, 8], [2, 2]),
        (&[2, 3, 4, 8], [4, 1]),
        (&[1, 2, 6, 6], [1, 3]),
        (&[3, 1, 6, 4], [3, 2]),
        (&[2, 2, 3, 5], [1, 1]),
        (&[16, 8, 28, 28], [4, 4]),
        // Rows of 8 output cells and more, and their remainders (the fast backend's AVX-512
        // loops take 8 cells at a time for kernels 1, 2 and 4 wide).
        (&[2, 2, 4, 36], [2, 4]),
        (&[1, 3, 2, 40], [1, 4]),
        (&[2, 1, 3, 34], [3, 2]),
        (&[1, 2, 2, 17], [2, 1]),
    ];
    for (shape, kernel) in cases {
        let pooled = [
            shape[0],
            shape[1],
            shape[2] / kernel[0],
            shape[3] / kernel[1],
        ];
        let (n, m) = (shape.iter().product(), pooled.iter().product());
        let (xv, gv) = (values(n, 5), values(m, 6));
        let reference = Backend::Simple.ops();
        let mut inputs: Vec<(String, MakeInputs)> = Vec::new();
        for kind in KINDS {
            let (xv, gv) = (xv.clone(), gv.clone());
            inputs.push((
                format!("{kind:?}"),
                Box::new(move |b| (make(&xv, shape, kind, b), make(&gv, &pooled, kind, b))),
            ));
        }
        // Stride 0 along the width (the input) and along the channels, or the batch when there
        // is one channel (the gradient).
        let dim = if pooled[1] > 1 { 1 } else { 0 };
        let (xb, gb) = (values(n / shape[3], 7), values(m / pooled[dim], 8));
        inputs.push((
            "broadcast".into(),
            Box::new(move |b| (broadcast(&xb, shape, 3, b), broadcast(&gb, &pooled, dim, b))),
        ));
        for (kind, make_inputs) in &inputs {
            let (x, g) = make_inputs(Backend::Simple);
            let want = reference.avgpool2d(x.data(), kernel).unwrap();
            let want_grad = reference.avgpool2d_backward(g.data(), kernel).unwrap();
            assert_eq!(want.shape(), &pooled[..]);
            assert_eq!(want_grad.shape(), shape);
            let want = Tensor::from_data(want, Backend::Simple);
            let want_grad = Tensor::from_data(want_grad, Backend::Simple);
            // The reference kernels against the definition, at one block: the mean of its
            // values, and the gradient spread over it.
            let (xs, gs) = (x.to_vec(), g.to_vec());
            let [kh, kw] = kernel;
            let mean = (0..kw)
                .map(|j| (0..kh).map(|i| xs[i * shape[3] + j]).sum::<f64>())
                .sum::<f64>()
                / (kh * kw) as f64;
            assert!((want.to_vec()[0] - mean).abs() <= 1e-12 * mean.abs().max(1.0));
            assert_eq!(
                want_grad.to_vec()[(kh - 1) * shape[3] + kw - 1],
                gs[0] * (1.0 / (kh * kw) as f64)
            );
            for backend in BACKENDS.iter().copied() {
                if backend != Backend::Fast && shape[0] > 8 {
                    continue; // the simulator runs every CUDA thread on the CPU: small cases
                }
                let (x, g) = make_inputs(backend);
                let ops = backend.ops();
                let got = Tensor::from_data(ops.avgpool2d(x.data(), kernel).unwrap(), backend);
                let got_grad =
                    Tensor::from_data(ops.avgpool2d_backward(g.data(), kernel).unwrap(), backend);
                let what = format!("{backend} {kind} {shape:?} {kernel:?}");
                assert_near(&got, &want, &what);
                assert_near(&got_grad, &want_grad, &format!("{what} grad"));
                if backend == Backend::Fast {
                    let bits =
                        |t: &Tensor| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{what}");
                    assert_eq!(bits(&got_grad), bits(&want_grad), "{what} grad");
                }
            }
        }
    }
}

#[test]
fn bad_pooling_kernel_input_is_an_error_on_every_backend() {
    let x = Tensor::zeros(&[1, 2, 5, 4]).unwrap();
    let flat = Tensor::zeros(&[4, 4]).unwrap();
    for backend in all_backends() {
        let ops = backend.ops();
        let (x, flat) = (x.to(backend), flat.to(backend));
        let msg = |r: minitorch::Result<minitorch::TensorData>| r.unwrap_err().to_string();
        assert_eq!(
            msg(ops.avgpool2d(x.data(), [2, 2])),
            "avgpool2d: kernel (2, 2) must divide the height and width of shape [1, 2, 5, 4] exactly",
            "{backend}"
        );
        assert!(msg(ops.avgpool2d(x.data(), [0, 1])).starts_with("avgpool2d: kernel (0, 1)"));
        assert_eq!(
            msg(ops.avgpool2d(flat.data(), [2, 2])),
            "avgpool2d: expected a 4-D input (B, C, H, W), got shape [4, 4]"
        );
        assert_eq!(
            msg(ops.avgpool2d_backward(flat.data(), [2, 2])),
            "avgpool2d_backward: expected a 4-D gradient (B, C, H/kh, W/kw) and a kernel of at \
             least 1 × 1, got shape [4, 4] and kernel (2, 2)"
        );
        assert!(
            msg(ops.avgpool2d_backward(x.data(), [1, 0]))
                .starts_with("avgpool2d_backward: expected a 4-D gradient")
        );
        assert!(
            msg(ops.avgpool2d_backward(x.data(), [usize::MAX, 2])).contains("overflows"),
            "{backend}"
        );
    }
}

#[test]
fn bad_module4_input_is_an_error_naming_the_op() {
    let msg = |r: minitorch::Result<Tensor>| r.unwrap_err().to_string();
    let x = Tensor::zeros(&[1, 2, 5, 4]).unwrap();
    assert_eq!(
        msg(avgpool2d(&x, (2, 2))),
        "avgpool2d: kernel (2, 2) must divide the height and width of shape [1, 2, 5, 4] exactly"
    );
    assert!(msg(maxpool2d(&x, (1, 3))).starts_with("maxpool2d: kernel (1, 3)"));
    assert!(msg(tile(&x, (0, 1))).starts_with("tile: kernel (0, 1)"));
    assert_eq!(
        msg(tile(&Tensor::zeros(&[4, 4]).unwrap(), (2, 2))),
        "tile: expected a 4-D input (B, C, H, W), got shape [4, 4]"
    );
    assert_eq!(
        msg(x.max(4)),
        "max: dim 4 is out of range for shape [1, 2, 5, 4]"
    );
    assert!(msg(softmax(&x, 7)).starts_with("max: dim 7 is out of range"));
    assert!(msg(argmax(&x, 9)).contains("dim 9 is out of range"));
    let mut rng = Rng::seed(1);
    assert!(
        msg(dropout(&x, -0.1, true, Dropout::Course, &mut rng))
            .starts_with("dropout: rate -0.1 is outside [0, 1]")
    );
    assert!(
        msg(dropout(&x, f64::NAN, true, Dropout::Course, &mut rng))
            .starts_with("dropout: rate NaN")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// max along a random dim of a random tensor equals the fold of its fibres.
    #[test]
    fn max_matches_a_fold(shape in proptest::collection::vec(1usize..4, 1..4), seed in 0u64..1000, pick in 0usize..3) {
        let dim = pick % shape.len();
        let t = distinct(&shape, seed, Backend::Fast);
        let out = t.max(dim).unwrap();
        for idx in out.data().indices() {
            let mut m = f64::NEG_INFINITY;
            let mut full = idx.to_vec();
            for k in 0..shape[dim] {
                full[dim] = k;
                m = m.max(t.get(&full).unwrap());
            }
            prop_assert_eq!(out.get(&idx).unwrap(), m);
        }
    }
}
