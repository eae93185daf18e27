//! The course's sentiment network (MiniTorch task 4.5, `run_sentiment.py`): Kim's (2014) 1-D
//! convolutional sentence classifier over GloVe word vectors, on SST-2.
//!
//! A batch of sentences (B, L, D) — each token's D-dimensional vector, zero vectors after the
//! sentence's end — is permuted to (B, D, L) (channels = vector components, width = time); one
//! [`Conv1d`] D→maps per filter width (3, 4 and 5 in the course), each with its bias and a
//! ReLU; a max over time per feature map; the pooled (B, maps) of the convolutions summed;
//! then the [`Head`]:
//!
//! - [`Head::Course`] (the default, the course's setup as the project specifies it): Linear
//!   maps→1; dropout 0.25 (training only, MiniTorch's: no rescaling); sigmoid.
//! - [`Head::CourseRelu`] (MiniTorch's `run_sentiment.py` exactly): the same with a ReLU after
//!   the linear layer. The ReLU makes every probability at least 0.5: a sentence is called
//!   positive when it is above 0.5, that is when the linear layer's output is positive, and a
//!   negative sentence stops contributing gradient once its output is at or below 0. On unseen
//!   sentences this leans to "positive", and when every output of a batch is negative nothing
//!   flows back at all (the head can die: see the tests).
//! - [`Head::Kim`] (Kim 2014): dropout on the pooled features, Linear maps→1, sigmoid.
//!
//! Every weight and bias starts as `0.1 · (rand − 0.5)`.
//!
//! The word vectors are fixed by default (the course's). [`SentimentCnn::with_tuned_vectors`]
//! makes them a parameter instead (Kim's "non-static" variant): an [`Embedding`] table
//! initialised from GloVe that backpropagation trains along with the network; padding
//! positions are multiplied by 0, so they stay zero vectors and send no gradient.
//!
//! The loss is the mean binary cross-entropy `−Σ log(p·y + (1 − p)(1 − y)) / B`; the library's
//! `log` is `ln(x + 1e-6)`, which clamps each term at about 13.8, so the loss and its gradient
//! stay finite when a probability reaches exactly 0 or 1.
//!
//! [`Sentences`] holds token ids (see [`crate::data::text`]) and builds the padded batches;
//! [`train_epoch`] and [`evaluate`] run the course's loop (sentences in file order unless
//! shuffled, gradients zeroed before each step); [`checkpoint_tensors`] and
//! [`load_checkpoint`] save and restore the network with what prediction also needs: the
//! unknown-word vector, the padding length and the head.

mod checkpoint;

pub use checkpoint::{
    HEAD_NAME, LENGTH_NAME, Restored, UNKNOWN_NAME, WORDS_NAME, checkpoint_tensors, load_checkpoint,
};

use crate::backend::Backend;
use crate::data::text::EmbeddingTable;
use crate::error::{Error, Result};
use crate::module::{Mode, Module};
use crate::nn::functional::{Dropout, dropout};
use crate::nn::{Conv1d, Embedding, Linear};
use crate::optim::Optimizer;
use crate::random::Rng;
use crate::tensor::Tensor;

/// The course's filter widths.
pub const FILTERS: [usize; 3] = [3, 4, 5];
/// The course's feature maps per convolution.
pub const MAPS: usize = 100;
/// The course's dropout rate.
pub const DROPOUT: f64 = 0.25;
/// Longest padding length a checkpoint may record (SST-2's longest sentence has 52 tokens).
pub const MAX_LENGTH: usize = 1_000_000;

/// The layers after the pooled features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Head {
    /// The course's setup: Linear maps→1, dropout (no rescaling), sigmoid.
    #[default]
    Course,
    /// MiniTorch's `run_sentiment.py`: Linear maps→1, ReLU, dropout, sigmoid. The ReLU makes
    /// every probability at least 0.5 and stops the gradient of every sentence whose linear
    /// output is negative.
    CourseRelu,
    /// Kim's (2014): dropout on the pooled features (inverted: kept values are scaled by
    /// 1 / (1 − rate), so evaluation needs no rescaling), Linear maps→1, sigmoid (no ReLU on
    /// the output).
    Kim,
}

fn invalid(message: String) -> Error {
    Error::Invalid {
        what: "SentimentCnn",
        message,
    }
}

/// The network; see the [module docs](self).
pub struct SentimentCnn {
    mode: Mode,
    /// One convolution per filter width, `conv1`, `conv2`, … in the order of the widths.
    pub convs: Vec<Conv1d>,
    names: Vec<String>,
    /// Linear maps→1.
    pub linear: Linear,
    filters: Vec<usize>,
    embedding: usize,
    maps: usize,
    dropout: f64,
    head: Head,
    tuned: Option<Embedding>,
}

impl SentimentCnn {
    /// A network over `embedding`-dimensional word vectors with `maps` feature maps per
    /// filter width in `filters`, dropout [`DROPOUT`], on `backend`, initialised from `rng`
    /// (the convolutions in order, then the linear layer). Errors when a size is 0 or there
    /// is no filter.
    pub fn new(
        embedding: usize,
        maps: usize,
        filters: &[usize],
        backend: Backend,
        rng: &mut Rng,
    ) -> Result<SentimentCnn> {
        if filters.is_empty() || embedding == 0 || maps == 0 || filters.contains(&0) {
            return Err(invalid(format!(
                "needs at least one filter width and sizes of at least 1 (embedding \
                 {embedding}, maps {maps}, filters {filters:?})"
            )));
        }
        let convs = filters
            .iter()
            .map(|&k| Conv1d::new(embedding, maps, k, backend, rng))
            .collect::<Result<Vec<_>>>()?;
        Ok(SentimentCnn {
            mode: Mode::default(),
            convs,
            names: (1..=filters.len()).map(|i| format!("conv{i}")).collect(),
            linear: Linear::small(maps, 1, backend, rng)?,
            filters: filters.to_vec(),
            embedding,
            maps,
            dropout: DROPOUT,
            head: Head::Course,
            tuned: None,
        })
    }

    /// The same network with trainable word vectors: a parameter `embedding.weights`
    /// initialised from `table`'s rows (see the [module docs](self)). Errors when the table's
    /// vectors are not of the network's dimension.
    pub fn with_tuned_vectors(mut self, table: &EmbeddingTable) -> Result<SentimentCnn> {
        if table.dim() != self.embedding {
            return Err(invalid(format!(
                "the word vectors have {} values, the network takes {}",
                table.dim(),
                self.embedding
            )));
        }
        let backend = self.backend();
        self.tuned = Some(Embedding::from_values(
            table.values().to_vec(),
            table.rows(),
            table.dim(),
            backend,
        )?);
        Ok(self)
    }

    /// The trainable word vectors, when the network has them.
    pub fn tuned_vectors(&self) -> Option<&Embedding> {
        self.tuned.as_ref()
    }

    /// The (B, L, D) input of `sentences` (token ids of `table`), each followed by zero
    /// vectors up to `L`: `length`, or the longest sentence when longer. The vectors come from
    /// `table`, or from the network's own trainable table when it has one.
    pub fn embed(
        &self,
        table: &EmbeddingTable,
        sentences: &[&[u32]],
        length: usize,
    ) -> Result<Tensor> {
        let Some(tuned) = &self.tuned else {
            return table.batch(sentences, length, self.backend());
        };
        let padded = table.padded(sentences, length)?;
        let shape = [sentences.len(), padded.length];
        let mask =
            Tensor::from_vec(padded.mask, &[shape[0], shape[1], 1])?.try_to(self.backend())?;
        tuned.forward(&padded.ids, &shape)?.mul(&mask)
    }

    /// The same network with the layers `head` after the pooled features.
    pub fn with_head(mut self, head: Head) -> SentimentCnn {
        self.head = head;
        self
    }

    /// The layers after the pooled features.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The same network with dropout `rate` in training (0 turns it off). Errors when `rate`
    /// is outside [0, 1).
    pub fn with_dropout(mut self, rate: f64) -> Result<SentimentCnn> {
        if !(0.0..1.0).contains(&rate) {
            return Err(invalid(format!("dropout rate {rate} is outside [0, 1)")));
        }
        self.dropout = rate;
        Ok(self)
    }

    /// The filter widths.
    pub fn filters(&self) -> &[usize] {
        &self.filters
    }

    /// Feature maps per filter width.
    pub fn maps(&self) -> usize {
        self.maps
    }

    /// Values per word vector.
    pub fn embedding(&self) -> usize {
        self.embedding
    }

    /// The dropout rate in training.
    pub fn dropout(&self) -> f64 {
        self.dropout
    }

    /// The backend the weights live on.
    pub fn backend(&self) -> Backend {
        self.linear.backend()
    }

    /// Probabilities of "positive", shape (B,), for a batch of embedded sentences (B, L, D).
    /// Dropout draws from `rng` in training mode.
    pub fn forward(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        if x.dims() != 3 || x.shape()[2] != self.embedding || x.shape()[0] == 0 {
            return Err(invalid(format!(
                "expected embedded sentences of shape (B, L, {}), got {:?}",
                self.embedding,
                x.shape()
            )));
        }
        let batch = x.shape()[0];
        let x = x.permute(&[0, 2, 1])?;
        let mut pooled: Option<Tensor> = None;
        for conv in &self.convs {
            let h = conv.forward_relu(&x)?.max(2)?;
            pooled = Some(match pooled {
                Some(p) => p.add(&h)?,
                None => h,
            });
        }
        let h = pooled
            .expect("at least one convolution")
            .view(&[batch, self.maps])?;
        let training = self.is_training();
        let h = match self.head {
            Head::Course => {
                let h = self.linear.forward(&h)?;
                dropout(&h, self.dropout, training, Dropout::Course, rng)?
            }
            Head::CourseRelu => {
                let h = self.linear.forward_relu(&h)?;
                dropout(&h, self.dropout, training, Dropout::Course, rng)?
            }
            Head::Kim => {
                let h = dropout(&h, self.dropout, training, Dropout::Inverted, rng)?;
                self.linear.forward(&h)?
            }
        };
        h.sigmoid()?.view(&[batch])
    }
}

impl Module for SentimentCnn {
    fn mode(&self) -> &Mode {
        &self.mode
    }
    fn children(&self) -> Vec<(&str, &dyn Module)> {
        let mut out: Vec<(&str, &dyn Module)> = self
            .names
            .iter()
            .zip(&self.convs)
            .map(|(n, c)| (n.as_str(), c as &dyn Module))
            .collect();
        out.push(("linear", &self.linear));
        if let Some(tuned) = &self.tuned {
            out.push(("embedding", tuned));
        }
        out
    }
}

/// The mean binary cross-entropy of probabilities `p` (B,) for labels `y` (B,) of 0 or 1:
/// `−Σ log(p·y + (1 − p)(1 − y)) / B` ([`Tensor::binary_nll`], summed), shape (1,). Finite
/// for any `p` in [0, 1] (see the [module docs](self)).
pub fn bce_loss(p: &Tensor, y: &Tensor) -> Result<Tensor> {
    let batch = p.shape().first().copied().unwrap_or(1).max(1) as f64;
    p.binary_nll(y)?.sum_all()?.mul(&p.scalar_like(1.0 / batch))
}

/// Labels 0/1 as a (B,) tensor on `backend`.
pub fn labels_tensor(labels: &[u8], backend: Backend) -> Result<Tensor> {
    if let Some(i) = labels.iter().position(|&l| l > 1) {
        return Err(Error::Invalid {
            what: "labels_tensor",
            message: format!("label {} at position {i} is not 0 or 1", labels[i]),
        });
    }
    Tensor::from_vec(
        labels.iter().map(|&l| f64::from(l)).collect(),
        &[labels.len()],
    )?
    .try_to(backend)
}

/// The predicted label of each probability: 1 when above 0.5 (the course's rule), else 0.
pub fn predictions(p: &Tensor) -> Vec<u8> {
    p.to_vec().into_iter().map(|v| u8::from(v > 0.5)).collect()
}

/// Sentences to train on or score: token ids (from [`EmbeddingTable::encode`]) with labels,
/// embedded through `table` and zero-padded to `length` tokens.
#[derive(Clone, Copy)]
pub struct Sentences<'a> {
    /// Word vectors, and the shared vector of unknown words.
    pub table: &'a EmbeddingTable,
    /// Each sentence's token ids.
    pub ids: &'a [Vec<u32>],
    /// Each sentence's label, 0 or 1.
    pub labels: &'a [u8],
    /// Tokens per padded sentence (a longer sentence is not cut: its batch is wider).
    pub length: usize,
}

impl Sentences<'_> {
    /// Number of sentences.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The sentences at `rows` as the (B, L, D) input of `net` (see [`SentimentCnn::embed`]).
    pub fn batch(&self, rows: &[usize], net: &SentimentCnn) -> Result<Tensor> {
        let ids: Vec<&[u32]> = rows.iter().map(|&r| self.ids[r].as_slice()).collect();
        net.embed(self.table, &ids, self.length)
    }

    /// The labels at `rows`.
    pub fn labels_at(&self, rows: &[usize]) -> Vec<u8> {
        rows.iter().map(|&r| self.labels[r]).collect()
    }
}

/// The longest sentence of `ids`, in tokens (at least 1): the course pads every sentence to
/// it.
pub fn longest(ids: &[Vec<u32>]) -> usize {
    ids.iter().map(Vec::len).max().unwrap_or(0).max(1)
}

/// How to train: the course's settings by default.
#[derive(Clone, Copy, Debug)]
pub struct SentimentConfig {
    /// Sentences per step (10).
    pub batch: usize,
    /// Shuffle the training sentences each epoch (seeded); the course walks them in order
    /// (false, the default).
    pub shuffle: bool,
}

impl Default for SentimentConfig {
    fn default() -> Self {
        SentimentConfig {
            batch: 10,
            shuffle: false,
        }
    }
}

/// What [`train_epoch`] saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    /// Mean loss per batch.
    pub loss: f64,
    /// Sentences the training-mode network (dropout on) classified correctly, as the
    /// course's training accuracy counts them.
    pub correct: usize,
    /// Sentences trained on.
    pub total: usize,
}

/// One pass over `data` in batches of `config.batch` (the last one may be smaller): zero the
/// gradients, forward, [`bce_loss`], backward, SGD step. `on_batch(done, total)` reports
/// progress.
pub fn train_epoch(
    net: &SentimentCnn,
    optim: &dyn Optimizer,
    data: Sentences<'_>,
    config: &SentimentConfig,
    rng: &mut Rng,
    on_batch: impl FnMut(usize, usize),
) -> Result<EpochStats> {
    let backend = net.backend();
    let mut correct = 0;
    let schedule = (data.len(), config.batch, config.shuffle);
    let loss = super::train_batches(net, optim, schedule, rng, on_batch, |rows, rng| {
        let labels = data.labels_at(rows);
        let p = net.forward(&data.batch(rows, net)?, rng)?;
        correct += predictions(&p)
            .into_iter()
            .zip(&labels)
            .filter(|(p, l)| p == *l)
            .count();
        bce_loss(&p, &labels_tensor(&labels, backend)?)
    })?;
    Ok(EpochStats {
        loss,
        correct,
        total: data.len(),
    })
}

/// What [`evaluate`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Sentences classified correctly.
    pub correct: usize,
    /// Sentences scored.
    pub total: usize,
    /// Mean loss per sentence.
    pub loss: f64,
    /// The probability of "positive" of each sentence, in order.
    pub probabilities: Vec<f64>,
}

impl Evaluation {
    /// Correct sentences in percent.
    pub fn percent(&self) -> f64 {
        100.0 * self.correct as f64 / self.total.max(1) as f64
    }
}

/// Scores `data` in evaluation mode (no dropout), `batch` sentences at a time; the training
/// flag is restored afterwards.
pub fn evaluate(net: &SentimentCnn, data: Sentences<'_>, batch: usize) -> Result<Evaluation> {
    let backend = net.backend();
    let was_training = net.is_training();
    net.eval();
    let mut result = Evaluation {
        correct: 0,
        total: data.len(),
        loss: 0.0,
        probabilities: Vec::with_capacity(data.len()),
    };
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut rng = Rng::seed(0);
    let scored = (|| {
        for chunk in rows.chunks(batch.max(1)) {
            let x = data.batch(chunk, net)?;
            let labels = data.labels_at(chunk);
            let p = net.forward(&x, &mut rng)?;
            let y = labels_tensor(&labels, backend)?;
            result.loss += bce_loss(&p, &y)?.item()? * chunk.len() as f64;
            for (q, l) in predictions(&p).into_iter().zip(labels) {
                result.correct += usize::from(q == l);
            }
            result.probabilities.extend(p.to_vec());
        }
        Ok::<(), Error>(())
    })();
    if was_training {
        net.train();
    }
    scored?;
    result.loss /= data.len().max(1) as f64;
    Ok(result)
}

/// The probability that `sentence` is positive: its tokens embedded through `table`,
/// zero-padded to `length` (the training sentences' length), scored in evaluation mode.
pub fn predict(
    net: &SentimentCnn,
    table: &EmbeddingTable,
    sentence: &str,
    length: usize,
) -> Result<f64> {
    let ids = table.encode(sentence);
    if ids.is_empty() {
        return Err(Error::Invalid {
            what: "predict",
            message: "the sentence has no words".into(),
        });
    }
    let x = net.embed(table, &[&ids], length)?;
    let was_training = net.is_training();
    net.eval();
    let p = net.forward(&x, &mut Rng::seed(0));
    if was_training {
        net.train();
    }
    p?.item()
}
