//! `minitorch sentiment`'s flags checked before any work: bounds, the data directory and its
//! files, the GloVe file, output paths; and the sentence counts taken from each file.

use super::SentimentArgs;
use crate::cli::{CliError, Result, limits, paths};
use minitorch::data::text::Sentence;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The most sentences of a file a run may use (SST-2's training file has 67,349).
const MAX_SENTENCES: usize = 10_000_000;
/// The most feature maps per filter width.
const MAX_MAPS: usize = 4096;
/// The widest filter.
const MAX_WIDTH: usize = 64;
/// The most filter widths.
const MAX_FILTERS: usize = 16;
/// GloVe files looked for in `--data` when `--glove` is not given, in this order.
const GLOVE_NAMES: [&str; 4] = [
    "glove.6B.50d.txt",
    "glove.6B.50d.txt.gz",
    "glove.6B.50d.sst2-vocab.txt.gz",
    "glove.6B.50d.sst2-vocab.txt",
];

/// `--train` and `--valid`: the first N sentences of the file, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Amount {
    All,
    First(usize),
}

impl FromStr for Amount {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Amount, String> {
        if s == "all" {
            return Ok(Amount::All);
        }
        s.parse::<usize>()
            .map(Amount::First)
            .map_err(|_| format!("{s:?} is neither a count of sentences nor `all`"))
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::All => f.write_str("all"),
            Amount::First(n) => write!(f, "{n}"),
        }
    }
}

fn amount(flag: &'static str, value: Amount) -> Result<()> {
    if let Amount::First(n) = value {
        limits::count(
            flag,
            n,
            1,
            MAX_SENTENCES,
            "SST-2's training file has 67,349 sentences; `all` takes a whole file",
        )?;
    }
    Ok(())
}

fn parse_filters(text: &str) -> Result<Vec<usize>> {
    let filters: Vec<usize> = crate::cli::parse_list("--filters", text)?;
    if filters.len() > MAX_FILTERS {
        return Err(CliError::flag(
            "--filters",
            format!("{text:?}"),
            format!("at most {MAX_FILTERS} widths (one convolution each)"),
        ));
    }
    for &k in &filters {
        if !(1..=MAX_WIDTH).contains(&k) {
            return Err(CliError::flag(
                "--filters",
                format!("{text:?}"),
                format!("width {k}: each width must be 1 to {MAX_WIDTH} tokens"),
            ));
        }
    }
    Ok(filters)
}

/// `name` or `name.gz` in `dir`, whichever exists (the plain one when both do).
fn data_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = format!("{name}.gz");
    for candidate in [name, gz.as_str()] {
        let path = dir.join(candidate);
        if path.exists() {
            paths::readable("--data", &path)?;
            return Ok(path);
        }
    }
    Err(CliError::flag(
        "--data",
        dir.display(),
        format!("neither {name} nor {gz} is here (GLUE's SST-2 files)"),
    ))
}

fn glove_file(args: &SentimentArgs) -> Result<PathBuf> {
    if let Some(path) = &args.glove {
        paths::readable("--glove", path)?;
        return Ok(path.clone());
    }
    for name in GLOVE_NAMES {
        let path = args.data.join(name);
        if path.exists() {
            paths::readable("--glove", &path)?;
            return Ok(path);
        }
    }
    Err(CliError::flag(
        "--glove",
        "(not given)",
        format!(
            "none of {} is in {}; GloVe's glove.6B.50d.txt comes from \
             https://nlp.stanford.edu/projects/glove/",
            GLOVE_NAMES.join(", "),
            args.data.display()
        ),
    ))
}

/// What the checks found: the files to read and the network's shape.
pub(super) struct Plan {
    pub(super) train: Option<PathBuf>,
    pub(super) dev: Option<PathBuf>,
    /// The GloVe file, or why there is none (an error only training must report at once).
    pub(super) glove: Result<PathBuf>,
    pub(super) filters: Vec<usize>,
}

pub(super) fn check(args: &SentimentArgs) -> Result<Plan> {
    amount("--train", args.train)?;
    amount("--valid", args.valid)?;
    let filters = parse_filters(&args.filters)?;
    limits::count(
        "--maps",
        args.maps,
        1,
        MAX_MAPS,
        "a bound on memory per step",
    )?;
    limits::model_schedule(args.epochs, args.batch, args.rate)?;
    if !(0.0..1.0).contains(&args.dropout) {
        return Err(CliError::flag(
            "--dropout",
            args.dropout,
            "must be at least 0 and below 1".into(),
        ));
    }
    if let Some(p) = &args.load {
        paths::readable("--load", p)?;
    }
    let training = args.predict.is_none();
    if training && !args.data.is_dir() {
        return Err(CliError::flag(
            "--data",
            args.data.display(),
            "is not a directory (it should hold GLUE's SST-2 train.tsv and dev.tsv)".into(),
        ));
    }
    let (train, dev) = if training {
        (
            Some(data_file(&args.data, "train.tsv")?),
            Some(data_file(&args.data, "dev.tsv")?),
        )
    } else {
        (None, None)
    };
    // --predict with a network that carries its own vectors reads no GloVe file: its error
    // waits until a GloVe file is needed.
    let glove = match glove_file(args) {
        Err(e) if args.predict.is_none() => return Err(e),
        found => found,
    };
    if let Some(p) = &args.plot {
        paths::plot_target("--plot", p)?;
    }
    if let Some(p) = &args.save {
        paths::save_target("--save", p)?;
    }
    if let (Some(a), Some(b)) = (&args.plot, &args.save) {
        paths::distinct(("--plot", a), ("--save", b))?;
    }
    Ok(Plan {
        train,
        dev,
        glove,
        filters,
    })
}

/// The first `amount` sentences of `all`, refusing more than the file has.
pub(super) fn first(
    flag: &'static str,
    all: Vec<Sentence>,
    amount: Amount,
    path: &Path,
) -> Result<Vec<Sentence>> {
    match amount {
        Amount::All => Ok(all),
        Amount::First(n) if n <= all.len() => Ok(all.into_iter().take(n).collect()),
        Amount::First(n) => Err(CliError::flag(
            flag,
            n,
            format!(
                "{} has only {} sentences (`{flag} all` takes them all)",
                path.display(),
                all.len()
            ),
        )),
    }
}
