//! Mirrors the original `test_tensor.py` (tasks 2.3, 2.4) on the reference backend: forward
//! against floats, gradients against central differences, creation, views and broadcasting.
//! Every test first makes the reference backend the default for its thread; the generated
//! tensors are built on it explicitly (the strategies run before the test body), and the
//! property tests assert that their inputs and outputs are on it.

mod common;

use common::{
    assert_close_tensor, one_arg, reductions, shapes, small_floats, smooth_floats, smooth_pairs,
    smooth_tensors, tensor_and_permutation, tensor_and_view_shape, tensors, two_arg, weights,
};
use minitorch::{Backend, Tensor, grad_check, operators};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Fails unless every tensor is on the reference backend.
fn on_reference(ts: &[&Tensor]) -> Result<(), TestCaseError> {
    for t in ts {
        prop_assert_eq!(t.backend(), Backend::Simple, "shape {:?}", t.shape());
    }
    Ok(())
}

#[test]
fn test_create_fixed() {
    common::use_reference_backend();
    let values = vec![1.0, -2.5, 3.0, 40.0];
    let t = Tensor::from_vec(values.clone(), &[4]).unwrap();
    assert_eq!(t.backend(), Backend::Simple);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(t.get(&[i]).unwrap(), *v);
    }
}

proptest! {
    #![proptest_config(config(100))]

    /// The original's test_create: a list of floats becomes a 1-D tensor holding them; here
    /// also any shape, read back by index and in row-major order.
    #[test]
    fn test_create(
        list in prop::collection::vec(small_floats(), 1..50),
        shaped in shapes().prop_flat_map(|shape| {
            let n: usize = shape.iter().product();
            (Just(shape), prop::collection::vec(small_floats(), n))
        }),
    ) {
        common::use_reference_backend();
        let t = Tensor::from_vec(list.clone(), &[list.len()]).unwrap();
        on_reference(&[&t])?;
        prop_assert_eq!(t.shape(), &[list.len()][..]);
        for (i, v) in list.iter().enumerate() {
            prop_assert_eq!(t.get(&[i]).unwrap(), *v);
        }
        let (shape, values) = shaped;
        let t = Tensor::from_vec(values.clone(), &shape).unwrap();
        on_reference(&[&t])?;
        prop_assert_eq!(t.shape(), &shape[..]);
        prop_assert_eq!(t.to_vec(), values.clone());
        for (idx, v) in t.data().indices().zip(&values) {
            prop_assert_eq!(t.get(&idx).unwrap(), *v);
        }
    }

    #[test]
    fn test_one_args(t in tensors()) {
        common::use_reference_backend();
        on_reference(&[&t])?;
        for (name, float_fn, tensor_fn) in one_arg() {
            let out = tensor_fn(&t).unwrap();
            on_reference(&[&out])?;
            prop_assert_eq!(out.shape(), t.shape());
            for idx in t.data().indices() {
                let expected = float_fn(t.get(&idx).unwrap());
                let got = out.get(&idx).unwrap();
                prop_assert!(operators::is_close(got, expected), "{}: {} vs {}", name, got, expected);
            }
        }
    }

    #[test]
    fn test_two_args(ts in common::shaped_tensors(2)) {
        common::use_reference_backend();
        let (a, b) = (&ts[0], &ts[1]);
        on_reference(&[a, b])?;
        for (name, float_fn, tensor_fn) in two_arg() {
            let out = tensor_fn(a, b).unwrap();
            on_reference(&[&out])?;
            prop_assert_eq!(out.shape(), a.shape());
            for idx in a.data().indices() {
                let expected = float_fn(a.get(&idx).unwrap(), b.get(&idx).unwrap());
                let got = out.get(&idx).unwrap();
                prop_assert!(operators::is_close(got, expected), "{}: {} vs {}", name, got, expected);
            }
        }
    }

    /// Every one-argument function, on values away from relu's kink and inv's pole (see
    /// `common::smooth_floats`) rather than skipping it.
    #[test]
    fn test_one_derivative(t in smooth_tensors()) {
        common::use_reference_backend();
        on_reference(&[&t])?;
        for (name, _, tensor_fn) in one_arg() {
            let r = grad_check(|v| tensor_fn(&v[0]), std::slice::from_ref(&t));
            prop_assert!(r.is_ok(), "{}: {:?}", name, r);
        }
    }

    /// Every two-argument function, on values away from the comparisons' jumps and div2's pole
    /// (see `common::smooth_pairs`) rather than skipping it.
    #[test]
    fn test_two_grad(ts in smooth_pairs()) {
        common::use_reference_backend();
        on_reference(&[&ts[0], &ts[1]])?;
        for (name, _, tensor_fn) in two_arg() {
            let r = grad_check(|v| tensor_fn(&v[0], &v[1]), &ts);
            prop_assert!(r.is_ok(), "{}: {:?}", name, r);
        }
    }

    #[test]
    fn test_reduce(t in tensors()) {
        common::use_reference_backend();
        on_reference(&[&t])?;
        for (name, _, tensor_fn) in reductions() {
            let r = grad_check(|v| tensor_fn(&v[0]), std::slice::from_ref(&t));
            prop_assert!(r.is_ok(), "{}: {:?}", name, r);
        }
    }

    /// The original's check (the permuted tensor's sum), and one where each element is weighted
    /// by where it lands, so a backward pass that permutes the gradient wrongly fails.
    #[test]
    fn test_permute((t, perm) in tensor_and_permutation(small_floats())) {
        common::use_reference_backend();
        on_reference(&[&t])?;
        let r = grad_check(|v| v[0].permute(&perm), std::slice::from_ref(&t));
        prop_assert!(r.is_ok(), "{:?}", r);
        let p = t.permute(&perm).unwrap();
        on_reference(&[&p])?;
        let w = weights(p.shape(), Backend::Simple);
        let r = grad_check(|v| v[0].permute(&perm)?.mul(&w), std::slice::from_ref(&t));
        prop_assert!(r.is_ok(), "weighted: {:?}", r);
    }

    /// The original's test_two_grad_broadcast (25 examples there): each function on equal
    /// shapes, then with either side reduced along dim 0 so it broadcasts against the other.
    #[test]
    fn test_two_grad_broadcast(ts in smooth_pairs()) {
        common::use_reference_backend();
        let (t1, t2) = (&ts[0], &ts[1]);
        on_reference(&[t1, t2])?;
        let s1 = t1.sum(0).unwrap().detach();
        let s2 = t2.sum(0).unwrap().detach();
        on_reference(&[&s1, &s2])?;
        for (name, _, tensor_fn) in two_arg() {
            let f = |v: &[Tensor]| tensor_fn(&v[0], &v[1]);
            let r = grad_check(f, &[t1.clone(), t2.clone()]);
            prop_assert!(r.is_ok(), "{}: {:?}", name, r);
            let r = grad_check(f, &[s1.clone(), t2.clone()]);
            prop_assert!(r.is_ok(), "{} (sum(0), t2): {:?}", name, r);
            let r = grad_check(f, &[t1.clone(), s2.clone()]);
            prop_assert!(r.is_ok(), "{} (t1, sum(0)): {:?}", name, r);
        }
    }

    /// test_view on random tensors: a contiguous tensor views as any shape of its size (a
    /// random factorisation), sharing storage, with the values in the same row-major order, and
    /// back; a non-contiguous one refuses.
    #[test]
    fn test_view_random((t, shape) in tensor_and_view_shape()) {
        common::use_reference_backend();
        on_reference(&[&t])?;
        if !t.is_contiguous() {
            let err = t.view(&shape).unwrap_err();
            prop_assert!(err.to_string().contains("must be contiguous"), "{}", err);
        }
        let c = t.contiguous().unwrap();
        let v = c.view(&shape).unwrap();
        on_reference(&[&c, &v])?;
        prop_assert_eq!(v.shape(), &shape[..]);
        prop_assert!(v.data().storage().same_buffer(c.data().storage()));
        prop_assert_eq!(v.to_vec(), t.to_vec());
        let back = v.view(t.shape()).unwrap();
        prop_assert_eq!(back.shape(), t.shape());
        for idx in t.data().indices() {
            prop_assert_eq!(back.get(&idx).unwrap(), t.get(&idx).unwrap());
        }
    }

    /// test_back_view on random tensors: gradients flow through contiguous + view, with each
    /// element weighted by where it lands.
    #[test]
    fn test_back_view_random((t, shape) in tensor_and_view_shape()) {
        common::use_reference_backend();
        on_reference(&[&t])?;
        let w = weights(&shape, Backend::Simple);
        let r = grad_check(|v| v[0].contiguous()?.view(&shape)?.mul(&w), std::slice::from_ref(&t));
        prop_assert!(r.is_ok(), "{:?}", r);
    }
}

/// The smooth strategies really keep away from the points they avoid, so the gradient tests
/// above test every function on valid inputs rather than on ones that happen to work.
#[test]
fn smooth_strategies_avoid_kinks_and_poles() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for _ in 0..200 {
        let a = smooth_floats().new_tree(&mut runner).unwrap().current();
        assert!((a + 5.5).abs() > common::KINK_MARGIN, "relu kink: {a}");
        assert!((a + 3.5).abs() > common::POLE_MARGIN, "inv pole: {a}");
        let ts = smooth_pairs().new_tree(&mut runner).unwrap().current();
        for (x, y) in [
            (&ts[0], &ts[1]),
            (&ts[0].sum(0).unwrap(), &ts[1]),
            (&ts[0], &ts[1].sum(0).unwrap()),
        ] {
            let pairs = common::broadcast_pairs(x, y);
            // The helper pairs values as the library's broadcasting zip does.
            let diff: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
            assert_eq!(x.sub(y).unwrap().to_vec(), diff);
            for (a, b) in pairs {
                assert!(
                    (a + 1.2 - b).abs() > common::KINK_MARGIN,
                    "lt/gt jump: {a}, {b}"
                );
                assert!(
                    (a - b - 5.5).abs() > common::KINK_MARGIN,
                    "eq jump: {a}, {b}"
                );
                assert!((b + 5.5).abs() > common::POLE_MARGIN, "div2 pole: {b}");
            }
        }
    }
    // And the margins are far wider than grad_check's step.
    const { assert!(common::KINK_MARGIN >= 100.0 * minitorch::GRAD_CHECK_EPS) };
}

#[test]
fn test_reduce_forward_one_dim() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0], vec![4.0, 6.0], vec![5.0, 7.0]]).unwrap();
    let s = t.sum(0).unwrap();
    assert_close_tensor(&s, &Tensor::from_nested(vec![vec![11.0, 16.0]]).unwrap());
}

#[test]
fn test_reduce_forward_one_dim_2() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0], vec![4.0, 6.0], vec![5.0, 7.0]]).unwrap();
    let s = t.sum(1).unwrap();
    assert_close_tensor(
        &s,
        &Tensor::from_nested(vec![vec![5.0], vec![10.0], vec![12.0]]).unwrap(),
    );
}

#[test]
fn test_reduce_forward_all_dims() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0], vec![4.0, 6.0], vec![5.0, 7.0]]).unwrap();
    let s = t.sum_all().unwrap();
    assert_close_tensor(&s, &Tensor::from_nested(vec![27.0]).unwrap());
}

#[test]
fn test_grad_size() {
    common::use_reference_backend();
    let a = Tensor::from_nested(vec![1.0]).unwrap().requires_grad_(true);
    let b = Tensor::from_nested(vec![vec![1.0, 1.0]])
        .unwrap()
        .requires_grad_(true);
    a.mul(&b).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(a.grad().unwrap().shape(), a.shape());
    assert_eq!(b.grad().unwrap().shape(), b.shape());
    assert_eq!(a.grad().unwrap().to_vec(), vec![2.0]);
    assert_eq!(b.grad().unwrap().to_vec(), vec![1.0, 1.0]);
}

#[test]
fn test_fromlist() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0, 4.0], vec![4.0, 5.0, 7.0]]).unwrap();
    assert_eq!(t.shape(), &[2, 3]);
    let t = Tensor::from_nested(vec![vec![vec![2.0, 3.0, 4.0], vec![4.0, 5.0, 7.0]]]).unwrap();
    assert_eq!(t.shape(), &[1, 2, 3]);
    assert_eq!(
        Tensor::from_nested([[1.0, 2.0], [3.0, 4.0]])
            .unwrap()
            .to_vec(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn test_view() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0, 4.0], vec![4.0, 5.0, 7.0]]).unwrap();
    assert_eq!(t.shape(), &[2, 3]);
    let flat = t.view(&[6]).unwrap();
    assert_eq!(flat.shape(), &[6]);
    let t2 = flat.view(&[1, 6]).unwrap();
    assert_eq!(t2.shape(), &[1, 6]);
    let t3 = t2.view(&[6, 1]).unwrap();
    assert_eq!(t3.shape(), &[6, 1]);
    let back = t3.view(&[2, 3]).unwrap();
    assert_close_tensor(&back, &t);
    assert!(back.data().storage().same_buffer(t.data().storage()));
}

#[test]
fn test_back_view() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0, 4.0], vec![4.0, 5.0, 7.0]]).unwrap();
    grad_check(
        |v| v[0].view(&[6])?.view(&[3, 2])?.mul(&v[0].view(&[3, 2])?),
        &[t],
    )
    .unwrap();
}

/// The original's xfail: viewing a permuted tensor.
#[test]
fn test_permute_view() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0, 4.0], vec![4.0, 5.0, 7.0]]).unwrap();
    let p = t.permute(&[1, 0]).unwrap();
    let err = p.view(&[6]).unwrap_err();
    assert!(err.to_string().contains("must be contiguous"), "{err}");
    assert_eq!(
        p.contiguous().unwrap().view(&[6]).unwrap().to_vec(),
        vec![2.0, 4.0, 3.0, 5.0, 4.0, 7.0]
    );
}

/// The original's xfail: an out-of-range index.
#[test]
fn test_index() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0, 4.0], vec![4.0, 5.0, 7.0]]).unwrap();
    assert_eq!(t.get(&[1, 2]).unwrap(), 7.0);
    assert!(t.get(&[0, 5]).is_err());
    assert!(t.get(&[2, 0]).is_err());
    assert!(t.get(&[0]).is_err());
}

#[test]
fn test_fromnumpy() {
    common::use_reference_backend();
    let values: Vec<f64> = (0..24).map(|v| v as f64 * 0.5).collect();
    let t = Tensor::from_vec(values.clone(), &[2, 3, 4]).unwrap();
    assert_eq!(t.to_vec(), values);
    let p = t.permute(&[2, 0, 1]).unwrap();
    let round = Tensor::from_vec(p.to_vec(), p.shape()).unwrap();
    for idx in p.data().indices() {
        assert_eq!(round.get(&idx).unwrap(), p.get(&idx).unwrap());
    }
}

#[test]
fn test_mm2() {
    common::use_reference_backend();
    let a = Tensor::rand(&[2, 3], &mut minitorch::Rng::seed(1)).unwrap();
    let b = Tensor::rand(&[3, 4], &mut minitorch::Rng::seed(2)).unwrap();
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
    grad_check(|v| v[0].matmul(&v[1]), &[a, b]).unwrap();
}

#[test]
fn matmul_batched_and_broadcast_gradients() {
    common::use_reference_backend();
    let mut rng = minitorch::Rng::seed(5);
    let a = Tensor::rand(&[3, 2, 4], &mut rng).unwrap();
    let b = Tensor::rand(&[1, 4, 5], &mut rng).unwrap();
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.shape(), &[3, 2, 5]);
    grad_check(|v| v[0].matmul(&v[1]), &[a.clone(), b]).unwrap();
    // A 2-D operand against a 3-D one stays 3-D; its gradient sums over the batch.
    let w = Tensor::rand(&[4, 6], &mut rng).unwrap();
    assert_eq!(a.matmul(&w).unwrap().shape(), &[3, 2, 6]);
    grad_check(|v| v[0].matmul(&v[1]), &[a.clone(), w]).unwrap();
    // Transposed (permuted) operands.
    let at = Tensor::rand(&[4, 2], &mut rng)
        .unwrap()
        .permute(&[1, 0])
        .unwrap();
    let bt = Tensor::rand(&[3, 4], &mut rng)
        .unwrap()
        .permute(&[1, 0])
        .unwrap();
    grad_check(|v| v[0].matmul(&v[1]), &[at, bt]).unwrap();
}

#[test]
fn matmul_add_is_matmul_then_add() {
    common::use_reference_backend();
    let mut rng = minitorch::Rng::seed(6);
    let x = Tensor::rand(&[3, 4], &mut rng).unwrap();
    let w = Tensor::rand(&[4, 5], &mut rng).unwrap();
    // A bias per column (a linear layer's), one value, and one per cell.
    for bias_shape in [&[5][..], &[1], &[3, 5]] {
        let b = Tensor::rand(bias_shape, &mut rng).unwrap();
        let fused = x.matmul_add(&w, &b).unwrap();
        let apart = x.matmul(&w).unwrap().add(&b).unwrap();
        assert_close_tensor(&fused, &apart);
        grad_check(
            |v| v[0].matmul_add(&v[1], &v[2]),
            &[x.clone(), w.clone(), b],
        )
        .unwrap();
    }
    // Batched, with a bias per row of each product.
    let a = Tensor::rand(&[2, 3, 4], &mut rng).unwrap();
    let b = Tensor::rand(&[3, 1], &mut rng).unwrap();
    assert_eq!(a.matmul_add(&w, &b).unwrap().shape(), &[2, 3, 5]);
    grad_check(|v| v[0].matmul_add(&v[1], &v[2]), &[a, w, b]).unwrap();
}

#[test]
fn backward_accumulates_broadcast_gradients() {
    common::use_reference_backend();
    // x (3,1) + y (1,4) → (3,4); the gradient of the sum is the count of broadcast copies.
    let x = Tensor::zeros(&[3, 1]).unwrap().requires_grad_(true);
    let y = Tensor::zeros(&[1, 4]).unwrap().requires_grad_(true);
    x.add(&y).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![4.0; 3]);
    assert_eq!(y.grad().unwrap().to_vec(), vec![3.0; 4]);
}

/// A sum's gradient goes back as a broadcast view (stride 0, no copy) into the next chain
/// rule; a leaf summed directly still gets a packed gradient of its own values (safe for the
/// optimizer to update in place), and gradients accumulate over it — on every backend.
#[test]
fn sum_gradients_reach_leaves_packed() {
    for &backend in common::BACKENDS.iter() {
        let values = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let x = Tensor::from_vec(values, &[2, 3])
            .unwrap()
            .to(backend)
            .requires_grad_(true);
        x.sum(1).unwrap().sum_all().unwrap().backward().unwrap();
        let g = x.grad().unwrap();
        assert!(
            g.is_contiguous() && !g.data().strides().contains(&0),
            "{backend}: {:?}",
            g.data().strides()
        );
        assert_eq!(g.to_vec(), vec![1.0; 6], "{backend}");
        // d/dx Σ x·x = 2x, through a sum over dim 0 and the product's chain rule, added.
        let square = x.mul(&x).unwrap();
        square
            .sum(0)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let want = [3.0, 5.0, 7.0, 9.0, 11.0, 13.0];
        assert_eq!(x.grad().unwrap().to_vec(), want, "{backend}");
    }
}

/// Gradients of inputs broadcast along several dimensions, adjacent or not, some of them
/// leading (the chain rule sums them; adjacent ones of a packed gradient in one pass): each
/// against sums written out with plain loops, on every backend, and a weighted case against
/// central differences.
#[test]
fn broadcast_gradients_sum_every_broadcast_dimension() {
    let big = [2, 3, 4, 5];
    let n: usize = big.iter().product();
    let wv: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 23) as f64 / 7.0 - 1.5)
        .collect();
    // The expected gradient of Σ w·(x + b) for b of `shape`: Σ of w over the cells each b
    // value was copied to.
    let expected = |shape: &[usize]| {
        let pad = big.len() - shape.len();
        let mut out = vec![0.0; shape.iter().product()];
        for (i, &w) in wv.iter().enumerate() {
            let mut rest = i;
            let mut idx = [0; 4];
            for d in (0..4).rev() {
                idx[d] = rest % big[d];
                rest /= big[d];
            }
            let mut pos = 0;
            for (k, &size) in shape.iter().enumerate() {
                pos = pos * size + if size == 1 { 0 } else { idx[k + pad] };
            }
            out[pos] += w;
        }
        out
    };
    for shape in [
        vec![3, 1, 1],
        vec![1, 3, 1, 1],
        vec![2, 1, 1, 5],
        vec![1, 1, 4, 1],
        vec![5],
        vec![1, 1, 1, 1],
        vec![2, 3, 1, 1],
    ] {
        for backend in [Backend::Simple, Backend::Fast] {
            let x = Tensor::zeros(&big).unwrap().to(backend);
            let w = Tensor::from_vec(wv.clone(), &big).unwrap().to(backend);
            let b = Tensor::zeros(&shape)
                .unwrap()
                .to(backend)
                .requires_grad_(true);
            x.add(&b)
                .unwrap()
                .mul(&w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let got = b.grad().unwrap().to_vec();
            let want = expected(&shape);
            assert_eq!(got.len(), want.len(), "{shape:?} {backend}");
            for (g, e) in got.iter().zip(&want) {
                assert!(
                    (g - e).abs() < 1e-9,
                    "{shape:?} {backend}: {got:?} against {want:?}"
                );
            }
        }
    }
    let x = Tensor::from_vec(wv.clone(), &big).unwrap();
    let b = Tensor::from_vec(vec![0.3, -0.2, 0.7], &[3, 1, 1]).unwrap();
    grad_check(|v| v[0].add(&v[1])?.mul(&v[0]), &[x, b]).unwrap();
}

/// The training loss as one op: on every backend the values equal the course's expression
/// `−(p·y + (p − 1)·(y − 1)).log()` (bit for bit on the CPU backends), the gradients agree
/// with the expression's to rounding and with central differences, for labels of 0/1 and
/// fractional ones, broadcast labels, and a label tensor that needs no gradient.
#[test]
fn binary_nll_is_the_course_loss_with_its_gradients() {
    common::use_reference_backend();
    let pv = vec![0.9, 0.2, 0.55, 0.07, 0.7, 0.35];
    let yv = vec![1.0, 0.0, 1.0, 0.0, 0.3, 0.8];
    let mut backends = vec![Backend::Simple];
    backends.extend(common::BACKENDS.iter().copied());
    for backend in backends {
        let p = Tensor::from_vec(pv.clone(), &[2, 3]).unwrap().to(backend);
        let y = Tensor::from_vec(yv.clone(), &[2, 3]).unwrap().to(backend);
        let one = p.scalar_like(1.0);
        let course = || -> minitorch::Result<Tensor> {
            p.mul(&y)?
                .add(&p.sub(&one)?.mul(&y.sub(&one)?)?)?
                .log()?
                .neg()
        };
        let (fused, unfused) = (p.binary_nll(&y).unwrap(), course().unwrap());
        let (f, u) = (fused.to_vec(), unfused.to_vec());
        for (a, b) in f.iter().zip(&u) {
            let ok = if backend == Backend::Cuda {
                (a - b).abs() <= 1e-14 * b.abs()
            } else {
                a.to_bits() == b.to_bits()
            };
            assert!(ok, "{backend}: {f:?} against {u:?}");
        }
        // Gradients of the sum, through both, for both inputs.
        let grads = |loss: Tensor| {
            p.zero_grad();
            y.zero_grad();
            loss.sum_all().unwrap().backward().unwrap();
            (p.grad().unwrap().to_vec(), y.grad().unwrap().to_vec())
        };
        p.requires_grad_(true);
        y.requires_grad_(true);
        let (gp, gy) = grads(p.binary_nll(&y).unwrap());
        let (up, uy) = grads(course().unwrap());
        for (g, w) in gp.iter().chain(&gy).zip(up.iter().chain(&uy)) {
            assert!(
                (g - w).abs() <= 1e-12 * w.abs(),
                "{backend}: {gp:?} {gy:?} vs {up:?} {uy:?}"
            );
        }
        // Labels that need no gradient get none.
        let labels = Tensor::from_vec(yv.clone(), &[2, 3]).unwrap().to(backend);
        p.zero_grad();
        p.binary_nll(&labels)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(labels.grad().is_none() && p.grad().is_some(), "{backend}");
    }
    // Central differences, with a broadcast row of labels and swapped roles.
    let p = Tensor::from_vec(pv.clone(), &[2, 3]).unwrap();
    let row = Tensor::from_vec(vec![1.0, 0.0, 0.4], &[3]).unwrap();
    grad_check(|v| v[0].binary_nll(&v[1]), &[p.clone(), row.clone()]).unwrap();
    grad_check(|v| v[1].binary_nll(&v[0]), &[p, row]).unwrap();
}

#[test]
fn binary_nll_errors_name_the_op_and_shapes() {
    common::use_reference_backend();
    let p = Tensor::from_vec(vec![0.5; 6], &[2, 3]).unwrap();
    let y = Tensor::from_vec(vec![1.0; 4], &[4]).unwrap();
    let e = p.binary_nll(&y).unwrap_err().to_string();
    assert!(
        e.contains("binary_nll") && e.contains("[2, 3]") && e.contains("[4]"),
        "{e}"
    );
}

#[test]
fn constants_get_no_gradient_and_leaves_accumulate() {
    common::use_reference_backend();
    let x = Tensor::from_nested(vec![1.0, 2.0])
        .unwrap()
        .requires_grad_(true);
    let k = Tensor::from_nested(vec![3.0, 4.0]).unwrap();
    for _ in 0..2 {
        x.mul(&k).unwrap().sum_all().unwrap().backward().unwrap();
    }
    assert_eq!(x.grad().unwrap().to_vec(), vec![6.0, 8.0]);
    assert!(k.grad().is_none());
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn requires_grad_false_really_stops_tracking() {
    common::use_reference_backend();
    let x = Tensor::from_nested(vec![1.0, 2.0]).unwrap();
    assert!(!x.requires_grad());
    let y = x.requires_grad_(true).mul(&x).unwrap();
    assert!(y.requires_grad() && !y.is_leaf());
    x.requires_grad_(false);
    assert!(x.is_constant());
    assert!(!x.mul(&x).unwrap().requires_grad());
    let detached = y.detach();
    assert!(detached.is_constant());
    assert_eq!(detached.to_vec(), y.to_vec());
}

#[test]
fn all_is_logical_and_keeps_dim() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![1.0, 2.0, 3.0], vec![4.0, 0.0, 6.0]]).unwrap();
    assert_eq!(t.all_all().unwrap().to_vec(), vec![0.0]);
    assert_eq!(t.all(0).unwrap().to_vec(), vec![1.0, 0.0, 1.0]);
    assert_eq!(t.all(1).unwrap().shape(), &[2, 1]);
    assert_eq!(t.all(1).unwrap().to_vec(), vec![1.0, 0.0]);
    // Any layout, including permuted.
    assert_eq!(
        t.permute(&[1, 0]).unwrap().all(1).unwrap().to_vec(),
        vec![1.0, 0.0, 1.0]
    );
    let ones = Tensor::ones(&[2, 3]).unwrap();
    assert_eq!(ones.all_all().unwrap().item().unwrap(), 1.0);
}

#[test]
fn mean_and_constructors() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![2.0, 3.0], vec![4.0, 6.0], vec![5.0, 7.0]]).unwrap();
    assert_eq!(t.mean(0).unwrap().to_vec(), vec![11.0 / 3.0, 16.0 / 3.0]);
    assert_eq!(t.mean_all().unwrap().item().unwrap(), 4.5);
    assert_eq!(Tensor::ones(&[2, 2]).unwrap().to_vec(), vec![1.0; 4]);
    assert_eq!(Tensor::zeros(&[3]).unwrap().to_vec(), vec![0.0; 3]);
    let r = Tensor::rand(&[100], &mut minitorch::Rng::seed(9))
        .unwrap()
        .to_vec();
    assert!(r.iter().all(|v| (0.0..1.0).contains(v)));
}

#[test]
fn operators_sugar_matches_methods() {
    common::use_reference_backend();
    let a = Tensor::from_nested(vec![1.0, 2.0, 4.0]).unwrap();
    let b = Tensor::from_nested(vec![3.0, 5.0, 8.0]).unwrap();
    assert_eq!((&a - &b).to_vec(), vec![-2.0, -3.0, -4.0]);
    assert_eq!((&a / 2.0).to_vec(), vec![0.5, 1.0, 2.0]);
    assert_eq!((1.0 - &a).to_vec(), vec![0.0, -1.0, -3.0]);
    assert_eq!((2.0 / &a).to_vec(), vec![2.0, 1.0, 0.5]);
    assert_eq!((-&a).to_vec(), vec![-1.0, -2.0, -4.0]);
    assert_eq!((&a * &b + 1.0).to_vec(), vec![4.0, 11.0, 33.0]);
    assert_eq!(a.lt(&b).unwrap().to_vec(), vec![1.0; 3]);
    assert_eq!(a.gt(&b).unwrap().to_vec(), vec![0.0; 3]);
    assert_eq!(a.eq(&a).unwrap().to_vec(), vec![1.0; 3]);
}

#[test]
#[should_panic(expected = "add: cannot broadcast shapes [2] and [3]")]
fn operator_sugar_panics_with_the_error_message() {
    common::use_reference_backend();
    let _ = Tensor::zeros(&[2]).unwrap() + Tensor::zeros(&[3]).unwrap();
}

#[test]
fn display_uses_the_original_format() {
    common::use_reference_backend();
    let t = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[2, 2]).unwrap();
    assert_eq!(t.to_string(), "\n[\n\t[0.00 1.00]\n\t[2.00 3.00]]");
}

#[test]
fn saved_tensors_are_freed_by_backward() {
    common::use_reference_backend();
    let x = Tensor::from_nested(vec![1.0, 2.0])
        .unwrap()
        .requires_grad_(true);
    let y = x.mul(&x).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let err = y.backward().unwrap_err();
    assert!(
        err.to_string()
            .contains("freed by an earlier backward pass"),
        "{err}"
    );
}

#[test]
fn set_writes_through_shared_storage() {
    common::use_reference_backend();
    let t = Tensor::from_nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
    let p = t.permute(&[1, 0]).unwrap();
    p.set(&[0, 1], 30.0).unwrap();
    assert_eq!(t.get(&[1, 0]).unwrap(), 30.0);
}
