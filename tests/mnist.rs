//! The course's MNIST network (task 4.5) learns: on synthetic digits (class k is a bright band
//! at rows 2k+3..2k+6, plus noise), a few batches lower the loss on the fast backend and on
//! cuda-sim, and a short run classifies held-out digits. The real data runs are CLI runs
//! (README, "Module 4: images").

mod common;

use minitorch::models::mnist::{
    Digits, MnistConfig, MnistNet, Pool, evaluate, nll_loss, one_hot, train_epoch,
};
use minitorch::module::Module;
use minitorch::optim::Sgd;
use minitorch::{Backend, Rng};

fn synthetic(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::seed(seed);
    let mut images = vec![0u8; n * 784];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 10) as u8;
        labels.push(label);
        for r in 0..28 {
            for c in 0..28 {
                let band = (2 * label as usize + 3..2 * label as usize + 6).contains(&r);
                let noise = (rng.uniform() * 60.0) as u8;
                images[i * 784 + r * 28 + c] = if band && (4..24).contains(&c) {
                    200 + noise / 2
                } else {
                    noise
                };
            }
        }
    }
    (images, labels)
}

/// Trains 3 epochs of `steps` batches; returns the loss on the first batch before, each
/// epoch's mean training loss, and the first batch's loss after.
fn train_on(backend: Backend, batch: usize, steps: usize) -> (f64, Vec<f64>, f64) {
    let (images, labels) = synthetic(batch * steps, 1);
    let data = Digits {
        images: &images,
        labels: &labels,
    };
    let mut rng = Rng::seed(2);
    let net = MnistNet::new(backend, Pool::Avg, &mut rng).unwrap();
    let optim = Sgd::new(net.parameters(), 0.01).unwrap();
    let rows: Vec<usize> = (0..batch).collect();
    let x = data.batch(&rows, false, backend).unwrap();
    let y = one_hot(&data.labels_at(&rows), backend).unwrap();
    net.eval();
    let before = nll_loss(&net.forward(&x, &mut rng).unwrap(), &y)
        .unwrap()
        .item()
        .unwrap();
    let config = MnistConfig {
        batch,
        normalize: false,
        shuffle: false,
    };
    let epochs = (0..3)
        .map(|_| train_epoch(&net, &optim, data, &config, &mut rng, |_, _| {}).unwrap())
        .collect();
    net.eval();
    let after = nll_loss(&net.forward(&x, &mut rng).unwrap(), &y)
        .unwrap()
        .item()
        .unwrap();
    (before, epochs, after)
}

/// Requires the loss on the first batch to fall below `factor` times its start.
fn loss_falls_on(backend: Backend, batch: usize, steps: usize, factor: f64) {
    let (before, _, after) = train_on(backend, batch, steps);
    assert!(
        after < before * factor,
        "{backend}: loss {before} -> {after}"
    );
}

#[test]
fn the_network_learns_on_the_fast_backend() {
    loss_falls_on(Backend::Fast, 16, 10, 0.9);
}

#[test]
fn the_network_learns_on_cuda_sim() {
    // Few, small batches: the simulator runs every GPU thread on the CPU.
    loss_falls_on(Backend::CudaSim, 4, 5, 0.98);
}

/// On a GPU the network trains as on the fast backend: the same losses, epoch by epoch (the
/// dropout masks come from the same host generator), and a falling loss. Says why it skips
/// without a GPU; fails then under `MINITORCH_REQUIRE_CUDA=1`.
#[test]
fn the_network_learns_on_a_gpu_as_on_the_fast_backend() {
    if !common::cuda_or_skip("the_network_learns_on_a_gpu_as_on_the_fast_backend") {
        return;
    }
    let fast = train_on(Backend::Fast, 16, 10);
    let gpu = train_on(Backend::Cuda, 16, 10);
    let pairs = [(fast.0, gpu.0), (fast.2, gpu.2)];
    for (f, g) in pairs
        .into_iter()
        .chain(fast.1.iter().copied().zip(gpu.1.clone()))
    {
        assert!(
            (f - g).abs() <= 1e-9 * (1.0 + f.abs()),
            "fast {fast:?} vs cuda {gpu:?}"
        );
    }
    assert!(gpu.2 < gpu.0 * 0.9, "cuda: loss {} -> {}", gpu.0, gpu.2);
}

#[test]
fn a_short_run_classifies_held_out_digits() {
    let (images, labels) = synthetic(700, 3);
    let train = Digits {
        images: &images[..600 * 784],
        labels: &labels[..600],
    };
    let valid = Digits {
        images: &images[600 * 784..],
        labels: &labels[600..],
    };
    let mut rng = Rng::seed(4);
    let net = MnistNet::new(Backend::Fast, Pool::Max, &mut rng).unwrap();
    let optim = Sgd::new(net.parameters(), 0.01).unwrap();
    let config = MnistConfig::default();
    let mut calls = 0;
    for _ in 0..4 {
        train_epoch(&net, &optim, train, &config, &mut rng, |done, total| {
            calls += 1;
            assert!(done <= total && total == 600usize.div_ceil(16));
        })
        .unwrap();
    }
    assert_eq!(calls, 4 * 38);
    let e = evaluate(&net, valid, false, 64).unwrap();
    assert_eq!(e.total, 100);
    assert_eq!(e.confusion.iter().flatten().sum::<usize>(), 100);
    assert!(e.correct >= 90, "{} of 100", e.correct);
    assert!(net.is_training(), "evaluate restores the training flag");
}

#[test]
fn bad_batches_are_errors() {
    let mut rng = Rng::seed(1);
    let net = MnistNet::new(Backend::Fast, Pool::Avg, &mut rng).unwrap();
    let x = minitorch::Tensor::zeros(&[2, 1, 27, 28]).unwrap();
    let err = net.forward(&x, &mut rng).unwrap_err().to_string();
    assert_eq!(
        err,
        "MnistNet: expected images of shape (B, 1, 28, 28), got [2, 1, 27, 28]"
    );
    assert!(
        one_hot(&[3, 10], Backend::Fast)
            .unwrap_err()
            .to_string()
            .contains("label 10")
    );
}
