//! `minitorch bench`: the course's matmul timing script and map/zip/reduce timings.

use super::parse_list;
use minitorch::bench::{self, SIMPLE_MAX_SIZE};
use minitorch::plot::{Series, log_line_chart};
use minitorch::{Backend, Rng};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Batched (2, n, n) matmul per backend, inputs created inside the timed span.
    Matmul {
        /// Matrix sizes n.
        #[arg(long, default_value = "64,128,256,512,1024")]
        sizes: String,
        /// Backends to time.
        #[arg(long, default_value = "simple,fast")]
        backends: String,
        /// Trials per size (the table shows their mean).
        #[arg(long, default_value_t = 3)]
        trials: usize,
        /// Write a PNG chart of time against size.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Largest size the reference backend runs (it takes minutes beyond).
        #[arg(long, default_value_t = SIMPLE_MAX_SIZE)]
        simple_max: usize,
    },
    /// map / zip / reduce on contiguous, transposed and broadcast operands.
    Ops {
        /// Element counts.
        #[arg(long, default_value = "1000,65536,1000000")]
        sizes: String,
        /// Backends to time.
        #[arg(long, default_value = "simple,fast")]
        backends: String,
        /// Timed calls per workload (the median is shown).
        #[arg(long, default_value_t = 20)]
        reps: usize,
    },
}

pub fn run(cmd: BenchCommand) -> minitorch::Result<()> {
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
    }
}

fn check_trials(flag: &'static str, n: usize) -> minitorch::Result<()> {
    if n == 0 {
        return Err(minitorch::Error::Invalid {
            what: flag,
            message: "must be at least 1".into(),
        });
    }
    Ok(())
}

fn matmul(
    sizes: Vec<usize>,
    backends: Vec<Backend>,
    trials: usize,
    plot: Option<PathBuf>,
    simple_max: usize,
) -> minitorch::Result<()> {
    check_trials("--trials", trials)?;
    if let Some(&bad) = sizes.iter().find(|&&n| n == 0) {
        return Err(minitorch::Error::Invalid {
            what: "--sizes",
            message: format!("sizes must be positive, got {bad}"),
        });
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

fn ops(sizes: Vec<usize>, backends: Vec<Backend>, reps: usize) -> minitorch::Result<()> {
    check_trials("--reps", reps)?;
    println!(
        "{:<8} {:<36} {:>10} {:>12} {:>10}",
        "backend", "workload", "elements", "median us", "GB/s out"
    );
    for &n in &sizes {
        if n == 0 {
            return Err(minitorch::Error::Invalid {
                what: "--sizes",
                message: "sizes must be positive".into(),
            });
        }
        for &backend in &backends {
            for (label, kind) in bench::op_workloads(n) {
                let t = bench::time_op(backend, &label, kind, reps)?;
                let us = t.median.as_secs_f64() * 1e6;
                let gbs = (t.elements * 8) as f64 / t.median.as_secs_f64() / 1e9;
                println!(
                    "{:<8} {:<36} {:>10} {:>12.2} {:>10.2}",
                    backend.name(),
                    t.label,
                    t.elements,
                    us,
                    gbs
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
