//! `minitorch data mnist`: downloads MNIST's four gzipped IDX files and checks their SHA-256.
//!
//! Each file is downloaded into `DIR/.NAME.part` and renamed to `DIR/NAME` only once its digest
//! matches, so `DIR/NAME` is always a verified file. A download that was cut off leaves its
//! `.part` behind; the next run asks the server for the rest (an HTTP `Range` request) and
//! starts over when the server sends the whole file instead, or when the joined file does not
//! verify. A file already present and verified is not downloaded again. Mirrors are tried in
//! order; when all fail, the one error names every URL tried and why it failed.

use super::{CliError, Result};
use indicatif::{ProgressBar, ProgressStyle};
use minitorch::Error;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where torchvision downloads MNIST from (the original host, yann.lecun.com, refuses
/// downloads), then its fallback, Google's CVDF mirror.
pub const DEFAULT_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// The environment variable that replaces [`DEFAULT_MIRRORS`] (one URL, or several separated
/// by commas or spaces); `--mirror` takes precedence over it.
pub const MIRROR_ENV: &str = "MINITORCH_MNIST_MIRROR";

/// One published file: name, size in bytes and SHA-256 (the digests TensorFlow Datasets and
/// others record for these exact files; torchvision records the same files' MD5s).
pub struct Published {
    /// File name on the mirrors and on disk.
    pub name: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: &'static str,
}

/// MNIST's four files.
pub const MNIST_FILES: [Published; 4] = [
    Published {
        name: "train-images-idx3-ubyte.gz",
        size: 9_912_422,
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    Published {
        name: "train-labels-idx1-ubyte.gz",
        size: 28_881,
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    Published {
        name: "t10k-images-idx3-ubyte.gz",
        size: 1_648_877,
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    Published {
        name: "t10k-labels-idx1-ubyte.gz",
        size: 4_542,
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
];

/// Largest download accepted for a file whose size is not known (a digest given with
/// `--sha256`): ten times MNIST's largest file.
pub const MAX_UNKNOWN_SIZE: u64 = 100_000_000;

#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Download MNIST (train and t10k images and labels, gzipped IDX files, 11.6 MB) and
    /// verify each file's SHA-256.
    Mnist(MnistArgs),
}

#[derive(clap::Args)]
pub struct MnistArgs {
    /// Directory for the files (created when missing).
    #[arg(long, default_value = "data/mnist")]
    dir: PathBuf,
    /// Base URL to download from (repeatable; tried in order), each file being fetched as
    /// URL/NAME [default: $MINITORCH_MNIST_MIRROR (URLs separated by commas or spaces), else
    /// https://ossci-datasets.s3.amazonaws.com/mnist/ then
    /// https://storage.googleapis.com/cvdf-datasets/mnist/].
    #[arg(long = "mirror", value_name = "URL")]
    mirrors: Vec<String>,
    /// No progress bars, even on a terminal.
    #[arg(long)]
    quiet: bool,
    /// Expect this SHA-256 for file NAME instead of the published one (for tests that serve
    /// their own files).
    #[arg(long = "sha256", value_name = "NAME=HEX", hide = true)]
    sha256: Vec<String>,
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Mnist(args) => mnist(args),
    }
}

/// A file to fetch: its name, expected digest and, when known, size.
#[derive(Clone, Debug, PartialEq)]
struct Wanted {
    name: &'static str,
    sha256: String,
    size: Option<u64>,
}

fn mnist(args: MnistArgs) -> Result<()> {
    let mirrors = if args.mirrors.is_empty() {
        match std::env::var(MIRROR_ENV) {
            Ok(value) if !value.trim().is_empty() => parse_mirrors(MIRROR_ENV, &value)?,
            _ => DEFAULT_MIRRORS.iter().map(|m| m.to_string()).collect(),
        }
    } else {
        args.mirrors
            .iter()
            .map(|m| mirror_url("--mirror", m))
            .collect::<Result<_>>()?
    };
    let wanted = wanted_files(&args.sha256)?;
    prepare_dir(&args.dir)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("minitorch/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let show_bars = !args.quiet && std::io::stderr().is_terminal();
    for file in &wanted {
        let line = fetch(&agent, &args.dir, file, &mirrors, show_bars)?;
        println!("{}: {line}", file.name);
    }
    println!(
        "MNIST is in {} ({} files, SHA-256 verified)",
        args.dir.display(),
        wanted.len()
    );
    Ok(())
}

/// The mirrors of `text` (separated by commas or whitespace), each checked by [`mirror_url`].
fn parse_mirrors(source: &'static str, text: &str) -> Result<Vec<String>> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|m| mirror_url(source, m))
        .collect()
}

/// An `http://` or `https://` base URL, ending in `/` so that file names append to it.
fn mirror_url(source: &'static str, url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty() && !host.starts_with('/') && !url.contains(char::is_whitespace) =>
        {
            Ok(if url.ends_with('/') {
                url.to_string()
            } else {
                format!("{url}/")
            })
        }
        _ => Err(CliError::flag(
            source,
            format!("{url:?}"),
            "must be an http:// or https:// URL with a host (the files are fetched as URL/NAME)"
                .into(),
        )),
    }
}

/// MNIST's files, with the digests of `--sha256 NAME=HEX` overrides (and then no known size).
fn wanted_files(overrides: &[String]) -> Result<Vec<Wanted>> {
    let mut wanted: Vec<Wanted> = MNIST_FILES
        .iter()
        .map(|f| Wanted {
            name: f.name,
            sha256: f.sha256.to_string(),
            size: Some(f.size),
        })
        .collect();
    for item in overrides {
        let fail = |message: String| CliError::flag("--sha256", item, message);
        let (name, hex) = item
            .split_once('=')
            .ok_or_else(|| fail("must be NAME=HEX".into()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail("the digest must be 64 hexadecimal digits".into()));
        }
        let file = wanted.iter_mut().find(|w| w.name == name).ok_or_else(|| {
            let names: Vec<&str> = MNIST_FILES.iter().map(|f| f.name).collect();
            fail(format!("NAME must be one of {}", names.join(", ")))
        })?;
        file.sha256 = hex.to_ascii_lowercase();
        file.size = None;
    }
    Ok(wanted)
}

/// Creates `dir` when missing; refuses a path that is not a directory.
fn prepare_dir(dir: &Path) -> Result<()> {
    let fail = |message: String| CliError::flag("--dir", dir.display(), message);
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(fail("not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create: {e}")))
        }
        Err(e) => Err(fail(format!("cannot read: {e}"))),
    }
}

fn file_error(path: &Path, message: impl Into<String>) -> CliError {
    CliError::Lib(Error::File {
        path: path.display().to_string(),
        message: message.into(),
    })
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file, lowercase hex.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Makes `DIR/NAME` a verified copy of `file`: nothing to do when it already is, else a
/// download from the first mirror that delivers. Returns the line to print.
fn fetch(
    agent: &ureq::Agent,
    dir: &Path,
    file: &Wanted,
    mirrors: &[String],
    show_bars: bool,
) -> Result<String> {
    let target = dir.join(file.name);
    let part = dir.join(format!(".{}.part", file.name));
    let mut note = "";
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => {
            let digest = sha256_file(&target)
                .map_err(|e| file_error(&target, format!("cannot read: {e}")))?;
            if digest == file.sha256 {
                return Ok("already present, SHA-256 verified".into());
            }
            note = " (replacing a file whose SHA-256 differed)";
        }
        Ok(_) => {
            return Err(file_error(
                &target,
                "exists but is not a regular file; move it away first",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(&target, format!("cannot read: {e}"))),
    }
    if let Ok(meta) = std::fs::symlink_metadata(&part)
        && !meta.is_file()
    {
        return Err(file_error(
            &part,
            "exists but is not a regular file; move it away first",
        ));
    }
    let mut failures = Vec::new();
    for mirror in mirrors {
        let url = format!("{mirror}{}", file.name);
        match download(agent, &url, &part, file, show_bars) {
            Ok(got) => {
                std::fs::rename(&part, &target).map_err(|e| {
                    file_error(&target, format!("cannot rename {}: {e}", part.display()))
                })?;
                sync_dir(dir);
                let how = if got.resumed_from > 0 {
                    format!(" (resumed at byte {})", got.resumed_from)
                } else {
                    String::new()
                };
                return Ok(format!(
                    "downloaded {} bytes from {url}{how}, SHA-256 verified{note}",
                    got.bytes
                ));
            }
            Err(reason) => failures.push(format!("{url}: {reason}")),
        }
    }
    let kept = if std::fs::metadata(&part).is_ok_and(|m| m.len() > 0) {
        format!(
            "; the partial download {} is kept for the next run to resume",
            part.display()
        )
    } else {
        String::new()
    };
    Err(file_error(
        &target,
        format!("cannot download: {}{kept}", failures.join("; ")),
    ))
}

/// A verified download in the `.part` file.
struct Got {
    /// The file's size.
    bytes: u64,
    /// Where this run's transfer started (0 unless a `.part` was resumed).
    resumed_from: u64,
}

/// Downloads `url` into `part` (resuming what is there when the server allows) and verifies the
/// digest. On failure, returns the reason; the `.part` is kept when it may be resumed, and
/// removed when its content is wrong.
fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    file: &Wanted,
    show_bars: bool,
) -> std::result::Result<Got, String> {
    let limit = file.size.unwrap_or(MAX_UNKNOWN_SIZE);
    let remove = || {
        let _ = std::fs::remove_file(part);
    };
    let digest = || sha256_file(part).map_err(|e| format!("cannot read {}: {e}", part.display()));
    let verify = || digest().map(|d| d == file.sha256);
    let mut offset = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if offset >= limit {
        // Complete but not renamed (the run stopped in between), or longer than the file.
        if offset == limit && verify()? {
            return Ok(Got {
                bytes: offset,
                resumed_from: offset,
            });
        }
        remove();
        offset = 0;
    }
    let resumed = offset > 0;
    let mut request = agent.get(url);
    if resumed {
        request = request.header("Range", format!("bytes={offset}-"));
    }
    let response = request.call().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let start = match status {
        200 => 0,
        206 if resumed => match header("content-range").and_then(content_range_start) {
            Some(start) if start == offset => offset,
            // An answer for another range: fetch the whole file instead.
            _ => {
                remove();
                return download(agent, url, part, file, show_bars);
            }
        },
        416 if resumed => {
            // Nothing more to send: the part may already be the whole file.
            if verify()? {
                return Ok(Got {
                    bytes: offset,
                    resumed_from: offset,
                });
            }
            remove();
            return download(agent, url, part, file, show_bars);
        }
        _ => return Err(format!("HTTP {status}")),
    };
    let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length
        && start + length > limit
    {
        return Err(format!(
            "the server announces {} bytes, more than the {limit} expected",
            start + length
        ));
    }
    let mut out = if start > 0 {
        OpenOptions::new().append(true).open(part)
    } else {
        File::create(part)
    }
    .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    let bar = if show_bars {
        let bar = ProgressBar::new(length.map_or(limit, |l| start + l));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("valid template"),
        );
        bar.set_message(file.name);
        bar.set_position(start);
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut body = response.into_body().into_reader().take(limit - start + 1);
    let mut buf = vec![0u8; 1 << 16];
    let mut received = start;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                let _ = out.flush();
                return Err(format!("interrupted after {received} bytes ({e})"));
            }
        };
        if received + n as u64 > limit {
            bar.abandon();
            drop(out);
            remove();
            return Err(format!(
                "sent more than the {limit} bytes expected (the download was removed)"
            ));
        }
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        received += n as u64;
        bar.set_position(received);
    }
    bar.finish_and_clear();
    out.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    drop(out);
    let got = digest()?;
    if got == file.sha256 {
        return Ok(Got {
            bytes: received,
            resumed_from: start,
        });
    }
    remove();
    if start > 0 {
        // The kept part may come from elsewhere: one more try, from the start.
        return download(agent, url, part, file, show_bars);
    }
    Err(format!(
        "SHA-256 mismatch: the {received} bytes received hash to {got}, not {} (the download \
         was removed)",
        file.sha256
    ))
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes ")?;
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

/// Flushes a directory's entries (the rename) to disk, where the file system can.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_digests_are_sha256_hex() {
        for f in &MNIST_FILES {
            assert_eq!(f.sha256.len(), 64, "{}", f.name);
            assert!(
                f.sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
        }
        // The SHA-256 of nothing, as a check of the hashing and the hex.
        assert_eq!(
            hex(&Sha256::digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn mirrors_are_http_urls_ending_in_a_slash() {
        assert_eq!(
            mirror_url("--mirror", "http://127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000/"
        );
        assert_eq!(
            mirror_url("--mirror", "https://example.org/mnist/").unwrap(),
            "https://example.org/mnist/"
        );
        for bad in [
            "ftp://x/",
            "example.org",
            "http://",
            "https:///x",
            "http://a b/",
        ] {
            let msg = mirror_url("--mirror", bad).unwrap_err().to_string();
            assert!(msg.starts_with("--mirror \""), "{msg}");
            assert!(msg.contains("must be an http:// or https:// URL"), "{msg}");
        }
        assert_eq!(
            parse_mirrors(MIRROR_ENV, " http://a/x, https://b/ ,,http://c").unwrap(),
            vec!["http://a/x/", "https://b/", "http://c/"]
        );
        assert!(
            parse_mirrors(MIRROR_ENV, "http://a/ file:///tmp")
                .unwrap_err()
                .to_string()
                .starts_with("MINITORCH_MNIST_MIRROR \"file:///tmp\"")
        );
    }

    #[test]
    fn digest_overrides_name_a_file_and_give_64_hex_digits() {
        let hex64 = "AB".repeat(32);
        let wanted = wanted_files(&[format!("t10k-labels-idx1-ubyte.gz={hex64}")]).unwrap();
        assert_eq!(wanted.len(), 4);
        assert_eq!(wanted[3].sha256, "ab".repeat(32));
        assert_eq!(wanted[3].size, None);
        assert_eq!(wanted[0].size, Some(9_912_422));
        for bad in [
            "t10k-labels-idx1-ubyte.gz".to_string(),
            "t10k-labels-idx1-ubyte.gz=abc".to_string(),
            format!("other.gz={hex64}"),
        ] {
            let msg = wanted_files(std::slice::from_ref(&bad))
                .unwrap_err()
                .to_string();
            assert!(msg.starts_with(&format!("--sha256 {bad}: ")), "{msg}");
        }
    }

    #[test]
    fn content_range_headers_give_their_start() {
        assert_eq!(content_range_start("bytes 100-999/1000"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("bytes */1000"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }
}
