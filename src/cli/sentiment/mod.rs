//! `minitorch sentiment`: the course's 1-D CNN (Kim 2014, task 4.5) on GLUE's SST-2 with
//! GloVe word vectors.
//!
//! Flags are checked before any work (bounds, the data directory and its files, the GloVe
//! file, output paths). Then: read the first `--train` sentences of train.tsv and the first
//! `--valid` of dev.tsv, read the GloVe vectors of the words they use, pad every sentence to
//! the longest, train with a progress bar and one log line per epoch (scoring every validation
//! sentence each epoch), plot, save. `--predict "a sentence"` scores one sentence with a saved
//! model instead.

mod checks;

use checks::{Amount, check, first};

use super::limits;
use super::plot::{self, SentimentRecord};
use super::{CliError, OptimizerArg, Result};
use indicatif::{ProgressBar, ProgressStyle};
use minitorch::data::text::{
    EmbeddingTable, UNKNOWN, read_glove, read_sst2, tokens, unknown_vector, vocabulary,
};
use minitorch::models::sentiment::{
    self, DROPOUT, FILTERS, Head, MAPS, Sentences, SentimentCnn, SentimentConfig, evaluate,
    longest, train_epoch,
};
use minitorch::module::Module;
use minitorch::train::Engine;
use minitorch::{Rng, checkpoint};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// Sentences per forward pass when scoring.
const EVAL_BATCH: usize = 256;
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum HeadArg {
    /// Linear, dropout, sigmoid (the course's setup).
    Course,
    /// Linear, ReLU, dropout, sigmoid (MiniTorch's run_sentiment.py).
    CourseRelu,
    /// Dropout on the pooled features, Linear, sigmoid (Kim 2014).
    Kim,
}

impl From<HeadArg> for Head {
    fn from(h: HeadArg) -> Head {
        match h {
            HeadArg::Course => Head::Course,
            HeadArg::CourseRelu => Head::CourseRelu,
            HeadArg::Kim => Head::Kim,
        }
    }
}

fn head_name(head: Head) -> &'static str {
    match head {
        Head::Course => "course",
        Head::CourseRelu => "course-relu",
        Head::Kim => "kim",
    }
}

#[derive(clap::Args)]
pub struct SentimentArgs {
    /// Directory of GLUE's SST-2 files train.tsv and dev.tsv (each may be gzipped, as
    /// train.tsv.gz), and of the GloVe file when --glove is not given.
    #[arg(long, default_value = "data/sst2")]
    data: PathBuf,
    /// GloVe vectors in their text format (`word v1 … vD` per line), plain or gzipped, e.g.
    /// glove.6B.50d.txt. Default: the first of glove.6B.50d.txt(.gz) and
    /// glove.6B.50d.sst2-vocab.txt(.gz) found in --data.
    #[arg(long)]
    glove: Option<PathBuf>,
    /// Training sentences: the first N of train.tsv (1 to 10000000), or `all`.
    #[arg(long, default_value = "450")]
    train: Amount,
    /// Validation sentences: the first M of dev.tsv (1 to 10000000), or `all`.
    #[arg(long, default_value = "100")]
    valid: Amount,
    /// Filter widths, one convolution each: comma-separated, each 1 to 64, at most 16.
    #[arg(long, default_value = "3,4,5")]
    filters: String,
    /// Feature maps per convolution, 1 to 4096.
    #[arg(long, default_value_t = MAPS, allow_negative_numbers = true)]
    maps: usize,
    /// Epochs, 1 to 100000.
    #[arg(long, default_value_t = 250, allow_negative_numbers = true)]
    epochs: usize,
    /// Sentences per optimizer step, 1 to 65536.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    batch: usize,
    /// Learning rate, a positive number up to 1000 (with --optimizer adam, 0.001 is the usual).
    #[arg(long, default_value_t = 0.01, allow_hyphen_values = true)]
    rate: f64,
    /// How the parameters move: `sgd` (the course's) or `adam`.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    optimizer: OptimizerArg,
    /// Train the word vectors too (Kim's non-static variant): the GloVe vectors of the
    /// sentences' words, and the unknown-word vector, become a parameter of the network; its
    /// checkpoint then carries them and their words (--predict needs no GloVe file).
    #[arg(long)]
    tune_vectors: bool,
    /// Dropout rate in training, 0 (none) to below 1.
    #[arg(long, default_value_t = DROPOUT, allow_hyphen_values = true)]
    dropout: f64,
    /// The layers after the pooled features: `course` (Linear, dropout, sigmoid), `course-relu`
    /// (MiniTorch's run_sentiment.py: Linear, ReLU, dropout, sigmoid; every probability is then
    /// at least 0.5) or `kim` (dropout, Linear, sigmoid). Default: course, or the --load
    /// checkpoint's.
    #[arg(long, value_enum)]
    head: Option<HeadArg>,
    /// Tensor backend: fast, simple, cuda-sim or cuda.
    #[arg(long, default_value = "fast")]
    backend: Engine,
    /// Shuffle the training sentences each epoch (seeded); by default they are walked in file
    /// order, as the course does.
    #[arg(long)]
    shuffle: bool,
    /// Seed for weights, the unknown-word vector, dropout and shuffles (a fresh one is drawn
    /// and printed when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the loss and accuracy curves here (.png, .jpg or .bmp).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Save the trained network, its unknown-word vector and padding length (safetensors)
    /// here, after the plot.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Start from (or, with --predict, score with) the network in this checkpoint; its shapes
    /// set --filters and --maps.
    #[arg(long)]
    load: Option<PathBuf>,
    /// Print the probability that this sentence is positive, scored by the --load network
    /// (tokens split on whitespace, words looked up in --glove), instead of training.
    #[arg(long, requires = "load", conflicts_with_all = ["plot", "save"])]
    predict: Option<String>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

/// Bytes a run holds at its peak, roughly: per convolution, the im2col matrix and the
/// activations of a training batch (forward and backward), or of a scoring batch (forward).
fn memory(net: &SentimentCnn, batch: usize, length: usize) -> f64 {
    let per = |taps: usize, copies: usize| -> f64 {
        net.filters()
            .iter()
            .map(|&k| (taps * net.embedding() * k + copies * net.maps()) as f64)
            .sum::<f64>()
            * length as f64
            * 8.0
    };
    let train = per(2, 6) * batch as f64;
    let score = per(1, 2) * EVAL_BATCH as f64;
    train.max(score)
}

/// Runs `minitorch sentiment`.
pub fn run(args: SentimentArgs) -> Result<()> {
    let plan = check(&args)?;
    let backend = super::tensor_backend(args.backend, "the sentiment network")?;
    let restored = match &args.load {
        Some(path) => Some(sentiment::load_checkpoint(path, backend)?),
        None => None,
    };
    if let (Some(r), Some(path)) = (&restored, &args.load) {
        let given = (plan.filters.as_slice(), args.maps);
        if given != (FILTERS.as_slice(), MAPS) && given != (r.net.filters(), r.net.maps()) {
            return Err(CliError::flag(
                "--load",
                path.display(),
                format!(
                    "holds a network with filters {:?} and {} maps, not the {:?} and {} \
                     of --filters and --maps (leave them out to use the checkpoint's)",
                    r.net.filters(),
                    r.net.maps(),
                    plan.filters,
                    args.maps
                ),
            ));
        }
        if let Some(h) = args.head
            && Head::from(h) != r.net.head()
        {
            return Err(CliError::flag(
                "--load",
                path.display(),
                format!(
                    "holds a network with the {} head, not --head {}",
                    head_name(r.net.head()),
                    head_name(h.into())
                ),
            ));
        }
    }
    if let Some(sentence) = &args.predict {
        let restored = restored.expect("clap requires --load with --predict");
        return predict(sentence, restored, plan.glove);
    }
    let seed = args.seed.unwrap_or_else(|| {
        let seed = Rng::fresh_seed();
        println!("seed {seed}");
        seed
    });
    let mut rng = Rng::seed(seed);

    let (train_path, dev_path) = (plan.train.expect("training"), plan.dev.expect("training"));
    let t = Instant::now();
    let train_all = read_sst2(&train_path)?;
    let dev_all = read_sst2(&dev_path)?;
    let (train_count, dev_count) = (train_all.len(), dev_all.len());
    let train = first("--train", train_all, args.train, &train_path)?;
    let valid = first("--valid", dev_all, args.valid, &dev_path)?;
    let read_tsv = t.elapsed().as_secs_f64();
    let vocab = vocabulary(train.iter().chain(&valid).map(|s| s.text.as_str()));
    let t = Instant::now();
    let glove_path = plan.glove?;
    let glove = read_glove(&glove_path, Some(&vocab))?;
    let read_vectors = t.elapsed().as_secs_f64();
    if glove.is_empty() {
        return Err(CliError::flag(
            "--glove",
            glove_path.display(),
            format!(
                "knows none of the {} words of the sentences; is it a GloVe file for English?",
                vocab.len()
            ),
        ));
    }
    let known = glove.len();
    let embedding = glove.dim();

    let (net, unknown, saved_table) = match restored {
        Some(r) => {
            if r.net.embedding() != embedding {
                return Err(CliError::flag(
                    "--load",
                    args.load.as_ref().expect("restored").display(),
                    format!(
                        "holds a network over {}-dimensional vectors, but {} has {embedding}",
                        r.net.embedding(),
                        glove_path.display()
                    ),
                ));
            }
            (r.net, r.unknown, r.table)
        }
        None => {
            let net = SentimentCnn::new(embedding, args.maps, &plan.filters, backend, &mut rng)?
                .with_head(args.head.map_or(Head::Course, Head::from));
            (net, unknown_vector(embedding, &mut rng), None)
        }
    };
    let mut net = net.with_dropout(args.dropout)?;
    // A network with trained vectors reads sentences through its own vocabulary.
    let table = match saved_table {
        Some(table) => table,
        None => EmbeddingTable::new(glove, unknown)?,
    };
    if args.tune_vectors && net.tuned_vectors().is_none() {
        net = net.with_tuned_vectors(&table)?;
    }
    let train_ids: Vec<Vec<u32>> = train.iter().map(|s| table.encode(&s.text)).collect();
    let valid_ids: Vec<Vec<u32>> = valid.iter().map(|s| table.encode(&s.text)).collect();
    let train_labels: Vec<u8> = train.iter().map(|s| s.label).collect();
    let valid_labels: Vec<u8> = valid.iter().map(|s| s.label).collect();
    let length = longest(&train_ids).max(longest(&valid_ids));
    let unknown_tokens = train_ids
        .iter()
        .chain(&valid_ids)
        .flatten()
        .filter(|&&id| id == UNKNOWN)
        .count();
    let all_tokens: usize = train_ids.iter().chain(&valid_ids).map(Vec::len).sum();
    let estimate = limits::Estimate {
        bytes: memory(&net, args.batch, length),
        flag: if args.batch > EVAL_BATCH {
            "--batch"
        } else {
            "--maps"
        },
        value: if args.batch > EVAL_BATCH {
            args.batch.to_string()
        } else {
            net.maps().to_string()
        },
        what: format!(
            "batch {}, {} maps, filters {:?}, sentences of {length} tokens",
            args.batch,
            net.maps(),
            net.filters()
        ),
    };
    limits::check_memory(&estimate)?;
    println!(
        "SST-2: {} of {train_count} training sentences, {} of {dev_count} validation \
         sentences (read in {read_tsv:.2} s), padded to {length} tokens",
        train.len(),
        valid.len()
    );
    println!(
        "GloVe: {known} of the {} words known ({embedding}-d, read in {read_vectors:.3} s from \
         {}); {unknown_tokens} of {all_tokens} tokens share the unknown-word vector",
        vocab.len(),
        glove_path.display()
    );
    let train_set = Sentences {
        table: &table,
        ids: &train_ids,
        labels: &train_labels,
        length,
    };
    let valid_set = Sentences {
        table: &table,
        ids: &valid_ids,
        labels: &valid_labels,
        length,
    };
    let optim = args.optimizer.build(net.parameters(), args.rate)?;
    let config = SentimentConfig {
        batch: args.batch,
        shuffle: args.shuffle,
    };
    let bar = (!args.quiet && std::io::stdout().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("epoch {msg} {bar:40} {pos}/{len} batches")
                .expect("valid template"),
        );
        bar
    });
    let mut history: Vec<SentimentRecord> = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    let start = Instant::now();
    for epoch in 1..=args.epochs {
        let t = Instant::now();
        if let Some(bar) = &bar {
            bar.set_message(epoch.to_string());
            bar.set_position(0);
        }
        let stats = train_epoch(
            &net,
            optim.as_ref(),
            train_set,
            &config,
            &mut rng,
            |done, total| {
                if let Some(bar) = &bar {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                }
            },
        )?;
        let seconds = t.elapsed().as_secs_f64();
        let e = evaluate(&net, valid_set, EVAL_BATCH)?;
        let train_acc = 100.0 * stats.correct as f64 / stats.total.max(1) as f64;
        if best.is_none_or(|b| e.percent() > b.0) {
            best = Some((e.percent(), epoch));
        }
        let best_acc = best.expect("set above").0;
        let line = format!(
            "Epoch {epoch} loss {:.4} train acc {train_acc:.1}% valid acc {:.1}% best valid \
             {best_acc:.1}% time {seconds:.2} s",
            stats.loss,
            e.percent()
        );
        match &bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
        history.push(SentimentRecord {
            epoch,
            loss: stats.loss,
            train: train_acc,
            valid: e.percent(),
            seconds,
        });
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (best_acc, best_epoch) = best.expect("at least one epoch");
    let last = history.last().expect("at least one epoch");
    let train_seconds: f64 = history.iter().map(|h| h.seconds).sum();
    println!(
        "Trained {} epochs on {} sentences ({} backend, {} head, {}, {} vectors) in {:.1} s \
         ({:.3} s per epoch); best valid {best_acc:.1}% at epoch {best_epoch}, last {:.1}% of {}",
        args.epochs,
        train.len(),
        backend,
        head_name(net.head()),
        args.optimizer.name(),
        if net.tuned_vectors().is_some() {
            "trained"
        } else {
            "fixed"
        },
        start.elapsed().as_secs_f64(),
        train_seconds / args.epochs as f64,
        last.valid,
        valid.len()
    );
    if let Some(path) = &args.plot {
        plot::sentiment_plot(path, &history)?;
    }
    if let Some(path) = &args.save {
        checkpoint::save(path, &sentiment::checkpoint_tensors(&net, &table, length))?;
    }
    Ok(())
}

/// `--predict`: the probability of one sentence with a restored network.
fn predict(
    sentence: &str,
    restored: sentiment::Restored,
    glove_path: Result<PathBuf>,
) -> Result<()> {
    let words: Vec<&str> = tokens(sentence).collect();
    if words.is_empty() {
        return Err(CliError::flag(
            "--predict",
            format!("{sentence:?}"),
            "has no words".into(),
        ));
    }
    if let Some(table) = &restored.table {
        return report(sentence, &restored, table, words.len());
    }
    let glove_path = glove_path?;
    let vocab = vocabulary([sentence]);
    let glove = read_glove(&glove_path, Some(&vocab))?;
    if glove.dim() != restored.net.embedding() && !glove.is_empty() {
        return Err(CliError::flag(
            "--glove",
            glove_path.display(),
            format!(
                "has {}-dimensional vectors; the network takes {}",
                glove.dim(),
                restored.net.embedding()
            ),
        ));
    }
    let mut glove = glove;
    if glove.is_empty() {
        glove = minitorch::data::text::Embeddings::new(restored.net.embedding());
    }
    let table = EmbeddingTable::new(glove, restored.unknown.clone())?;
    report(sentence, &restored, &table, words.len())
}

/// Prints the probability of `sentence` (of `words` tokens) read through `table`.
fn report(
    sentence: &str,
    restored: &sentiment::Restored,
    table: &EmbeddingTable,
    words: usize,
) -> Result<()> {
    let unknown = tokens(sentence).filter(|w| table.id(w) == UNKNOWN).count();
    let p = sentiment::predict(&restored.net, table, sentence, restored.length)?;
    let source = if restored.table.is_some() {
        "the trained vocabulary"
    } else {
        "GloVe"
    };
    println!(
        "P(positive) = {p:.4}: {} ({words} words, {unknown} unknown to {source})",
        if p > 0.5 { "positive" } else { "negative" },
    );
    Ok(())
}
