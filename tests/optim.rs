//! The optimizers: SGD's step, and Adam against an independent implementation of its update
//! (tensor and scalar parameters, every backend), its first step's size, and bad rates.

mod common;

use common::BACKENDS;
use minitorch::module::Parameter;
use minitorch::optim::{Adam, Optimizer, Sgd};
use minitorch::{Backend, Scalar, Tensor};

/// Adam written out independently: `steps` updates of `p` with the gradients `grads(p)`.
fn adam_reference(
    mut p: Vec<f64>,
    lr: f64,
    steps: usize,
    grad: impl Fn(&[f64]) -> Vec<f64>,
) -> Vec<f64> {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let mut m = vec![0.0; p.len()];
    let mut v = vec![0.0; p.len()];
    for t in 1..=steps {
        let g = grad(&p);
        for i in 0..p.len() {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let m_hat = m[i] / (1.0 - b1.powi(t as i32));
            let v_hat = v[i] / (1.0 - b2.powi(t as i32));
            p[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
    }
    p
}

#[test]
fn adam_matches_an_independent_implementation_on_every_backend() {
    // f(p) = Σ c_i · p_i³ (gradient 3 c_i p_i²: it changes every step and differs per value).
    let c = [1.0, -2.0, 0.5, 3.0, -0.25, 1e-3];
    let start = vec![0.5, -1.0, 2.0, 0.1, -3.0, 1.0];
    let want = adam_reference(start.clone(), 0.05, 5, |p| {
        p.iter().zip(c).map(|(x, c)| 3.0 * c * x * x).collect()
    });
    let mut backends = vec![Backend::Simple];
    backends.extend(BACKENDS.iter().copied());
    for backend in backends {
        let p = Parameter::new(
            Tensor::from_vec(start.clone(), &[2, 3])
                .unwrap()
                .to(backend),
        );
        let coef = Tensor::from_vec(c.to_vec(), &[2, 3]).unwrap().to(backend);
        let adam = Adam::new(vec![p.clone()], 0.05).unwrap();
        for _ in 0..5 {
            adam.zero_grad();
            let x = p.tensor().unwrap();
            x.mul(&x)
                .unwrap()
                .mul(&x)
                .unwrap()
                .mul(&coef)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            adam.step().unwrap();
        }
        let got = p.tensor().unwrap();
        assert_eq!(got.backend(), backend);
        for (i, (g, w)) in got.to_vec().iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-12, "{backend:?} value {i}: {g} vs {w}");
        }
    }
}

#[test]
fn adam_moves_scalars_and_skips_parameters_without_gradients() {
    let x = Parameter::new(Scalar::new(2.0));
    let idle = Parameter::new(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
    let adam = Adam::new(vec![x.clone(), idle.clone()], 0.1).unwrap();
    let want = adam_reference(vec![2.0], 0.1, 3, |p| vec![2.0 * p[0] - 1.0]);
    for _ in 0..3 {
        adam.zero_grad();
        let s = x.scalar().unwrap();
        (&(&s * &s) - &s).backward();
        adam.step().unwrap();
    }
    assert!((x.scalar().unwrap().data() - want[0]).abs() < 1e-12);
    assert_eq!(idle.tensor().unwrap().to_vec(), vec![1.0, 2.0]);
}

#[test]
fn adam_counts_steps_per_parameter_and_reads_strided_gradients() {
    // `late` gets its first gradient at the fourth step: its first move is lr against the
    // gradient's sign (bias correction for its own first step), as in PyTorch.
    let early = Parameter::new(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
    let late = Parameter::new(Tensor::from_vec(vec![3.0, -4.0], &[2]).unwrap());
    let adam = Adam::new(vec![early.clone(), late.clone()], 0.1).unwrap();
    for step in 1..=4 {
        adam.zero_grad();
        let e = early.tensor().unwrap();
        let mut loss = e.mul(&e).unwrap().sum_all().unwrap();
        if step == 4 {
            let l = late.tensor().unwrap();
            loss = loss.add(&l.mul(&l).unwrap().sum_all().unwrap()).unwrap();
        }
        loss.backward().unwrap();
        adam.step().unwrap();
    }
    let got = late.tensor().unwrap().to_vec();
    assert!(
        (got[0] - 2.9).abs() < 1e-9 && (got[1] + 3.9).abs() < 1e-9,
        "{got:?}"
    );
    // A permuted (non-contiguous) parameter gets the update at each logical position.
    let stored = Tensor::from_vec(vec![0.5, 1.0, -2.0, 3.0, 0.25, -1.0], &[3, 2]).unwrap();
    let p = Parameter::new(stored.permute(&[1, 0]).unwrap());
    let before = p.tensor().unwrap().to_vec();
    let weights = Tensor::from_vec(vec![1.0, -2.0, 3.0, -4.0, 5.0, -6.0], &[2, 3]).unwrap();
    let adam = Adam::new(vec![p.clone()], 0.01).unwrap();
    p.tensor()
        .unwrap()
        .mul(&weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    adam.step().unwrap();
    let after = p.tensor().unwrap().to_vec();
    for ((a, b), w) in after.iter().zip(&before).zip(weights.to_vec()) {
        assert!(
            (a - (b - 0.01 * w.signum())).abs() < 1e-9,
            "{a} vs {b} - 0.01·sign({w})"
        );
    }
}

#[test]
fn sgd_and_adam_refuse_bad_rates() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = Adam::new(vec![], bad).err().unwrap().to_string();
        assert!(err.contains("learning rate"), "{err}");
        assert!(Sgd::new(vec![], bad).is_err());
    }
}

#[test]
fn sgd_steps_against_the_gradient() {
    let p = Parameter::new(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
    let sgd = Sgd::new(vec![p.clone()], 0.5).unwrap();
    let x = p.tensor().unwrap();
    x.mul(&x).unwrap().sum_all().unwrap().backward().unwrap();
    Optimizer::step(&sgd).unwrap();
    assert_eq!(p.tensor().unwrap().to_vec(), vec![0.0, 0.0]);
}

/// Parameters big enough for the fast backend to split the update between two threads (as it
/// splits the weight's products), odd sizes included: every element moves as the formula
/// says, on every backend (to the last bit but for a fused multiply-add's rounding).
#[test]
fn sgd_updates_big_parameters_on_every_backend() {
    for shape in [&[200, 200][..], &[101, 97], &[9001], &[3, 4000]] {
        let mut rng = minitorch::Rng::seed(7);
        let start = Tensor::rand(shape, &mut rng).unwrap();
        let slope = Tensor::rand(shape, &mut rng).unwrap();
        let lr = 0.3;
        let want: Vec<f64> = start
            .to_vec()
            .iter()
            .zip(slope.to_vec())
            .map(|(p, g)| p - lr * g)
            .collect();
        for &backend in BACKENDS.iter() {
            // A copy: the step updates the parameter's storage in place.
            let fresh = Tensor::from_vec(start.to_vec(), shape).unwrap();
            let p = Parameter::new(fresh.to(backend));
            let sgd = Sgd::new(vec![p.clone()], lr).unwrap();
            let x = p.tensor().unwrap();
            x.mul(&slope.to(backend))
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            Optimizer::step(&sgd).unwrap();
            let got = p.tensor().unwrap().to_vec();
            let off = got
                .iter()
                .zip(&want)
                .position(|(g, w)| (g - w).abs() > 1e-15);
            assert!(off.is_none(), "{shape:?} on {backend}: element {off:?}");
        }
    }
}
