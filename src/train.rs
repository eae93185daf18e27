//! The training loop of MiniTorch task 3.5: the course network on a 2-D dataset with SGD over
//! shuffled mini-batches, on the tensor engine (any backend) or the scalar engine.
//!
//! Per batch: `out = model(X).view(B)`, `prob = out·y + (out − 1)·(y − 1)`,
//! `loss = −log(prob)` (as one op, [`Tensor::binary_nll`](crate::Tensor::binary_nll): the same
//! values as the course's eight), backward on `(loss / B).sum()` (the gradient of the batch
//! mean: backward from `loss.sum()` seeded with 1/B, the same gradients), SGD step.

use crate::backend::Backend;
use crate::checkpoint::{self, NamedTensor};
use crate::datasets::{Dataset, Graph};
use crate::error::{Error, Result};
use crate::module::Module;
use crate::nn::Network;
use crate::optim::Sgd;
use crate::random::Rng;
use crate::scalar::Scalar;
use crate::scalar_network::ScalarNetwork;
use crate::tensor::Tensor;
use crate::tensor_data::{TensorData, collect_values, reserved};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What computes the network: the tensor engine on a backend, or the scalar engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Tensors on a backend (Module 2 and 3).
    Tensor(Backend),
    /// One scalar per weight (Module 1).
    Scalar,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Tensor(b) => write!(f, "{b}"),
            Engine::Scalar => f.write_str("scalar"),
        }
    }
}

impl FromStr for Engine {
    type Err = Error;
    fn from_str(s: &str) -> Result<Engine> {
        match s {
            "scalar" => Ok(Engine::Scalar),
            "gpu" => Ok(Engine::Tensor(Backend::Cuda)),
            other => other
                .parse::<Backend>()
                .map(Engine::Tensor)
                .map_err(|_| Error::Invalid {
                    what: "backend",
                    message: format!(
                        "unknown backend {other:?}; expected one of: fast, simple, scalar, cuda-sim, cuda"
                    ),
                }),
        }
    }
}

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
    /// What computes the network.
    pub engine: Engine,
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
            engine: Engine::Tensor(Backend::Fast),
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

/// The course network on either engine.
pub enum Model {
    /// Tensor engine.
    Tensor(Network),
    /// Scalar engine.
    Scalar(Box<ScalarNetwork>),
}

impl Model {
    /// A freshly initialised network (weights uniform on [−0.5, 0.5), biases 0.1).
    pub fn new(engine: Engine, hidden: usize, rng: &mut Rng) -> Result<Model> {
        Ok(match engine {
            Engine::Tensor(backend) => Model::Tensor(Network::new(hidden, backend, rng)?),
            Engine::Scalar => Model::Scalar(Box::new(ScalarNetwork::new(hidden, rng)?)),
        })
    }

    /// The model as a module tree.
    pub fn module(&self) -> &dyn Module {
        match self {
            Model::Tensor(n) => n,
            Model::Scalar(n) => n.as_ref(),
        }
    }

    /// Class-1 probabilities of `points`.
    pub fn predict(&self, points: &[[f64; 2]]) -> Result<Vec<f64>> {
        match self {
            Model::Tensor(net) => {
                let flat: Vec<f64> = points.iter().flatten().copied().collect();
                let x = Tensor::from_vec(flat, &[points.len(), 2])?.try_to(net.layer1.backend())?;
                Ok(net.forward(&x)?.to_vec())
            }
            Model::Scalar(net) => Ok(points.iter().map(|&p| net.forward(p).data()).collect()),
        }
    }

    /// One SGD step on the batch `rows` of `data`; returns the batch's total loss.
    pub fn step(&self, optim: &Sgd, data: &Graph, rows: &[usize]) -> Result<f64> {
        let b = rows.len();
        optim.zero_grad();
        let total = match self {
            Model::Tensor(net) => {
                let (x, y) = as_tensors(data, rows, net.layer1.backend())?;
                let out = net.forward(&x)?.view(&[b])?;
                // −log(out·y + (out − 1)·(y − 1)), the course's loss, as one op; the gradient
                // of the batch mean (total / B) by starting backward from 1/B.
                let total = out.binary_nll(&y)?.sum_all()?;
                total.backward_with(&total.scalar_like(1.0 / b as f64))?;
                total.item()?
            }
            Model::Scalar(net) => {
                let mut total = Scalar::constant(0.0);
                for &i in rows {
                    let out = net.forward(data.x[i]);
                    let y = data.y[i];
                    let prob = &out * y + (&out - 1.0) * (y - 1.0);
                    total = total - prob.log();
                }
                (&total * (1.0 / b as f64)).backward();
                total.data()
            }
        };
        optim.step()?;
        Ok(total)
    }

    /// The parameters as named tensors (`layer1.weights`, `layer1.bias`, …).
    pub fn state(&self) -> Vec<NamedTensor> {
        match self {
            Model::Tensor(net) => checkpoint::state_of(net),
            Model::Scalar(net) => net.state(),
        }
    }

    /// Writes the parameters to a safetensors file (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        checkpoint::save(path, &self.state())
    }

    /// Replaces the parameters with a checkpoint's; its names and shapes must match exactly.
    pub fn load(&self, path: &Path) -> Result<()> {
        let found = checkpoint::load(path)?;
        match self {
            Model::Tensor(net) => checkpoint::restore(net, path, &found)?,
            Model::Scalar(net) => {
                checkpoint::check_matches(path, &self.state(), &found)?;
                net.load_state(&found);
            }
        }
        Ok(())
    }
}

/// The hidden size recorded in a checkpoint (the width of `layer1.weights`).
pub fn checkpoint_hidden(path: &Path) -> Result<usize> {
    let found = checkpoint::load(path)?;
    found
        .iter()
        .find(|t| t.name == "layer1.weights" && t.shape.len() == 2 && t.shape[0] == 2)
        .map(|t| t.shape[1])
        .ok_or_else(|| Error::File {
            path: path.display().to_string(),
            message:
                "no layer1.weights of shape (2, hidden): not a checkpoint of the course network"
                    .into(),
        })
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
    pub model: Model,
    /// The data it was trained on.
    pub data: Graph,
    /// One report per epoch.
    pub history: Vec<EpochReport>,
}

/// Rows of the data as a (rows, 2) tensor of points and a (rows,) tensor of labels.
pub fn as_tensors(data: &Graph, rows: &[usize], backend: Backend) -> Result<(Tensor, Tensor)> {
    let n = rows.len();
    let mut x = reserved("as_tensors", 2 * n, &[n, 2])?;
    x.extend(rows.iter().flat_map(|&i| data.x[i]));
    let y = collect_values("as_tensors", &[n], rows.iter().map(|&i| data.y[i]))?;
    let on_backend = |values, shape: &[usize]| -> Result<Tensor> {
        let data = backend.kernels().adopt(&TensorData::new(values, shape)?)?;
        Ok(Tensor::from_data(data, backend))
    };
    Ok((on_backend(x, &[n, 2])?, on_backend(y, &[n])?))
}

/// Points of `data` the model classifies correctly (probability > 0.5 means class 1).
pub fn count_correct(model: &Model, data: &Graph) -> Result<usize> {
    let out = model.predict(&data.x)?;
    Ok(out
        .iter()
        .zip(&data.y)
        .filter(|(p, y)| (**p > 0.5) == (**y == 1.0))
        .count())
}

/// Total loss `Σ −log(prob of the true label)` of the model on `data`.
pub fn total_loss(model: &Model, data: &Graph) -> Result<f64> {
    let out = model.predict(&data.x)?;
    Ok(out
        .iter()
        .zip(&data.y)
        .map(|(&p, &y)| -crate::operators::log(if y == 1.0 { p } else { 1.0 - p }))
        .sum())
}

/// Trains the course network as `config` says (starting from the checkpoint `resume` when
/// given), calling `on_epoch` after every epoch.
pub fn train(
    config: &TrainConfig,
    resume: Option<&Path>,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<Trained> {
    config.validate()?;
    let data = config.dataset.generate(config.pts, config.seed);
    let mut rng = Rng::seed(config.seed.wrapping_add(1));
    let model = Model::new(config.engine, config.hidden, &mut rng)?;
    if let Some(path) = resume {
        model.load(path)?;
    }
    let optim = Sgd::new(model.module().parameters(), config.rate)?;
    let mut order: Vec<usize> = (0..data.n).collect();
    // Capped: a huge epoch count must not fail (or abort) on the reservation before it runs.
    let mut history = Vec::with_capacity(config.epochs.min(1 << 16));
    for epoch in 1..=config.epochs {
        let start = Instant::now();
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for rows in order.chunks(config.batch) {
            total += model.step(&optim, &data, rows)?;
        }
        let elapsed = start.elapsed();
        let correct = count_correct(&model, &data)?;
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
