//! `minitorch bench train`: the course network's training step at several hidden sizes and
//! batch sizes on the fast backend, with PyTorch's time for the same loop alongside when a
//! Python with torch is found.
//!
//! Each configuration trains on `5 × batch` points (five steps per epoch, as the course's 50
//! points in batches of 10) for enough epochs to take about half a second, through the same
//! [`train`] function as `minitorch train`; the figure is the median epoch after the warm-up,
//! divided by five. PyTorch runs `bench/torch_train_matmul.py train` (the same loop op for op,
//! f64; the script is built into this binary) with the same points, batch and epochs, once per
//! thread count of `--torch-threads`.

use super::limits::{self, MAX_BATCH, MAX_HIDDEN};
use super::{CliError, Result};
use minitorch::Backend;
use minitorch::datasets::Dataset;
use minitorch::train::{Engine, TrainConfig, train};
use std::path::PathBuf;
use std::process::Command;

/// The PyTorch reference script, written to a temporary file when torch is asked for.
const TORCH_SCRIPT: &str = include_str!("../../bench/torch_train_matmul.py");

/// Steps per epoch: the course's 50 points in batches of 10.
const STEPS_PER_EPOCH: usize = 5;

/// What `bench train` was asked for.
pub struct TrainBench {
    /// Hidden sizes.
    pub hidden: Vec<usize>,
    /// Batch sizes.
    pub batch: Vec<usize>,
    /// The Python to run PyTorch with (`None`: no PyTorch column).
    pub python: Option<PathBuf>,
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

/// Runs the PyTorch script for one configuration; `Err` carries why it could not.
fn torch_epoch(
    python: &PathBuf,
    script: &PathBuf,
    (hidden, batch, epochs, threads): (usize, usize, usize, usize),
) -> std::result::Result<f64, String> {
    let json =
        std::env::temp_dir().join(format!("minitorch-bench-train-{}.json", std::process::id()));
    let pts = STEPS_PER_EPOCH * batch;
    let output = Command::new(python)
        .arg(script)
        .args(["train", "--dtype", "float64", "--dataset", "simple"])
        .args([
            "--hidden",
            &hidden.to_string(),
            "--batch",
            &batch.to_string(),
        ])
        .args(["--pts", &pts.to_string(), "--epochs", &epochs.to_string()])
        .args(["--threads", &threads.to_string()])
        .arg("--json")
        .arg(&json)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let last = err.lines().last().unwrap_or("no message");
        return Err(format!("{} failed: {last}", python.display()));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| format!("no results: {e}"))?;
    let _ = std::fs::remove_file(&json);
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("unreadable results: {e}"))?;
    value["results"]["steady_median_s_per_epoch"]
        .as_f64()
        .ok_or_else(|| "results without steady_median_s_per_epoch".to_string())
}

/// The torch version the Python reports, or why there is none.
fn torch_version(python: &PathBuf) -> std::result::Result<String, String> {
    let output = Command::new(python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!("{} has no torch", python.display()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Times every (hidden, batch) configuration and prints the table.
pub fn run(bench: TrainBench) -> Result<()> {
    for &h in &bench.hidden {
        limits::count("--hidden", h, 1, MAX_HIDDEN, "see `minitorch train --help`")?;
    }
    for &b in &bench.batch {
        limits::count(
            "--batch",
            b,
            1,
            MAX_BATCH / STEPS_PER_EPOCH,
            "see `minitorch train --help`",
        )?;
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
    // PyTorch, when asked for and present.
    let torch = match &bench.python {
        None => None,
        Some(python) => match torch_version(python) {
            Ok(version) => {
                let script = std::env::temp_dir()
                    .join(format!("minitorch-torch-train-{}.py", std::process::id()));
                std::fs::write(&script, TORCH_SCRIPT).map_err(|e| {
                    CliError::Lib(minitorch::Error::File {
                        path: script.display().to_string(),
                        message: format!("cannot write the PyTorch script: {e}"),
                    })
                })?;
                println!(
                    "PyTorch {version} ({}), f64, threads {:?}",
                    python.display(),
                    bench.torch_threads
                );
                Some((python.clone(), script))
            }
            Err(why) => {
                println!("no PyTorch column: {why} (set --python or MINITORCH_PYTHON)");
                None
            }
        },
    };
    println!(
        "training step of the course network (2 → H → H → 1, ReLU, ReLU, sigmoid; SGD), \
         {STEPS_PER_EPOCH} steps per epoch, median epoch after warm-up / {STEPS_PER_EPOCH}"
    );
    let mut header = format!(
        "{:>6} {:>6} {:>7} {:>7} {:>12}",
        "hidden", "batch", "points", "epochs", "fast ms"
    );
    if torch.is_some() {
        for t in &bench.torch_threads {
            header += &format!(" {:>12}", format!("torch {t}t ms"));
        }
        header += &format!(" {:>12}", "fast vs best");
    }
    println!("{header}");
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
            if let Some((python, script)) = &torch {
                let mut best = f64::INFINITY;
                for &threads in &bench.torch_threads {
                    match torch_epoch(python, script, (hidden, batch, epochs, threads)) {
                        Ok(epoch) => {
                            let step = epoch / STEPS_PER_EPOCH as f64;
                            best = best.min(step);
                            line += &format!(" {:>12.4}", step * 1e3);
                        }
                        Err(why) => {
                            line += &format!(" {:>12}", "failed");
                            eprintln!("PyTorch at hidden {hidden}, batch {batch}: {why}");
                        }
                    }
                }
                if best.is_finite() {
                    line += &format!(" {:>11.1}×", best / fast);
                }
            }
            println!("{line}");
        }
    }
    if let Some((_, script)) = torch {
        let _ = std::fs::remove_file(script);
    }
    Ok(())
}
