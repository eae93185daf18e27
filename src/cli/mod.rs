//! Command-line parsing and dispatch.

mod bench;
mod bench_train;
mod data;
mod limits;
mod mnist;
mod paths;
pub(crate) mod plot;
mod reference;
mod sentiment;
mod serve;
pub(crate) mod timing;
mod train;

use clap::{Parser, Subcommand};
use std::fmt::Display;

/// MiniTorch in Rust: train and inspect small networks, benchmark the backends.
///
/// Exit status: 0 on success (and for --help and --version), 1 on any error, including a
/// malformed command line.
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
    /// Benchmark kernels: `bench matmul` (the course's timing script), `bench ops`, `bench conv`,
    /// or `bench train` (the training step, beside PyTorch).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Train the course's MNIST network (Module 4) on IDX digit files, or score a saved one.
    Mnist(mnist::MnistArgs),
    /// Train the course's sentiment CNN (Module 4) on SST-2 sentences with GloVe vectors, or
    /// score a sentence with a saved one.
    Sentiment(sentiment::SentimentArgs),
    /// Download data sets: `data mnist` fetches MNIST into data/mnist.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Serve the interactive visualiser (datasets, live training, autodiff graphs, strides, drawn
    /// digits) on a local web page.
    Serve(serve::ServeArgs),
}

/// What can go wrong in a command: a flag with a value it refuses, or a failure of the library.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag's value is refused before any work: `--hidden 100000000: at most 16384 (…)`.
    #[error("{flag} {value}: {message}")]
    Flag {
        /// The flag, `--hidden`.
        flag: &'static str,
        /// Its value as given.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// The library failed (its message names the operation or the file).
    #[error(transparent)]
    Lib(#[from] minitorch::Error),
}

impl CliError {
    /// A refused flag value.
    pub(crate) fn flag(flag: &'static str, value: impl Display, message: String) -> CliError {
        CliError::Flag {
            flag,
            value: value.to_string(),
            message,
        }
    }
}

/// Shorthand for the commands' results.
pub type Result<T> = std::result::Result<T, CliError>;

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => train::eval(args),
        Command::Datasets(args) => train::datasets(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Data(cmd) => data::run(cmd),
        Command::Mnist(args) => mnist::run(args),
        Command::Sentiment(args) => sentiment::run(args),
        Command::Serve(args) => serve::run(args),
    }
}

/// Parses a comma-separated list (`64,128` or `simple,fast`), naming the flag on error.
pub(crate) fn parse_list<T: std::str::FromStr>(flag: &'static str, text: &str) -> Result<Vec<T>>
where
    T::Err: Display,
{
    let mut items = Vec::new();
    for item in text.split(',').map(str::trim) {
        match item.parse::<T>() {
            Ok(v) => items.push(v),
            Err(_) if item.is_empty() => {
                return Err(CliError::flag(
                    flag,
                    format!("{text:?}"),
                    "needs comma-separated values, with none empty".into(),
                ));
            }
            Err(e) => {
                return Err(CliError::flag(
                    flag,
                    format!("{text:?}"),
                    format!("{item:?}: {e}"),
                ));
            }
        }
    }
    Ok(items)
}

/// `--optimizer`: how `minitorch sentiment` steps its parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OptimizerArg {
    /// Plain SGD, the course's (`p ← p − rate · grad`).
    #[default]
    Sgd,
    /// Adam with PyTorch's defaults (β 0.9, 0.999, ε 1e-8); a rate near 0.001 suits it.
    Adam,
}

impl OptimizerArg {
    /// The optimizer over `parameters` with learning rate `rate`.
    pub(crate) fn build(
        self,
        parameters: Vec<minitorch::module::Parameter>,
        rate: f64,
    ) -> Result<Box<dyn minitorch::optim::Optimizer>> {
        Ok(match self {
            OptimizerArg::Sgd => Box::new(minitorch::optim::Sgd::new(parameters, rate)?),
            OptimizerArg::Adam => Box::new(minitorch::optim::Adam::new(parameters, rate)?),
        })
    }

    /// The name the flag takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            OptimizerArg::Sgd => "sgd",
            OptimizerArg::Adam => "adam",
        }
    }
}

/// The tensor backend of `--backend` for a Module 4 network (`network`, e.g. "the MNIST
/// network"): the scalar engine is refused naming the flag.
pub(crate) fn tensor_backend(
    engine: minitorch::train::Engine,
    network: &str,
) -> Result<minitorch::Backend> {
    match engine {
        minitorch::train::Engine::Tensor(b) => Ok(b),
        minitorch::train::Engine::Scalar => Err(CliError::flag(
            "--backend",
            "scalar",
            format!("{network} needs a tensor backend: fast, simple, cuda-sim or cuda"),
        )),
    }
}
