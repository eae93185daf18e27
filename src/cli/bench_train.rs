//! `minitorch bench train`: the course network's training step at several hidden sizes and
//! batch sizes on the fast backend, with PyTorch's time for the same loop alongside when a
//! Python with torch is found.
//!
//! Each configuration trains on `5 × batch` points (five steps per epoch, as the course's 50
//! points in batches of 10) for enough epochs to take about half a second, through the same
//! [`train`] function as `minitorch train`; the figure is the median epoch after the warm-up,
//! divided by five. PyTorch runs `bench/torch_train_matmul.py train` (the same loop op for op,
//! f64; the script is built into this binary) with the same points, batch and epochs, once per
//! thread count of `--torch-threads`, with the Python that `MINITORCH_PYTHON` names (default
//! `python3`); without torch the table has minitorch's column only.

use super::limits::{self, MAX_BATCH, MAX_HIDDEN};
use super::{Result, reference};
use minitorch::Backend;
use minitorch::datasets::Dataset;
use minitorch::train::{Engine, TrainConfig, train};

/// The PyTorch reference script (run by [`reference::run`]).
const TORCH_SCRIPT: &str = include_str!("../../bench/torch_train_matmul.py");

/// Steps per epoch: the course's 50 points in batches of 10.
const STEPS_PER_EPOCH: usize = 5;

/// What `bench train` was asked for.
pub struct TrainBench {
    /// Hidden sizes.
    pub hidden: Vec<usize>,
    /// Batch sizes.
    pub batch: Vec<usize>,
    /// Whether to run PyTorch (with `MINITORCH_PYTHON`, default `python3`) alongside.
    pub torch: bool,
    /// PyTorch thread counts.
    pub torch_threads: Vec<usize>,
    /// Seed of the data and weights.
    pub seed: u64,
}

/// Epochs for a configuration: about half a second of training (a step of `batch × hidden²`
/// multiply-adds three times over, at ~40 GFLOP/s), between 4 and 300.
fn epochs_for(hidden: usize, batch: usize) -> usize {
    let flops_per_step = 6.0 * batch as f64 * (hidden as f64).powi(2) + 2e5;
    let step_s = flops_per_step / 40e9;
    ((0.5 / (step_s * STEPS_PER_EPOCH as f64)) as usize).clamp(4, 300)
}

/// The steady-state seconds per epoch: the median after the warm-up (the first epoch, or the
/// first ten of long runs, as the PyTorch script counts).
fn steady(per_epoch: &[f64]) -> f64 {
    let skip = if per_epoch.len() > 20 { 10 } else { 1 };
    let mut xs = per_epoch[skip.min(per_epoch.len() - 1)..].to_vec();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// PyTorch's steady seconds per epoch for one configuration (the script's median epoch after
/// warm-up), and its version; `Err` says why there is none.
fn torch_epoch(
    (hidden, batch, epochs, threads): (usize, usize, usize, usize),
) -> std::result::Result<(f64, String), String> {
    let pts = STEPS_PER_EPOCH * batch;
    let args = [
        "train",
        "--dtype",
        "float64",
        "--dataset",
        "simple",
        "--hidden",
        &hidden.to_string(),
        "--batch",
        &batch.to_string(),
        "--pts",
        &pts.to_string(),
        "--epochs",
        &epochs.to_string(),
        "--threads",
        &threads.to_string(),
    ]
    .map(String::from);
    let value = reference::run(TORCH_SCRIPT, &args)?;
    let epoch = value["results"]["steady_median_s_per_epoch"]
        .as_f64()
        .ok_or("PyTorch's results have no steady_median_s_per_epoch")?;
    Ok((epoch, value["torch"].as_str().unwrap_or("?").to_string()))
}

/// Times every (hidden, batch) configuration and prints the table.
pub fn run(bench: TrainBench) -> Result<()> {
    for &h in &bench.hidden {
        limits::count("--hidden", h, 1, MAX_HIDDEN, "see `minitorch train --help`")?;
    }
    for &b in &bench.batch {
        let max = MAX_BATCH / STEPS_PER_EPOCH;
        limits::count("--batch", b, 1, max, "see `minitorch train --help`")?;
    }
    for &t in &bench.torch_threads {
        limits::count("--torch-threads", t, 1, 1024, "a thread count")?;
    }
    let engine = Engine::Tensor(Backend::Fast);
    for &h in &bench.hidden {
        for &b in &bench.batch {
            let pts = STEPS_PER_EPOCH * b;
            limits::check_memory(&limits::train_memory(engine, h, pts, b, false))?;
        }
    }
    println!(
        "training step of the course network (2 → H → H → 1, ReLU, ReLU, sigmoid; SGD, f64), \
         {STEPS_PER_EPOCH} steps per epoch: median epoch after warm-up / {STEPS_PER_EPOCH}"
    );
    let mut torch = bench.torch;
    let header = |torch: bool| {
        let mut header = format!(
            "{:>6} {:>6} {:>7} {:>7} {:>12}",
            "hidden", "batch", "points", "epochs", "fast ms"
        );
        if torch {
            for t in &bench.torch_threads {
                header += &format!(" {:>12}", format!("torch {t}t ms"));
            }
            header += &format!(" {:>13}", "vs best torch");
        }
        header
    };
    let mut version = None;
    let mut first = true;
    for &hidden in &bench.hidden {
        for &batch in &bench.batch {
            let epochs = epochs_for(hidden, batch);
            let config = TrainConfig {
                dataset: Dataset::Simple,
                pts: STEPS_PER_EPOCH * batch,
                hidden,
                batch,
                epochs,
                seed: bench.seed,
                engine,
                ..TrainConfig::default()
            };
            let run = train(&config, None, |_| {})?;
            let per_epoch: Vec<f64> = run
                .history
                .iter()
                .map(|r| r.elapsed.as_secs_f64())
                .collect();
            let fast = steady(&per_epoch) / STEPS_PER_EPOCH as f64;
            let mut line = format!(
                "{hidden:>6} {batch:>6} {:>7} {epochs:>7} {:>12.4}",
                config.pts,
                fast * 1e3
            );
            let mut best = f64::INFINITY;
            for &threads in &bench.torch_threads {
                if !torch {
                    break;
                }
                match torch_epoch((hidden, batch, epochs, threads)) {
                    Ok((epoch, v)) => {
                        let step = epoch / STEPS_PER_EPOCH as f64;
                        best = best.min(step);
                        line += &format!(" {:>12.4}", step * 1e3);
                        version.get_or_insert(v);
                    }
                    Err(why) => {
                        // No Python or no torch: say so once and go on without the column.
                        println!("PyTorch: not measured ({why})");
                        torch = false;
                    }
                }
            }
            if best.is_finite() {
                line += &format!(" {:>12.1}×", best / fast);
            }
            if first {
                // After the first PyTorch run, which tells whether there is a PyTorch column.
                println!("{}", header(torch));
                first = false;
            }
            println!("{line}");
        }
    }
    if let Some(v) = version {
        println!(
            "PyTorch {v} f64 (bench/torch_train_matmul.py train, the same loop op for op; \
             MINITORCH_PYTHON picks the Python), in the same run"
        );
    }
    Ok(())
}
