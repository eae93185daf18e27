//! The training loop of MiniTorch task 3.5: the course network on a 2-D dataset with SGD over
//! shuffled mini-batches.
//!
//! Per batch: `out = model(X).view(B)`, `prob = out·y + (out − 1)·(y − 1)`,
//! `loss = −log(prob)`, backward on `(loss / B).sum()` (the gradient of the batch mean), SGD step.

use crate::backend::Backend;
use crate::datasets::{Dataset, Graph};
use crate::error::{Error, Result};
use crate::module::Module;
use crate::nn::Network;
use crate::optim::Sgd;
use crate::random::Rng;
use crate::tensor::Tensor;
use std::time::{Duration, Instant};

/// Everything that defines a training run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Which dataset.
    pub dataset: Dataset,
    /// Points in the dataset.
    pub pts: usize,
    /// Units per hidden layer.
    pub hidden: usize,
    /// SGD learning rate.
    pub rate: f64,
    /// Passes over the data.
    pub epochs: usize,
    /// Points per batch (the last batch may be shorter).
    pub batch: usize,
    /// Seed for the data, the initial weights and the shuffles.
    pub seed: u64,
    /// Where the tensors live.
    pub backend: Backend,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            dataset: Dataset::Simple,
            pts: 50,
            hidden: 100,
            rate: 0.05,
            epochs: 500,
            batch: 10,
            seed: 42,
            backend: Backend::default(),
        }
    }
}

impl TrainConfig {
    /// Rejects values no run can use, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |what, message: &str| {
            Err(Error::Invalid {
                what,
                message: message.to_string(),
            })
        };
        if self.pts == 0 {
            return bad("pts", "must be at least 1");
        }
        if self.hidden == 0 {
            return bad("hidden", "must be at least 1");
        }
        if self.batch == 0 {
            return bad("batch", "must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return bad(
                "rate",
                &format!("must be a positive number, got {}", self.rate),
            );
        }
        if self.dataset == Dataset::Spiral && self.pts < 2 {
            return bad("pts", "spiral needs at least 2 points");
        }
        Ok(())
    }
}

/// What one epoch did.
#[derive(Clone, Debug)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Total loss over all batches of the epoch.
    pub loss: f64,
    /// Points classified correctly after the epoch's updates.
    pub correct: usize,
    /// Time spent on the epoch's training steps (evaluation excluded).
    pub elapsed: Duration,
}

/// A trained model with its data.
pub struct Trained {
    /// The network.
    pub model: Network,
    /// The data it was trained on.
    pub data: Graph,
    /// One report per epoch.
    pub history: Vec<EpochReport>,
}

/// The points as a (n, 2) tensor and labels as (n,).
pub fn as_tensors(data: &Graph, rows: &[usize], backend: Backend) -> Result<(Tensor, Tensor)> {
    let x: Vec<f64> = rows.iter().flat_map(|&i| data.x[i]).collect();
    let y: Vec<f64> = rows.iter().map(|&i| data.y[i]).collect();
    Ok((
        Tensor::from_vec(x, &[rows.len(), 2])?.to(backend),
        Tensor::from_vec(y, &[rows.len()])?.to(backend),
    ))
}

/// Points of `data` the model classifies correctly (probability > 0.5 means class 1).
pub fn count_correct(model: &Network, data: &Graph, backend: Backend) -> Result<usize> {
    let rows: Vec<usize> = (0..data.n).collect();
    let (x, _) = as_tensors(data, &rows, backend)?;
    let out = model.forward(&x)?.to_vec();
    Ok(out
        .iter()
        .zip(&data.y)
        .filter(|(p, y)| (**p > 0.5) == (**y == 1.0))
        .count())
}

/// Trains the course network as `config` says, calling `on_epoch` after every epoch.
pub fn train(config: &TrainConfig, mut on_epoch: impl FnMut(&EpochReport)) -> Result<Trained> {
    config.validate()?;
    let data = config.dataset.generate(config.pts, config.seed);
    let mut rng = Rng::seed(config.seed.wrapping_add(1));
    let model = Network::new(config.hidden, config.backend, &mut rng)?;
    let optim = Sgd::new(model.parameters(), config.rate)?;
    let mut order: Vec<usize> = (0..data.n).collect();
    let mut history = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        let start = Instant::now();
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for rows in order.chunks(config.batch) {
            total += step(&model, &optim, &data, rows, config.backend)?;
        }
        let elapsed = start.elapsed();
        let correct = count_correct(&model, &data, config.backend)?;
        let report = EpochReport {
            epoch,
            loss: total,
            correct,
            elapsed,
        };
        on_epoch(&report);
        history.push(report);
    }
    Ok(Trained {
        model,
        data,
        history,
    })
}

/// One SGD step on the batch `rows` of `data`; returns the batch's total loss.
pub fn step(
    model: &Network,
    optim: &Sgd,
    data: &Graph,
    rows: &[usize],
    backend: Backend,
) -> Result<f64> {
    let b = rows.len();
    let (x, y) = as_tensors(data, rows, backend)?;
    optim.zero_grad();
    let out = model.forward(&x)?.view(&[b])?;
    let one = out.scalar_like(1.0);
    let prob = out.mul(&y)?.add(&out.sub(&one)?.mul(&y.sub(&one)?)?)?;
    let loss = prob.log()?.neg()?;
    let total = loss.sum_all()?;
    total.mul(&out.scalar_like(1.0 / b as f64))?.backward()?;
    optim.step()?;
    total.item()
}
