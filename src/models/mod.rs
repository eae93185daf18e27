//! The course's networks beyond the points classifier of [`nn::Network`](crate::nn::Network):
//! each a [`Module`], so checkpoints, evaluation and the optimizer work
//! on them alike: [`mnist`] classifies digits, [`sentiment`] the sentences of SST-2.

pub mod mnist;
pub mod sentiment;

use crate::error::Result;
use crate::module::Module;
use crate::optim::Optimizer;
use crate::random::Rng;
use crate::tensor::Tensor;

/// One epoch of the course's training loop, shared by the models: `n` examples in batches of
/// `batch` (the last one may be smaller), in order or in a seeded shuffle, with `net` in
/// training mode; for each batch the gradients are zeroed, `loss(rows, rng)` computes the
/// batch's loss from its example indices, and it is backpropagated and stepped.
/// `on_batch(done, total)` reports progress. Returns the mean loss per batch.
pub(crate) fn train_batches(
    net: &dyn Module,
    optim: &dyn Optimizer,
    (n, batch, shuffle): (usize, usize, bool),
    rng: &mut Rng,
    mut on_batch: impl FnMut(usize, usize),
    mut loss: impl FnMut(&[usize], &mut Rng) -> Result<Tensor>,
) -> Result<f64> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        rng.shuffle(&mut order);
    }
    net.train();
    let size = batch.max(1);
    let batches = n.div_ceil(size);
    let mut total = 0.0;
    for (k, rows) in order.chunks(size).enumerate() {
        optim.zero_grad();
        let loss = loss(rows, rng)?;
        loss.backward()?;
        optim.step()?;
        total += loss.item()?;
        on_batch(k + 1, batches);
    }
    Ok(total / batches.max(1) as f64)
}
