//! `minitorch train`.

use minitorch::datasets::Dataset;
use minitorch::train::{TrainConfig, train};
use minitorch::{Backend, Rng};
use std::time::Instant;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Backend: fast or simple (the reference).
    #[arg(long, default_value = "fast")]
    backend: Backend,
    /// Dataset: simple, diag, split, xor, circle or spiral.
    #[arg(long, default_value = "simple")]
    dataset: Dataset,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 100)]
    hidden: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    rate: f64,
    /// Number of epochs.
    #[arg(long, default_value_t = 500)]
    epochs: usize,
    /// Number of points.
    #[arg(long, default_value_t = 50)]
    pts: usize,
    /// Batch size.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Seed (a fresh one is drawn and printed when absent).
    #[arg(long)]
    seed: Option<u64>,
}

pub fn run(args: TrainArgs) -> minitorch::Result<()> {
    let seed = args.seed.unwrap_or_else(|| {
        let seed = Rng::fresh_seed();
        println!("seed {seed}");
        seed
    });
    let config = TrainConfig {
        dataset: args.dataset,
        pts: args.pts,
        hidden: args.hidden,
        rate: args.rate,
        epochs: args.epochs,
        batch: args.batch,
        seed,
        backend: args.backend,
    };
    config.validate()?;
    let start = Instant::now();
    let trained = train(&config, |r| {
        if r.epoch % 10 == 0 || r.epoch == config.epochs {
            println!("Epoch {} loss {} correct {}", r.epoch, r.loss, r.correct);
        }
    })?;
    let epochs = trained.history.len().max(1);
    let train_time: f64 = trained
        .history
        .iter()
        .map(|r| r.elapsed.as_secs_f64())
        .sum();
    println!(
        "Time per epoch {:.4} ms ({} epochs, {} backend, hidden {}); total {:.2} s",
        1e3 * train_time / epochs as f64,
        epochs,
        config.backend,
        config.hidden,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
