//! `minitorch train`, `minitorch eval` and `minitorch datasets`.
//!
//! Every flag is checked before any work: numbers against the bounds of [`limits`], the run's
//! memory against what the machine has, and output paths (directory, file type, image format),
//! so that a bad value fails at once and never after a long training.

use super::limits::{self, MAX_BATCH, MAX_EPOCHS, MAX_HIDDEN, MAX_PLOT_PTS, MAX_PTS};
use super::{CliError, Result, paths};
use crate::cli::plot::{datasets_plot, training_plot};
use indicatif::{ProgressBar, ProgressStyle};
use minitorch::Rng;
use minitorch::datasets::Dataset;
use minitorch::train::{
    Engine, Model, TrainConfig, checkpoint_hidden, count_correct, total_loss, train,
};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Engine: fast, simple, cuda-sim (tensor backends), scalar (Module 1's scalar engine) or cuda.
    #[arg(long, default_value = "fast")]
    backend: Engine,
    /// Dataset: simple, diag, split, xor, circle or spiral.
    #[arg(long, default_value = "simple")]
    dataset: Dataset,
    /// Units per hidden layer, 1 to 16384, and as much as the machine's memory allows
    /// [default: 100].
    #[arg(long, allow_negative_numbers = true)]
    hidden: Option<usize>,
    /// SGD learning rate, a positive number up to 1000 [default: 0.05; 0.1 for spiral].
    #[arg(long, allow_hyphen_values = true)]
    rate: Option<f64>,
    /// Number of epochs, 1 to 1000000 [default: 500; 2000 for spiral].
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Number of points, 1 to 10000000 (spiral: at least 2).
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pts: usize,
    /// Batch size, 1 to 10000000 (a batch of at least --pts is the whole dataset).
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    batch: usize,
    /// Seed for data, weights and shuffles, any 64-bit number (a fresh one is drawn and printed
    /// when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the decision boundary and the loss/accuracy curves to this image (.png, .jpg or
    /// .bmp).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Save the trained parameters (safetensors) here, atomically, after the plot; an existing
    /// regular file is replaced only when the whole run succeeds.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Start from the parameters in this checkpoint.
    #[arg(long)]
    load: Option<PathBuf>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

/// The bounds of `train`'s numbers, the memory its run needs, and its output paths.
fn check_train(args: &TrainArgs, config: &TrainConfig) -> Result<()> {
    let memory = limits::machine_note();
    limits::count(
        "--hidden",
        config.hidden,
        1,
        MAX_HIDDEN,
        &format!(
            "the {h}×{h} weight matrix alone would take {}{memory}",
            limits::human(8.0 * (config.hidden as f64).powi(2)),
            h = config.hidden
        ),
    )?;
    limits::rate("--rate", config.rate)?;
    limits::count(
        "--epochs",
        config.epochs,
        1,
        MAX_EPOCHS,
        "at a millisecond per epoch a million epochs already take 17 minutes",
    )?;
    if config.dataset == Dataset::Spiral && config.pts < 2 {
        return Err(CliError::flag(
            "--pts",
            config.pts,
            "spiral needs at least 2 (one point per arm)".into(),
        ));
    }
    limits::count(
        "--pts",
        config.pts,
        1,
        MAX_PTS,
        "every epoch steps through all of them and evaluates each; beyond that one epoch \
         takes minutes",
    )?;
    limits::count(
        "--batch",
        config.batch,
        1,
        MAX_BATCH,
        "the largest --pts; any batch of at least --pts points is the whole dataset",
    )?;
    limits::check_memory(&limits::train_memory(
        config.engine,
        config.hidden,
        config.pts,
        config.batch,
        args.plot.is_some(),
    ))?;
    if let Some(path) = &args.load {
        paths::readable("--load", path)?;
    }
    if let Some(path) = &args.plot {
        paths::plot_target("--plot", path)?;
    }
    if let Some(path) = &args.save {
        paths::save_target("--save", path)?;
    }
    if let (Some(plot), Some(save)) = (&args.plot, &args.save) {
        paths::distinct(("--plot", plot), ("--save", save))?;
    }
    Ok(())
}

pub fn run(args: TrainArgs) -> Result<()> {
    let (hidden, rate, epochs) = args.dataset.training_preset();
    let mut config = TrainConfig {
        dataset: args.dataset,
        pts: args.pts,
        hidden: args.hidden.unwrap_or(hidden),
        rate: args.rate.unwrap_or(rate),
        epochs: args.epochs.unwrap_or(epochs),
        batch: args.batch,
        seed: args.seed.unwrap_or(0),
        engine: args.backend,
    };
    check_train(&args, &config)?;
    config.validate()?;
    config.seed = args.seed.unwrap_or_else(|| {
        let seed = Rng::fresh_seed();
        println!("seed {seed}");
        seed
    });
    let start = Instant::now();
    let bar = (!args.quiet && std::io::stdout().is_terminal()).then(|| {
        let bar = ProgressBar::new(config.epochs as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} epochs  {msg}")
                .expect("valid template"),
        );
        bar
    });
    let trained = train(&config, args.load.as_deref(), |r| {
        if r.epoch % 10 == 0 || r.epoch == config.epochs {
            let line = format!("Epoch {} loss {} correct {}", r.epoch, r.loss, r.correct);
            match &bar {
                Some(bar) => bar.println(line),
                None => println!("{line}"),
            }
        }
        if let Some(bar) = &bar {
            bar.set_position(r.epoch as u64);
            bar.set_message(format!("correct {}/{}", r.correct, config.pts));
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let epochs = trained.history.len();
    let train_time: f64 = trained
        .history
        .iter()
        .map(|r| r.elapsed.as_secs_f64())
        .sum();
    // Steady state: epochs after the first 10 (allocator and cache warm-up), as the baselines do.
    let steady: Vec<f64> = trained
        .history
        .iter()
        .skip(10)
        .map(|r| r.elapsed.as_secs_f64())
        .collect();
    let steady_ms = if steady.is_empty() {
        1e3 * train_time / epochs as f64
    } else {
        1e3 * steady.iter().sum::<f64>() / steady.len() as f64
    };
    println!(
        "Time per epoch {:.4} ms (steady state {:.4} ms; {} epochs, {} backend, hidden {}); total {:.2} s",
        1e3 * train_time / epochs as f64,
        steady_ms,
        epochs,
        config.engine,
        config.hidden,
        start.elapsed().as_secs_f64()
    );
    // The plot first, the checkpoint last: a run that fails anywhere leaves an existing
    // checkpoint as it was.
    if let Some(path) = &args.plot {
        let title = format!(
            "{} (hidden {}, {} epochs)",
            config.dataset, config.hidden, epochs
        );
        training_plot(
            path,
            &title,
            &trained.data,
            &trained.model,
            &trained.history,
        )?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.save {
        trained.model.save(path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The checkpoint to evaluate (its hidden size is read from the file).
    #[arg(long)]
    load: PathBuf,
    /// Dataset to evaluate on.
    #[arg(long, default_value = "simple")]
    dataset: Dataset,
    /// Number of points, 1 to 10000000.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pts: usize,
    /// Seed of the dataset, any 64-bit number.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Engine to evaluate with.
    #[arg(long, default_value = "fast")]
    backend: Engine,
}

pub fn eval(args: EvalArgs) -> Result<()> {
    if args.dataset == Dataset::Spiral && args.pts < 2 {
        return Err(CliError::flag(
            "--pts",
            args.pts,
            "spiral needs at least 2 (one point per arm)".into(),
        ));
    }
    limits::count(
        "--pts",
        args.pts,
        1,
        MAX_PTS,
        "the evaluation holds every point's activations; beyond that it takes minutes",
    )?;
    paths::readable("--load", &args.load)?;
    let hidden = checkpoint_hidden(&args.load)?;
    limits::check_memory(&limits::eval_memory(args.backend, hidden, args.pts)).map_err(|e| {
        match e {
            // The hidden size comes from the file: name the file, not a flag value.
            CliError::Flag {
                flag: "--load",
                message,
                ..
            } => CliError::flag("--load", args.load.display(), message),
            other => other,
        }
    })?;
    let model = Model::new(args.backend, hidden, &mut Rng::seed(0))?;
    model.load(&args.load)?;
    let data = args.dataset.generate(args.pts, args.seed);
    let correct = count_correct(&model, &data)?;
    println!(
        "{}: correct {}/{} ({:.1}%), loss {:.4} (hidden {hidden}, {} points of {}, seed {})",
        args.load.display(),
        correct,
        data.n,
        100.0 * correct as f64 / data.n as f64,
        total_loss(&model, &data)?,
        data.n,
        args.dataset,
        args.seed
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct DatasetsArgs {
    /// Write all six datasets to this image (.png, .jpg or .bmp).
    #[arg(long)]
    plot: PathBuf,
    /// Points per dataset, 2 to 1000000.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pts: usize,
    /// Seed, any 64-bit number.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn datasets(args: DatasetsArgs) -> Result<()> {
    limits::count(
        "--pts",
        args.pts,
        2,
        MAX_PLOT_PTS,
        "drawing a million points per panel already takes seconds, and they cover it",
    )?;
    paths::plot_target("--plot", &args.plot)?;
    datasets_plot(&args.plot, args.pts, args.seed)?;
    println!("wrote {}", args.plot.display());
    Ok(())
}
