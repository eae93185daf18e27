//! `minitorch mnist`: the course's MNIST network (task 4.5) on real digits in IDX files.
//!
//! Flags are checked before any work (bounds, the data directory and its files, output
//! paths). Then: read the IDX files, hold out a validation set (never trained on), train
//! with a progress bar and one log line per epoch, score the whole validation set each epoch,
//! plot, save. `--eval` scores a saved model on the t10k test files instead.

use super::limits;
use super::{CliError, Result, paths};
use crate::cli::plot::mnist_plot;
use indicatif::{ProgressBar, ProgressStyle};
use minitorch::data::idx::{Split, load_split};
use minitorch::models::mnist::{
    Digits, Evaluation, MnistConfig, MnistNet, Pool, evaluate, train_epoch,
};
use minitorch::module::Module;
use minitorch::optim::Sgd;
use minitorch::train::Engine;
use minitorch::{Rng, checkpoint};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// The most images a run may use (the full MNIST training set is 60,000).
const MAX_IMAGES: usize = 1_000_000;
/// Images per forward pass when scoring. 256 made activations of ~13 MB that were faulted in
/// afresh each epoch; with 64 they stay in the buffer pool: 5 epochs with their evaluations
/// 1.6–1.7 s → 1.4 s (`minitorch mnist --data ../shared/data/mnist-10k --seed 1 --quiet
/// --epochs 5`, three alternated rounds; same accuracy).
const EVAL_BATCH: usize = 64;

/// The `--pool` choices (also `serve --mnist-pool`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolArg {
    Avg,
    Max,
}

impl From<PoolArg> for Pool {
    fn from(p: PoolArg) -> Pool {
        match p {
            PoolArg::Avg => Pool::Avg,
            PoolArg::Max => Pool::Max,
        }
    }
}

#[derive(clap::Args)]
pub struct MnistArgs {
    /// Directory of the IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, and
    /// t10k-… for --eval), gzipped or not. `minitorch data mnist` downloads them.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Training images: the first N of the training files, 1 to 1000000.
    #[arg(long, default_value_t = 5000, allow_negative_numbers = true)]
    train: usize,
    /// Validation images: the M after the training ones, held out, 1 to 1000000.
    #[arg(long, default_value_t = 500, allow_negative_numbers = true)]
    valid: usize,
    /// Epochs, 1 to 100000.
    #[arg(long, default_value_t = 15, allow_negative_numbers = true)]
    epochs: usize,
    /// Images per SGD step, 1 to 65536.
    #[arg(long, default_value_t = 16, allow_negative_numbers = true)]
    batch: usize,
    /// SGD learning rate, a positive number up to 1000.
    #[arg(long, default_value_t = 0.01, allow_hyphen_values = true)]
    rate: f64,
    /// Tensor backend: fast, simple, cuda-sim or cuda.
    #[arg(long, default_value = "fast")]
    backend: Engine,
    /// Pooling after the convolutions.
    #[arg(long, value_enum, default_value = "avg")]
    pool: PoolArg,
    /// Scale pixels to [0, 1] (the course feeds 0–255).
    #[arg(long)]
    normalize: bool,
    /// Walk the training images in file order each epoch, as the course does (default:
    /// a seeded shuffle per epoch).
    #[arg(long)]
    no_shuffle: bool,
    /// Seed for weights, dropout and shuffles (a fresh one is drawn and printed when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Write loss and accuracy curves and the validation confusion matrix here (.png, .jpg or
    /// .bmp).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Save the trained parameters (safetensors) here, after the plot.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Start from (or, with --eval, score) the parameters in this checkpoint.
    #[arg(long)]
    load: Option<PathBuf>,
    /// Score the --load model on the t10k test files of --data instead of training.
    #[arg(long)]
    eval: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

fn check(args: &MnistArgs) -> Result<()> {
    let why = "the full MNIST training set has 60,000 images";
    limits::count("--train", args.train, 1, MAX_IMAGES, why)?;
    limits::count("--valid", args.valid, 1, MAX_IMAGES, why)?;
    limits::model_schedule(args.epochs, args.batch, args.rate)?;
    if !args.data.is_dir() {
        return Err(CliError::flag(
            "--data",
            args.data.display(),
            "is not a directory; `minitorch data mnist --dir DIR` downloads MNIST, and \
             Fashion-MNIST (same format) is in Debian's dataset-fashion-mnist package"
                .into(),
        ));
    }
    if let Some(p) = &args.plot {
        paths::plot_target("--plot", p)?;
    }
    if let Some(p) = &args.save {
        paths::save_target("--save", p)?;
    }
    if let Some(p) = &args.load {
        paths::readable("--load", p)?;
    }
    if let (Some(a), Some(b)) = (&args.plot, &args.save) {
        paths::distinct(("--plot", a), ("--save", b))?;
    }
    if args.eval && args.load.is_none() {
        return Err(CliError::flag(
            "--eval",
            "",
            "needs --load MODEL (the checkpoint to score)".into(),
        ));
    }
    Ok(())
}

fn percent(e: &Evaluation) -> f64 {
    100.0 * e.correct as f64 / e.total.max(1) as f64
}

/// Runs `minitorch mnist`.
pub fn run(args: MnistArgs) -> Result<()> {
    check(&args)?;
    let backend = super::tensor_backend(args.backend, "the MNIST network")?;
    let pool = Pool::from(args.pool);
    // The data and the holdout are checked before anything is printed or trained.
    let all = if args.eval {
        None
    } else {
        let all = load_split(&args.data, Split::Train)?;
        all.holdout(args.train, args.valid)?;
        if all.pixels_per_image() != 28 * 28 {
            return Err(CliError::flag(
                "--data",
                args.data.display(),
                format!(
                    "images are {}×{}; the network takes 28×28",
                    all.rows, all.cols
                ),
            ));
        }
        Some(all)
    };
    let seed = args.seed.unwrap_or_else(|| {
        let seed = Rng::fresh_seed();
        println!("seed {seed}");
        seed
    });
    let mut rng = Rng::seed(seed);
    let net = MnistNet::new(backend, pool, &mut rng)?;
    if let Some(path) = &args.load {
        net.load(path)?;
    }
    if args.eval {
        let test = load_split(&args.data, Split::Test)?;
        let digits = Digits {
            images: &test.images,
            labels: &test.labels,
        };
        let e = evaluate(&net, digits, args.normalize, EVAL_BATCH)?;
        println!(
            "test {}/{} ({:.2}%) loss {:.4}",
            e.correct,
            e.total,
            percent(&e),
            e.loss
        );
        return Ok(());
    }
    let all = all.expect("loaded above unless --eval");
    let holdout = all.holdout(args.train, args.valid)?;
    let pixels = all.pixels_per_image();
    let train = Digits {
        images: &all.images[holdout.train.start * pixels..holdout.train.end * pixels],
        labels: &all.labels[holdout.train.clone()],
    };
    let valid = Digits {
        images: &all.images[holdout.valid.start * pixels..holdout.valid.end * pixels],
        labels: &all.labels[holdout.valid.clone()],
    };
    let optim = Sgd::new(net.parameters(), args.rate)?;
    let config = MnistConfig {
        batch: args.batch,
        normalize: args.normalize,
        shuffle: !args.no_shuffle,
    };
    let bar = (!args.quiet && std::io::stdout().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("epoch {msg} {bar:40} {pos}/{len} batches")
                .expect("valid template"),
        );
        bar
    });
    let mut history = Vec::new();
    let mut last = None;
    let start = Instant::now();
    for epoch in 1..=args.epochs {
        let t = Instant::now();
        if let Some(bar) = &bar {
            bar.set_message(epoch.to_string());
            bar.set_position(0);
        }
        let loss = train_epoch(&net, &optim, train, &config, &mut rng, |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        })?;
        let seconds = t.elapsed().as_secs_f64();
        let e = evaluate(&net, valid, args.normalize, EVAL_BATCH)?;
        let line = format!(
            "Epoch {epoch} loss {loss:.4} valid {}/{} ({:.1}%) time {seconds:.2} s",
            e.correct,
            e.total,
            percent(&e)
        );
        match &bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
        history.push((epoch, loss, percent(&e), seconds));
        last = Some(e);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let e = last.expect("at least one epoch");
    let train_seconds: f64 = history.iter().map(|h| h.3).sum();
    println!(
        "Trained {} epochs on {} images ({} backend) in {:.1} s ({:.3} s per epoch); valid {}/{} ({:.1}%)",
        args.epochs,
        train.len(),
        backend,
        start.elapsed().as_secs_f64(),
        train_seconds / args.epochs as f64,
        e.correct,
        e.total,
        percent(&e)
    );
    if let Some(path) = &args.plot {
        mnist_plot(path, &history, &e.confusion)?;
    }
    if let Some(path) = &args.save {
        checkpoint::save(path, &net.state())?;
    }
    Ok(())
}
