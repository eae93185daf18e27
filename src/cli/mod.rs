//! Command-line parsing and dispatch.

mod bench;
mod train;

use clap::{Parser, Subcommand};

/// MiniTorch in Rust: train and inspect small networks, benchmark the backends.
#[derive(Parser)]
#[command(name = "minitorch", version)]
pub struct Cli {
    /// Print per-op kernel timings at exit (same as MINITORCH_PROFILE=1).
    #[arg(long, global = true)]
    pub profile: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the course network (2 → hidden → hidden → 1) and log loss and accuracy.
    Train(train::TrainArgs),
    /// Report a saved model's accuracy on a dataset.
    Eval(train::EvalArgs),
    /// Draw the six built-in datasets.
    Datasets(train::DatasetsArgs),
    /// Benchmark kernels: `bench matmul` (the course's timing script) or `bench ops`.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> minitorch::Result<()> {
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => train::eval(args),
        Command::Datasets(args) => train::datasets(args),
        Command::Bench(cmd) => bench::run(cmd),
    }
}

/// Parses a comma-separated list (`64,128` or `simple,fast`), naming the flag on error.
pub(crate) fn parse_list<T: std::str::FromStr>(
    flag: &'static str,
    text: &str,
) -> minitorch::Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    let items: Result<Vec<T>, _> = text.split(',').map(|s| s.trim().parse::<T>()).collect();
    match items {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(minitorch::Error::Invalid {
            what: flag,
            message: "needs at least one value".into(),
        }),
        Err(e) => Err(minitorch::Error::Invalid {
            what: flag,
            message: format!("{text:?}: {e}"),
        }),
    }
}
