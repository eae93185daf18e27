//! `minitorch bench`: the course's matmul timing script, map/zip/reduce timings, convolution
//! forward + backward on the MNIST network's shapes, and the training step (`bench_train.rs`).

use super::limits::{self, MAX_MATMUL_SIZE, MAX_OPS_SIZE, MAX_REPS, MAX_SIMPLE_SIZE, MAX_TRIALS};
use super::{Result, parse_list, paths, reference};
use crate::cli::plot::{Series, log_line_chart};
use crate::cli::timing::{self as bench, SIMPLE_MAX_SIZE};
use minitorch::{Backend, Rng};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Batched (2, n, n) matmul per backend, inputs created inside the timed span.
    Matmul {
        /// Matrix sizes n, each 1 to 8192.
        #[arg(
            long,
            default_value = "64,128,256,512,1024",
            allow_hyphen_values = true
        )]
        sizes: String,
        /// Backends to time.
        #[arg(long, default_value = "simple,fast")]
        backends: String,
        /// Trials per size, 1 to 100 (the table shows their mean).
        #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
        trials: usize,
        /// Write a chart of time against size to this image (.png, .jpg or .bmp).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Largest size the reference backend runs, 0 to 2048 (it takes minutes beyond 512).
        #[arg(long, default_value_t = SIMPLE_MAX_SIZE, allow_negative_numbers = true)]
        simple_max: usize,
    },
    /// map / zip / reduce on contiguous, transposed and broadcast operands.
    Ops {
        /// Element counts, each 1 to 100000000.
        #[arg(long, default_value = "1000,65536,1000000", allow_hyphen_values = true)]
        sizes: String,
        /// Backends to time.
        #[arg(long, default_value = "simple,fast")]
        backends: String,
        /// Timed calls per workload, 1 to 10000 (the median is shown).
        #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
        reps: usize,
    },
    /// The course network's training step at hidden sizes × batch sizes (fast backend), with
    /// PyTorch's time for the same loop when a Python with torch is found.
    Train {
        /// Hidden sizes.
        #[arg(long, default_value = "100,200,1000", allow_hyphen_values = true)]
        hidden: String,
        /// Batch sizes (each configuration trains on 5 × batch points: five steps per epoch).
        #[arg(long, default_value = "10,100,1000", allow_hyphen_values = true)]
        batch: String,
        /// Skip PyTorch (otherwise run with $MINITORCH_PYTHON, default python3, when it has
        /// torch).
        #[arg(long)]
        no_torch: bool,
        /// PyTorch thread counts to time (each a column).
        #[arg(long, default_value = "1,2")]
        torch_threads: String,
        /// Seed of the data and the initial weights.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// conv2d forward + backward (both gradients) on the MNIST network's shapes (batch 16)
    /// and on a larger layer (batch 64, 16→32 channels, 28×28, 3×3), with GFLOP/s.
    Conv {
        /// Backends to time.
        #[arg(long, default_value = "fast")]
        backends: String,
        /// Timed calls per workload, 1 to 10000 (the median is shown).
        #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
        reps: usize,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Matmul {
            sizes,
            backends,
            trials,
            plot,
            simple_max,
        } => matmul(
            parse_list("--sizes", &sizes)?,
            parse_list("--backends", &backends)?,
            trials,
            plot,
            simple_max,
        ),
        BenchCommand::Ops {
            sizes,
            backends,
            reps,
        } => ops(
            parse_list("--sizes", &sizes)?,
            parse_list("--backends", &backends)?,
            reps,
        ),
        BenchCommand::Conv { backends, reps } => conv(parse_list("--backends", &backends)?, reps),
        BenchCommand::Train {
            hidden,
            batch,
            no_torch,
            torch_threads,
            seed,
        } => super::bench_train::run(super::bench_train::TrainBench {
            hidden: parse_list("--hidden", &hidden)?,
            batch: parse_list("--batch", &batch)?,
            torch: !no_torch,
            torch_threads: parse_list("--torch-threads", &torch_threads)?,
            seed,
        }),
    }
}

/// Times `conv2d` forward and backward (input and weight gradients) per backend, and the same
/// work in PyTorch f64 (`bench/torch_conv.py`, 2 threads) when a Python with torch is found.
fn conv(backends: Vec<Backend>, reps: usize) -> Result<()> {
    limits::count("--reps", reps, 1, MAX_REPS, "a bound on run time")?;
    let shapes: [(&str, [usize; 4], [usize; 4]); 3] = [
        ("mnist conv1 1→4", [16, 1, 28, 28], [4, 1, 3, 3]),
        ("mnist conv2 4→8", [16, 4, 28, 28], [8, 4, 3, 3]),
        ("64×16→32 28×28", [64, 16, 28, 28], [32, 16, 3, 3]),
    ];
    let torch = reference::run(
        include_str!("../../bench/torch_conv.py"),
        &["--reps".into(), reps.to_string()],
    );
    println!("conv2d forward + backward (input and weight gradients), median of {reps}");
    match &torch {
        Ok(t) => println!(
            "PyTorch {} f64, {} threads, in the same run (bench/torch_conv.py)",
            t["torch"].as_str().unwrap_or("?"),
            t["threads"]
        ),
        Err(why) => println!("PyTorch: not measured ({why})"),
    }
    println!(
        "{:<18} {:<9} {:>12} {:>10} {:>12} {:>10}",
        "layer", "backend", "time ms", "GFLOP/s", "PyTorch ms", "speed-up"
    );
    for backend in backends {
        for (name, is, ws) in shapes {
            let t = bench::time_conv(backend, is, ws, reps)?.as_secs_f64() * 1e3;
            // Forward and the two gradients are each B·Cout·H·W·Cin·KH·KW multiply-adds.
            let macs = (is[0] * ws[0] * is[2] * is[3] * ws[1] * ws[2] * ws[3]) as f64;
            let gflops = 3.0 * 2.0 * macs / t / 1e6;
            let theirs = torch.as_ref().ok().and_then(|v| v["ms"][name].as_f64());
            let (their_ms, ratio) = match theirs {
                Some(ms) => (format!("{ms:.3}"), format!("{:.2}×", ms / t)),
                None => ("-".into(), "-".into()),
            };
            println!(
                "{name:<18} {:<9} {t:>12.3} {gflops:>10.1} {their_ms:>12} {ratio:>10}",
                backend.name()
            );
        }
    }
    Ok(())
}

/// Checks every size of `--sizes` against `1..=max` (`why(n)` says why `n` is too large) and
/// the memory the largest needs.
fn check_sizes(
    sizes: &[usize],
    max: usize,
    why: impl Fn(usize) -> String,
    memory: fn(usize) -> limits::Estimate,
) -> Result<()> {
    for &n in sizes {
        limits::count("--sizes", n, 1, max, &why(n))?;
    }
    let largest = sizes.iter().copied().max().unwrap_or(0);
    limits::check_memory(&memory(largest))
}

fn matmul(
    sizes: Vec<usize>,
    backends: Vec<Backend>,
    trials: usize,
    plot: Option<PathBuf>,
    simple_max: usize,
) -> Result<()> {
    check_sizes(
        &sizes,
        MAX_MATMUL_SIZE,
        |n| {
            format!(
                "a (2, n, n) matmul at n = {n} is {:.1e} flops, beyond a minute per trial, and \
                 its operands would take {}{}",
                4.0 * (n as f64).powi(3),
                limits::human(limits::matmul_memory(n).bytes),
                limits::machine_note()
            )
        },
        limits::matmul_memory,
    )?;
    limits::count(
        "--trials",
        trials,
        1,
        MAX_TRIALS,
        "the mean settles long before, and a trial at the largest size takes a minute",
    )?;
    limits::count(
        "--simple-max",
        simple_max,
        0,
        MAX_SIMPLE_SIZE,
        "the reference backend's triple loop takes tens of minutes per trial beyond",
    )?;
    if let Some(path) = &plot {
        paths::plot_target("--plot", path)?;
    }
    let mut rng = Rng::seed(0);
    let mut results = Vec::new();
    for &backend in &backends {
        bench::warm_up(backend)?;
        for &n in &sizes {
            if backend == Backend::Simple && n > simple_max {
                println!(
                    "(skipping simple at n = {n}: above --simple-max {simple_max}, it would take minutes)"
                );
                continue;
            }
            results.push(bench::time_matmul(backend, n, trials, &mut rng)?);
        }
    }
    println!("Timing summary");
    for &n in &sizes {
        println!("Size: {n}");
        for r in results.iter().filter(|r| r.size == n) {
            println!("    {}: {:.5}", r.backend, r.mean_with_inputs);
        }
    }
    println!();
    println!(
        "{:>6}  {:<8} {:>22} {:>20} {:>9} {:>22}",
        "n",
        "backend",
        "mean s (with inputs)",
        "matmul s (median)",
        "GFLOP/s",
        "GFLOP/s (same inputs)"
    );
    for r in &results {
        println!(
            "{:>6}  {:<8} {:>22.6} {:>20.6} {:>9.1} {:>22.1}",
            r.size,
            r.backend.name(),
            r.mean_with_inputs,
            r.median_matmul,
            r.gflops(),
            r.gflops_repeat()
        );
    }
    if let Some(path) = plot {
        let series: Vec<Series> = backends
            .iter()
            .map(|&b| Series {
                name: b.name().to_string(),
                points: results
                    .iter()
                    .filter(|r| r.backend == b)
                    .map(|r| (r.size as f64, r.mean_with_inputs))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        log_line_chart(
            &path,
            "Batched matmul (2, n, n) @ (2, n, n)",
            "n",
            "seconds (mean, inputs included)",
            &series,
        )?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn ops(sizes: Vec<usize>, backends: Vec<Backend>, reps: usize) -> Result<()> {
    check_sizes(
        &sizes,
        MAX_OPS_SIZE,
        |n| {
            format!(
                "operands and results of {n} elements would take {}{}",
                limits::human(limits::ops_memory(n).bytes),
                limits::machine_note()
            )
        },
        limits::ops_memory,
    )?;
    limits::count(
        "--reps",
        reps,
        1,
        MAX_REPS,
        "the median settles long before",
    )?;
    println!(
        "{:<8} {:<36} {:>10} {:>12} {:>10} {:>9} {:>8}",
        "backend", "workload", "elements", "median us", "GB/s out", "GB/s r+w", "vs copy"
    );
    for &n in &sizes {
        // The bandwidth limit: a plain copy of n values (reads n, writes n), the faster of one
        // thread and all threads. Each op's "vs copy" is its read + write traffic per second
        // against the copy's.
        let copy = bench::time_copy(n, reps);
        let limit = (16 * n) as f64 / copy.best().as_secs_f64() / 1e9;
        for (label, t) in [("1 thread", copy.serial), ("all threads", copy.parallel)] {
            println!(
                "{:<8} {:<36} {:>10} {:>12.2} {:>10.2} {:>9.2} {:>8}",
                "rust",
                format!("copy, {label} (bandwidth limit)"),
                n,
                t.as_secs_f64() * 1e6,
                (8 * n) as f64 / t.as_secs_f64() / 1e9,
                (16 * n) as f64 / t.as_secs_f64() / 1e9,
                format!(
                    "{:.0}%",
                    100.0 * copy.best().as_secs_f64() / t.as_secs_f64()
                )
            );
        }
        for &backend in &backends {
            for (label, kind) in bench::op_workloads(n) {
                let t = bench::time_op(backend, &label, kind, reps)?;
                let secs = t.median.as_secs_f64();
                let moved = kind.traffic_bytes() as f64 / secs / 1e9;
                println!(
                    "{:<8} {:<36} {:>10} {:>12.2} {:>10.2} {:>9.2} {:>8}",
                    backend.name(),
                    t.label,
                    t.elements,
                    secs * 1e6,
                    (t.elements * 8) as f64 / secs / 1e9,
                    moved,
                    format!("{:.0}%", 100.0 * moved / limit)
                );
            }
        }
        let plain = bench::time_plain_loop(n, reps);
        println!(
            "{:<8} {:<36} {:>10} {:>12.2}",
            "rust",
            "plain slice loop a·b (reference floor)",
            n,
            plain.as_secs_f64() * 1e6
        );
    }
    Ok(())
}
