//! The course's MNIST network (MiniTorch task 4.5, `run_mnist_multiclass.py`): a small
//! LeNet-style classifier of 28×28 digits.
//!
//! conv 1→4 3×3, ReLU → conv 4→8 3×3, ReLU → 4×4 pooling (average, or max) → (B, 8, 7, 7) →
//! view (B, 392) → Linear 392→64, ReLU → dropout 0.25 (training only) → Linear 64→10 →
//! logsoftmax. Every weight starts as `0.1 · (rand − 0.5)`. The loss is the mean negative
//! log-likelihood, `−Σ(out · onehot) / B`.

use crate::backend::Backend;
use crate::checkpoint::{self, NamedTensor};
use crate::error::{Error, Result};
use crate::module::{Mode, Module};
use crate::nn::functional::{Dropout, dropout, logsoftmax, maxpool2d};
use crate::nn::{Conv2d, Linear};
use crate::random::Rng;
use crate::tensor::Tensor;
use std::path::Path;

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Number of classes.
pub const CLASSES: usize = 10;

/// The pooling after the convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pool {
    /// Average over 4×4 blocks (the course's choice).
    #[default]
    Avg,
    /// Maximum over 4×4 blocks.
    Max,
}

/// The network; see the [module docs](self).
pub struct MnistNet {
    mode: Mode,
    /// conv 1→4, 3×3.
    pub conv1: Conv2d,
    /// conv 4→8, 3×3.
    pub conv2: Conv2d,
    /// Linear 392→64.
    pub linear1: Linear,
    /// Linear 64→10.
    pub linear2: Linear,
    pool: Pool,
    dropout: f64,
}

impl MnistNet {
    /// A new network on `backend`, initialised from `rng`.
    pub fn new(backend: Backend, pool: Pool, rng: &mut Rng) -> Result<MnistNet> {
        Ok(MnistNet {
            mode: Mode::default(),
            conv1: Conv2d::new(1, 4, (3, 3), backend, rng)?,
            conv2: Conv2d::new(4, 8, (3, 3), backend, rng)?,
            linear1: Linear::small(392, 64, backend, rng)?,
            linear2: Linear::small(64, CLASSES, backend, rng)?,
            pool,
            dropout: 0.25,
        })
    }

    /// Log-probabilities (B, 10) for a batch of images (B, 1, 28, 28). Dropout draws from
    /// `rng` in training mode.
    pub fn forward(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        if x.dims() != 4 || x.shape()[1..] != [1, SIDE, SIDE] {
            return Err(Error::Invalid {
                what: "MnistNet",
                message: format!(
                    "expected images of shape (B, 1, 28, 28), got {:?}",
                    x.shape()
                ),
            });
        }
        let batch = x.shape()[0];
        let h = self.conv1.forward_relu(x)?;
        // Average pooling as part of the layer's op (its backward reads the pooled gradient).
        let h = match self.pool {
            Pool::Avg => self.conv2.forward_relu_avgpool(&h, (4, 4))?,
            Pool::Max => maxpool2d(&self.conv2.forward_relu(&h)?, (4, 4))?,
        };
        let h = h.view(&[batch, 392])?;
        let h = self.linear1.forward_relu(&h)?;
        let h = dropout(&h, self.dropout, self.is_training(), Dropout::Course, rng)?;
        logsoftmax(&self.linear2.forward(&h)?, 1)
    }
}

impl Module for MnistNet {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        vec![
            ("conv1", &self.conv1),
            ("conv2", &self.conv2),
            ("linear1", &self.linear1),
            ("linear2", &self.linear2),
        ]
    }
}

/// The mean negative log-likelihood of log-probabilities `out` (B, C) for one-hot `targets`
/// (B, C): `−Σ(out · targets) / B`.
pub fn nll_loss(out: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let batch = out.shape()[0] as f64;
    out.mul(targets)?
        .sum_all()?
        .mul(&out.scalar_like(-1.0 / batch))
}

/// One-hot rows (B, 10) for `labels`, on `backend`.
pub fn one_hot(labels: &[u8], backend: Backend) -> Result<Tensor> {
    let mut v = vec![0.0; labels.len() * CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        if usize::from(l) >= CLASSES {
            return Err(Error::Invalid {
                what: "one_hot",
                message: format!("label {l} at position {i} is not a digit 0–9"),
            });
        }
        v[i * CLASSES + usize::from(l)] = 1.0;
    }
    Tensor::from_vec(v, &[labels.len(), CLASSES])?.try_to(backend)
}

/// The predicted class of each row of log-probabilities (B, 10) (the first maximum).
pub fn predictions(out: &Tensor) -> Vec<u8> {
    out.to_vec()
        .chunks(CLASSES)
        .map(|row| {
            let mut best = 0;
            for (k, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = k;
                }
            }
            best as u8
        })
        .collect()
}

/// Images and labels to train or score on: `images` holds `labels.len()` images of 28×28
/// pixels 0–255, row-major, one after another.
#[derive(Clone, Copy)]
pub struct Digits<'a> {
    /// The pixels, 784 per image.
    pub images: &'a [u8],
    /// The digit of each image.
    pub labels: &'a [u8],
}

impl Digits<'_> {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images at `rows` as a (B, 1, 28, 28) tensor on `backend`: pixels 0–255 as the
    /// course feeds them, or scaled to [0, 1] with `normalize`.
    pub fn batch(&self, rows: &[usize], normalize: bool, backend: Backend) -> Result<Tensor> {
        let scale = if normalize { 1.0 / 255.0 } else { 1.0 };
        let pixels = SIDE * SIDE;
        let mut values = Vec::with_capacity(rows.len() * pixels);
        for &r in rows {
            values.extend(
                self.images[r * pixels..][..pixels]
                    .iter()
                    .map(|&p| f64::from(p) * scale),
            );
        }
        Tensor::from_vec(values, &[rows.len(), 1, SIDE, SIDE])?.try_to(backend)
    }

    /// The labels at `rows`.
    pub fn labels_at(&self, rows: &[usize]) -> Vec<u8> {
        rows.iter().map(|&r| self.labels[r]).collect()
    }
}

/// How to train: the course's settings by default.
#[derive(Clone, Copy, Debug)]
pub struct MnistConfig {
    /// Images per step (16).
    pub batch: usize,
    /// Scale pixels to [0, 1] instead of the course's 0–255.
    pub normalize: bool,
    /// Shuffle the training images each epoch (seeded); the course walks them in order.
    pub shuffle: bool,
}

impl Default for MnistConfig {
    fn default() -> Self {
        MnistConfig {
            batch: 16,
            normalize: false,
            shuffle: true,
        }
    }
}

/// One pass over `data` in batches of `config.batch` (the last one may be smaller): forward,
/// NLL loss, backward, SGD step. `on_batch(done, total)` reports progress. Returns the mean
/// loss per batch.
pub fn train_epoch(
    net: &MnistNet,
    optim: &dyn crate::optim::Optimizer,
    data: Digits<'_>,
    config: &MnistConfig,
    rng: &mut Rng,
    on_batch: impl FnMut(usize, usize),
) -> Result<f64> {
    let backend = net.backend();
    let schedule = (data.len(), config.batch, config.shuffle);
    super::train_batches(net, optim, schedule, rng, on_batch, |rows, rng| {
        let x = data.batch(rows, config.normalize, backend)?;
        let y = one_hot(&data.labels_at(rows), backend)?;
        nll_loss(&net.forward(&x, rng)?, &y)
    })
}

/// Scores `data` in evaluation mode (no dropout): correct predictions, the mean loss per
/// image, and the confusion matrix (`[true][predicted]`).
pub fn evaluate(
    net: &MnistNet,
    data: Digits<'_>,
    normalize: bool,
    batch: usize,
) -> Result<Evaluation> {
    let backend = net.backend();
    let was_training = net.is_training();
    net.eval();
    let mut result = Evaluation {
        correct: 0,
        total: data.len(),
        loss: 0.0,
        confusion: [[0; CLASSES]; CLASSES],
        predicted: Vec::with_capacity(data.len()),
    };
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut rng = Rng::seed(0);
    for chunk in rows.chunks(batch.max(1)) {
        let x = data.batch(chunk, normalize, backend)?;
        let labels = data.labels_at(chunk);
        let out = net.forward(&x, &mut rng)?;
        result.loss += nll_loss(&out, &one_hot(&labels, backend)?)?.item()? * chunk.len() as f64;
        for (p, l) in predictions(&out).into_iter().zip(labels) {
            result.correct += usize::from(p == l);
            result.confusion[usize::from(l)][usize::from(p)] += 1;
            result.predicted.push(p);
        }
    }
    result.loss /= data.len().max(1) as f64;
    if was_training {
        net.train();
    }
    Ok(result)
}

/// What [`evaluate`] found.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Images classified correctly.
    pub correct: usize,
    /// Images scored.
    pub total: usize,
    /// Mean loss per image.
    pub loss: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: [[usize; CLASSES]; CLASSES],
    /// The predicted digit of each image, in order.
    pub predicted: Vec<u8>,
}

impl MnistNet {
    /// The backend the weights live on.
    pub fn backend(&self) -> Backend {
        self.conv1.weights.get().backend()
    }

    /// The parameters as named tensors (what `minitorch mnist --save` writes).
    pub fn state(&self) -> Vec<NamedTensor> {
        checkpoint::state_of(self)
    }

    /// Replaces the parameters with `found` (read from the checkpoint at `path`, which only
    /// names it in errors); see [`checkpoint::restore`].
    pub fn load_state(&self, path: &Path, found: &[NamedTensor]) -> Result<()> {
        checkpoint::restore(self, path, found)
    }

    /// Replaces the parameters with those of the checkpoint at `path` (see
    /// [`load_state`](Self::load_state)).
    pub fn load(&self, path: &Path) -> Result<()> {
        self.load_state(path, &checkpoint::load(path)?)
    }
}
