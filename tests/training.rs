//! Datasets (label rules, seeding), seeded end-to-end training on every engine, and checkpoints.

use minitorch::datasets::{Dataset, make_pts};
use minitorch::train::{Engine, Model, TrainConfig, train};
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
        engine: Engine::Tensor(Backend::Simple),
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

fn run(
    dataset: Dataset,
    engine: Engine,
    hidden: usize,
    rate: f64,
    epochs: usize,
    seed: u64,
) -> minitorch::train::Trained {
    let config = TrainConfig {
        dataset,
        engine,
        hidden,
        rate,
        epochs,
        seed,
        ..TrainConfig::default()
    };
    train(&config, None, |_| {}).unwrap()
}

#[test]
fn every_dataset_reaches_its_accuracy_floor_on_the_fast_backend() {
    for ds in Dataset::ALL {
        let (hidden, rate, epochs) = ds.training_preset();
        let floor = match ds {
            Dataset::Circle => 45,
            Dataset::Spiral => 40,
            _ => 48,
        };
        let trained = run(ds, Engine::Tensor(Backend::Fast), hidden, rate, epochs, 3);
        let last = trained.history.last().unwrap();
        assert!(last.correct >= floor, "{ds}: {}/50 < {floor}", last.correct);
    }
}

/// The three engines start from identical weights and do the same arithmetic, so they agree
/// to rounding — and reach the same accuracy.
#[test]
fn scalar_simple_and_fast_engines_agree() {
    for ds in [Dataset::Simple, Dataset::Xor] {
        let runs: Vec<_> = [
            Engine::Scalar,
            Engine::Tensor(Backend::Simple),
            Engine::Tensor(Backend::Fast),
        ]
        .into_iter()
        .map(|e| run(ds, e, 10, 0.5, 150, 4).history.last().unwrap().clone())
        .collect();
        for r in &runs {
            assert!(r.correct >= 48, "{ds}: {}/50", r.correct);
            assert!(
                (r.loss - runs[0].loss).abs() <= 1e-9 * runs[0].loss.abs().max(1.0),
                "{ds}: {} vs {}",
                r.loss,
                runs[0].loss
            );
            assert_eq!(r.correct, runs[0].correct, "{ds}");
        }
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("minitorch-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn save_then_load_gives_bit_identical_predictions() {
    let trained = run(Dataset::Xor, Engine::Tensor(Backend::Fast), 20, 0.1, 30, 9);
    let path = temp("roundtrip.safetensors");
    trained.model.save(&path).unwrap();
    let grid: Vec<[f64; 2]> = (0..100)
        .map(|i| [(i % 10) as f64 / 10.0, (i / 10) as f64 / 10.0])
        .collect();
    let want = trained.model.predict(&grid).unwrap();
    for engine in [
        Engine::Tensor(Backend::Fast),
        Engine::Tensor(Backend::Simple),
        Engine::Scalar,
    ] {
        let fresh = Model::new(engine, 20, &mut Rng::seed(123)).unwrap();
        assert_ne!(fresh.predict(&grid).unwrap(), want);
        fresh.load(&path).unwrap();
        let got = fresh.predict(&grid).unwrap();
        if engine == Engine::Tensor(Backend::Fast) {
            assert_eq!(got, want, "bit-identical on the same engine");
        } else {
            assert!(
                got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12),
                "{engine}"
            );
        }
    }
    assert_eq!(minitorch::train::checkpoint_hidden(&path).unwrap(), 20);
    // Resuming training from the file starts where the saved model ended.
    let config = TrainConfig {
        dataset: Dataset::Xor,
        hidden: 20,
        rate: 0.1,
        epochs: 1,
        seed: 9,
        ..TrainConfig::default()
    };
    assert!(train(&config, Some(&path), |_| {}).is_ok());
}

#[test]
fn bad_checkpoints_are_refused_with_the_reason() {
    let model = Model::new(Engine::Tensor(Backend::Fast), 8, &mut Rng::seed(1)).unwrap();
    let good = temp("good.safetensors");
    model.save(&good).unwrap();
    let err = |path: &std::path::Path| model.load(path).unwrap_err().to_string();

    let missing = temp("nope.safetensors");
    assert!(err(&missing).contains("cannot read"), "{}", err(&missing));

    let bytes = std::fs::read(&good).unwrap();
    let truncated = temp("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 9]).unwrap();
    assert!(
        err(&truncated).contains("not a valid safetensors file"),
        "{}",
        err(&truncated)
    );

    let garbage = temp("garbage.safetensors");
    std::fs::write(&garbage, b"hello, this is not a model").unwrap();
    assert!(
        err(&garbage).contains("not a valid safetensors file"),
        "{}",
        err(&garbage)
    );

    let wider = temp("wider.safetensors");
    Model::new(Engine::Tensor(Backend::Fast), 9, &mut Rng::seed(1))
        .unwrap()
        .save(&wider)
        .unwrap();
    assert!(
        err(&wider).contains("tensor layer1.weights has shape [2, 9], the model needs [2, 8]"),
        "{}",
        err(&wider)
    );

    let renamed = temp("renamed.safetensors");
    let mut state = model.state();
    state[0].name = "layer1.weight".into();
    minitorch::checkpoint::save(&renamed, &state).unwrap();
    assert!(
        err(&renamed).contains("missing tensor layer1.weights"),
        "{}",
        err(&renamed)
    );

    let extra = temp("extra.safetensors");
    let mut state = model.state();
    state.push(minitorch::checkpoint::NamedTensor {
        name: "layer4.bias".into(),
        shape: vec![1],
        values: vec![0.0],
    });
    minitorch::checkpoint::save(&extra, &state).unwrap();
    assert!(
        err(&extra).contains("unexpected tensor layer4.bias"),
        "{}",
        err(&extra)
    );
    // Failed loads leave the model as it was.
    let mut saved = minitorch::checkpoint::load(&good).unwrap();
    let mut now = model.state();
    saved.sort_by(|a, b| a.name.cmp(&b.name));
    now.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(now, saved);
}

#[test]
fn engine_names_parse_with_clear_errors() {
    assert_eq!("scalar".parse::<Engine>().unwrap(), Engine::Scalar);
    assert_eq!(
        "simple".parse::<Engine>().unwrap(),
        Engine::Tensor(Backend::Simple)
    );
    assert_eq!(
        "cuda".parse::<Engine>().unwrap(),
        Engine::Tensor(Backend::Cuda)
    );
    assert_eq!(
        "cuda-sim".parse::<Engine>().unwrap(),
        Engine::Tensor(Backend::CudaSim)
    );
    assert!(
        "tpu"
            .parse::<Engine>()
            .unwrap_err()
            .to_string()
            .contains("unknown backend \"tpu\"")
    );
}
