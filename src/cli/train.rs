//! `minitorch train`, `minitorch eval` and `minitorch datasets`.

use indicatif::{ProgressBar, ProgressStyle};
use minitorch::Rng;
use minitorch::datasets::Dataset;
use minitorch::plot::{datasets_plot, training_plot};
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
    /// Units per hidden layer [default: 100].
    #[arg(long)]
    hidden: Option<usize>,
    /// SGD learning rate [default: 0.05; 0.1 for spiral].
    #[arg(long, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Number of epochs [default: 500; 2000 for spiral].
    #[arg(long)]
    epochs: Option<usize>,
    /// Number of points.
    #[arg(long, default_value_t = 50)]
    pts: usize,
    /// Batch size.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Seed for data, weights and shuffles (a fresh one is drawn and printed when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the decision boundary and the loss/accuracy curves to this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Save the trained parameters (safetensors) here.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Start from the parameters in this checkpoint.
    #[arg(long)]
    load: Option<PathBuf>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: TrainArgs) -> minitorch::Result<()> {
    let seed = args.seed.unwrap_or_else(|| {
        let seed = Rng::fresh_seed();
        println!("seed {seed}");
        seed
    });
    let (hidden, rate, epochs) = args.dataset.training_preset();
    let config = TrainConfig {
        dataset: args.dataset,
        pts: args.pts,
        hidden: args.hidden.unwrap_or(hidden),
        rate: args.rate.unwrap_or(rate),
        epochs: args.epochs.unwrap_or(epochs),
        batch: args.batch,
        seed,
        engine: args.backend,
    };
    config.validate()?;
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
    let epochs = trained.history.len().max(1);
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
    if let Some(path) = &args.save {
        trained.model.save(path)?;
        println!("saved {}", path.display());
    }
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
    /// Number of points.
    #[arg(long, default_value_t = 50)]
    pts: usize,
    /// Seed of the dataset.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Engine to evaluate with.
    #[arg(long, default_value = "fast")]
    backend: Engine,
}

pub fn eval(args: EvalArgs) -> minitorch::Result<()> {
    if args.pts == 0 {
        return Err(minitorch::Error::Invalid {
            what: "pts",
            message: "must be at least 1".into(),
        });
    }
    let hidden = checkpoint_hidden(&args.load)?;
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
    /// Write all six datasets to this PNG.
    #[arg(long)]
    plot: PathBuf,
    /// Points per dataset.
    #[arg(long, default_value_t = 50)]
    pts: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn datasets(args: DatasetsArgs) -> minitorch::Result<()> {
    if args.pts < 2 {
        return Err(minitorch::Error::Invalid {
            what: "pts",
            message: "must be at least 2".into(),
        });
    }
    datasets_plot(&args.plot, args.pts, args.seed)?;
    println!("wrote {}", args.plot.display());
    Ok(())
}
