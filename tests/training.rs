//! Datasets (label rules, seeding) and seeded end-to-end training on the reference backend.

use minitorch::datasets::{Dataset, make_pts};
use minitorch::train::{Engine, TrainConfig, train};
use minitorch::{Backend, Rng};

#[test]
fn label_rules_match_the_spec() {
    for ds in Dataset::ALL.into_iter().filter(|d| *d != Dataset::Spiral) {
        let g = ds.generate(200, 11);
        assert_eq!((g.n, g.x.len(), g.y.len()), (200, 200, 200));
        for (&[x1, x2], &y) in g.x.iter().zip(&g.y) {
            assert!((0.0..1.0).contains(&x1) && (0.0..1.0).contains(&x2));
            let expected = match ds {
                Dataset::Simple => x1 < 0.5,
                Dataset::Diag => x1 + x2 < 0.5,
                Dataset::Split => !(0.2..=0.8).contains(&x1),
                Dataset::Xor => (x1 < 0.5 && x2 > 0.5) || (x1 > 0.5 && x2 < 0.5),
                Dataset::Circle => (x1 - 0.5) * (x1 - 0.5) + (x2 - 0.5) * (x2 - 0.5) > 0.1,
                Dataset::Spiral => unreachable!(),
            };
            assert_eq!(y, if expected { 1.0 } else { 0.0 }, "{ds} at ({x1}, {x2})");
        }
        // Both classes appear in a sample this size.
        assert!(g.y.contains(&0.0) && g.y.contains(&1.0), "{ds}");
    }
}

#[test]
fn seeds_make_datasets_reproducible() {
    assert_eq!(
        Dataset::Circle.generate(30, 5),
        Dataset::Circle.generate(30, 5)
    );
    assert_ne!(
        Dataset::Circle.generate(30, 5).x,
        Dataset::Circle.generate(30, 6).x
    );
    assert_eq!(
        make_pts(4, &mut Rng::seed(1)),
        make_pts(4, &mut Rng::seed(1))
    );
}

#[test]
fn spiral_is_deterministic_and_counts_real_points() {
    let g = Dataset::Spiral.generate(50, 0);
    assert_eq!((g.n, g.x.len()), (50, 50));
    assert_eq!(g.y.iter().filter(|&&y| y == 0.0).count(), 25);
    let odd = Dataset::Spiral.generate(51, 0);
    assert_eq!((odd.n, odd.x.len()), (50, 50));
    // Class 0 starts at t = 10·5/h: x = t·cos(t)/20 + 0.5.
    let t = 10.0 * 5.0 / 25.0_f64;
    assert!((g.x[0][0] - (t * t.cos() / 20.0 + 0.5)).abs() < 1e-12);
    assert!((g.x[0][1] - (t * t.sin() / 20.0 + 0.5)).abs() < 1e-12);
}

fn accuracy(dataset: Dataset, epochs: usize) -> (usize, f64, f64) {
    let config = TrainConfig {
        dataset,
        epochs,
        seed: 3,
        backend: Backend::Simple,
        ..TrainConfig::default()
    };
    let trained = train(&config, None, |_| {}).unwrap();
    let first = trained.history.first().unwrap().loss;
    let last = trained.history.last().unwrap();
    (last.correct, first, last.loss)
}

#[test]
fn trains_simple_on_the_reference_backend() {
    let (correct, first, last) = accuracy(Dataset::Simple, 500);
    assert!(correct >= 48, "simple: {correct}/50");
    assert!(last < first, "loss did not fall: {first} → {last}");
}

#[test]
fn trains_xor_on_the_reference_backend() {
    let (correct, first, last) = accuracy(Dataset::Xor, 500);
    assert!(correct >= 48, "xor: {correct}/50");
    assert!(last < first, "loss did not fall: {first} → {last}");
}

#[test]
fn same_seed_same_losses() {
    let config = TrainConfig {
        epochs: 5,
        hidden: 8,
        ..TrainConfig::default()
    };
    let a: Vec<f64> = train(&config, None, |_| {})
        .unwrap()
        .history
        .iter()
        .map(|r| r.loss)
        .collect();
    let b: Vec<f64> = train(&config, None, |_| {})
        .unwrap()
        .history
        .iter()
        .map(|r| r.loss)
        .collect();
    assert_eq!(a, b);
}
