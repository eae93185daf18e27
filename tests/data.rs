//! MNIST data: the IDX reader on fixtures built here (plain and gzipped, well-formed and
//! malformed), the real 10,000-digit sample when it is at hand, and `minitorch data mnist`
//! against a local HTTP server (never the network).

use flate2::Compression;
use flate2::write::GzEncoder;
use minitorch::data::idx::{
    self, Holdout, IMAGES_MAGIC, LABELS_MAGIC, MAX_COUNT, Split, load_split, read_images,
    read_labels,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh, empty directory for one test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("minitorch-data-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn be(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// An IDX image file's bytes: the header declares `header` (count, rows, cols), then `pixels`.
fn images_bytes(header: [u32; 3], pixels: &[u8]) -> Vec<u8> {
    let mut bytes = be(&[IMAGES_MAGIC, header[0], header[1], header[2]]);
    bytes.extend_from_slice(pixels);
    bytes
}

/// An IDX label file's bytes.
fn labels_bytes(count: u32, labels: &[u8]) -> Vec<u8> {
    let mut bytes = be(&[LABELS_MAGIC, count]);
    bytes.extend_from_slice(labels);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `count` images of `rows`×`cols` with reproducible pseudo-random pixels (which gzip cannot
/// shrink much, so the downloads below have some length).
fn pixels(count: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..count * rows * cols)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect()
}

fn labels(count: usize) -> Vec<u8> {
    (0..count).map(|i| (i * 3 % 10) as u8).collect()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// The error must name the file and contain every one of `needles`.
fn refused<T: std::fmt::Debug>(result: minitorch::Result<T>, path: &Path, needles: &[&str]) {
    let msg = result.unwrap_err().to_string();
    println!("{msg}");
    assert!(
        msg.starts_with(&format!("{}: ", path.display())),
        "does not name {}: {msg}",
        path.display()
    );
    for needle in needles {
        assert!(msg.contains(needle), "{needle:?} missing in: {msg}");
    }
}

#[test]
fn plain_and_gzipped_files_read_back() {
    let dir = temp_dir("roundtrip");
    let (px, lb) = (pixels(12, 5, 4), labels(12));
    // Training images plain, training labels gzipped; the test set both gzipped.
    write(
        &dir.join("train-images-idx3-ubyte"),
        &images_bytes([12, 5, 4], &px),
    );
    write(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &gzip(&labels_bytes(12, &lb)),
    );
    let (tpx, tlb) = (pixels(3, 5, 4), vec![9, 0, 4]);
    write(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &gzip(&images_bytes([3, 5, 4], &tpx)),
    );
    write(
        &dir.join("t10k-labels-idx1-ubyte.gz"),
        &gzip(&labels_bytes(3, &tlb)),
    );

    let train = load_split(&dir, Split::Train).unwrap();
    assert_eq!(
        (train.count, train.rows, train.cols),
        (12, 5, 4),
        "{train:?}"
    );
    assert_eq!(train.images, px);
    assert_eq!(train.labels, lb);
    assert_eq!(train.image(2), &px[40..60]);
    assert_eq!(train.label_counts().iter().sum::<usize>(), 12);
    let test = load_split(&dir, Split::Test).unwrap();
    assert_eq!(
        (test.count, test.images.clone(), test.labels.clone()),
        (3, tpx, tlb)
    );

    // The lower-level readers, and the holdout ranges.
    let images = read_images(&dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!((images.count, images.rows, images.cols), (3, 5, 4));
    assert_eq!(
        train.holdout(8, 3).unwrap(),
        Holdout {
            train: 0..8,
            valid: 8..11
        }
    );
    let x = train.images_f64(8..11).unwrap();
    assert_eq!(x.len(), 3 * 20);
    assert_eq!(x[0], f64::from(px[8 * 20]));
    let msg = train.holdout(10, 3).unwrap_err().to_string();
    assert_eq!(
        msg,
        "holdout: 10 training + 3 validation images = 13 images, but the data has only 12"
    );
}

#[test]
fn the_content_decides_whether_a_file_is_gzipped() {
    let dir = temp_dir("content");
    let bytes = labels_bytes(4, &[1, 2, 3, 4]);
    // Plain bytes under a .gz name, gzip bytes under a plain name: both read.
    let plain_named_gz = dir.join("plain.gz");
    write(&plain_named_gz, &bytes);
    assert_eq!(read_labels(&plain_named_gz).unwrap(), vec![1, 2, 3, 4]);
    let gz_named_plain = dir.join("labels");
    write(&gz_named_plain, &gzip(&bytes));
    assert_eq!(read_labels(&gz_named_plain).unwrap(), vec![1, 2, 3, 4]);
    // Concatenated gzip members are one stream (gzip's rule).
    let two = dir.join("two.gz");
    let mut members = gzip(&bytes[..6]);
    members.extend(gzip(&bytes[6..]));
    write(&two, &members);
    assert_eq!(read_labels(&two).unwrap(), vec![1, 2, 3, 4]);
    // With both a plain and a gzipped copy, the plain one is read.
    write(&dir.join("x-idx1-ubyte"), &bytes);
    write(&dir.join("x-idx1-ubyte.gz"), b"not even gzip");
    assert_eq!(
        idx::find_file(&dir, "x-idx1-ubyte").unwrap(),
        dir.join("x-idx1-ubyte")
    );
}

/// Writes `bytes` to `name` in `dir`, plain and gzipped (`name.gz`), and checks that both are
/// refused with messages naming them and containing `needles` (and `gz_needles` for the gzipped
/// one, `plain_needles` for the plain one).
fn refused_both(dir: &Path, name: &str, bytes: &[u8], needles: &[&str], plain_only: &[&str]) {
    let plain = dir.join(name);
    write(&plain, bytes);
    let gz = dir.join(format!("{name}.gz"));
    write(&gz, &gzip(bytes));
    let read = |p: &Path| -> minitorch::Result<usize> {
        if name.contains("images") {
            read_images(p).map(|i| i.count)
        } else {
            read_labels(p).map(|l| l.len())
        }
    };
    let all: Vec<&str> = needles.iter().chain(plain_only).copied().collect();
    refused(read(&plain), &plain, &all);
    refused(read(&gz), &gz, needles);
}

#[test]
fn malformed_files_are_refused_naming_the_file() {
    let dir = temp_dir("malformed");
    let px = pixels(3, 2, 2);
    // A label file where images are expected, and the reverse.
    refused_both(
        &dir,
        "swapped-images",
        &labels_bytes(3, &[0, 1, 2]),
        &[
            "bad magic number 0x00000801 (an IDX label file); an IDX image file starts with \
             0x00000803",
        ],
        &[],
    );
    refused_both(
        &dir,
        "swapped-labels",
        &images_bytes([3, 2, 2], &px),
        &[
            "bad magic number 0x00000803 (an IDX image file); an IDX label file starts with \
             0x00000801",
        ],
        &[],
    );
    refused_both(
        &dir,
        "png-images",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10",
        &["bad magic number 0x89504e47 (not an IDX file)"],
        &[],
    );
    // Header cut short.
    refused_both(
        &dir,
        "short-images",
        &images_bytes([3, 2, 2], &[])[..10],
        &["truncated header: 10 bytes", "starts with 16"],
        &[],
    );
    refused_both(
        &dir,
        "empty-labels",
        &[],
        &["truncated header: 0 bytes"],
        &[],
    );
    // Data cut short, and data beyond what the header declares.
    refused_both(
        &dir,
        "cut-images",
        &images_bytes([3, 2, 2], &px[..11]),
        &["truncated", "3 images of 2×2 (12 bytes)", "only 11 bytes"],
        &[],
    );
    refused_both(
        &dir,
        "long-images",
        &images_bytes([3, 2, 2], &[px.as_slice(), &[0]].concat()),
        &["trailing data", "3 images of 2×2"],
        &["1 byte of trailing data"],
    );
    refused_both(
        &dir,
        "long-labels",
        &labels_bytes(2, &[1, 2, 3]),
        &["trailing data", "2 labels"],
        &[],
    );
    // Zero counts and empty images.
    refused_both(
        &dir,
        "none-images",
        &images_bytes([0, 28, 28], &[]),
        &["declares 0 images"],
        &[],
    );
    refused_both(
        &dir,
        "none-labels",
        &labels_bytes(0, &[]),
        &["declares 0 labels"],
        &[],
    );
    refused_both(
        &dir,
        "flat-images",
        &images_bytes([3, 0, 28], &[]),
        &["images of 0×28 pixels"],
        &[],
    );
    // Labels must be digits.
    refused_both(
        &dir,
        "bad-labels",
        &labels_bytes(4, &[0, 9, 10, 3]),
        &["label 10 at index 2 is not a digit 0–9"],
        &[],
    );
}

#[test]
fn absurd_headers_are_refused_before_allocating() {
    let dir = temp_dir("absurd");
    let tiny = pixels(2, 28, 28);
    // Beyond the caps.
    refused_both(
        &dir,
        "many-images",
        &images_bytes([MAX_COUNT as u32 + 1, 1, 1], &tiny),
        &["declares 100000001 images, more than the 100000000"],
        &[],
    );
    refused_both(
        &dir,
        "huge-images",
        &images_bytes([1, 65_536, 65_536], &tiny),
        &["65536×65536 pixels, more than the 16777216 (4096×4096)"],
        &[],
    );
    refused_both(
        &dir,
        "terabyte-images",
        &images_bytes([u32::MAX, 4096, 4096], &tiny),
        &["more than the 100000000"],
        &[],
    );
    refused_both(
        &dir,
        "gigabytes-of-images",
        &images_bytes([MAX_COUNT as u32, 28, 28], &tiny),
        &["100000000 images of 28×28 (78400000000 bytes), more than the 4294967296 bytes"],
        &[],
    );
    // Within the caps, but far more than the file holds: refused at once (a plain file by its
    // length, a gzipped one as its data ends), without reserving the declared 3.9 GB.
    let start = std::time::Instant::now();
    refused_both(
        &dir,
        "lying-images",
        &images_bytes([5_000_000, 28, 28], &tiny),
        &[
            "truncated",
            "5000000 images of 28×28 (3920000000 bytes)",
            "only 1568 bytes",
        ],
        &[],
    );
    refused_both(
        &dir,
        "lying-labels",
        &labels_bytes(MAX_COUNT as u32, &[1, 2]),
        &["truncated", "only 2 bytes"],
        &[],
    );
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
}

#[test]
fn corrupt_gzip_and_odd_paths_are_refused() {
    let dir = temp_dir("gzip");
    let good = gzip(&images_bytes([3, 2, 2], &pixels(3, 2, 2)));
    // A gzip file cut short.
    let cut = dir.join("cut.gz");
    write(&cut, &good[..good.len() - 6]);
    refused(read_images(&cut), &cut, &[]);
    // A flipped byte in the compressed data or its checksum.
    for (i, name) in [(good.len() / 2, "flipped.gz"), (good.len() - 6, "crc.gz")] {
        let mut bad = good.clone();
        bad[i] ^= 0x55;
        let path = dir.join(name);
        write(&path, &bad);
        refused(read_images(&path), &path, &[]);
    }
    // Bytes after the gzip stream.
    let trailing = dir.join("trailing.gz");
    write(&trailing, &[good.as_slice(), b"garbage!"].concat());
    refused(read_images(&trailing), &trailing, &["corrupt gzip data"]);
    // A directory, a missing file.
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    refused(read_images(&sub), &sub, &["is a directory"]);
    let missing = dir.join("missing");
    refused(read_labels(&missing), &missing, &["cannot read"]);
    // A name ending in .gz does not make garbage gzip data.
    let fake = dir.join("fake.gz");
    write(&fake, b"hello, world, not gzip");
    refused(
        read_labels(&fake),
        &fake,
        &[
            "bad magic number",
            "the name ends in .gz, but the content is not gzip data",
        ],
    );
    // A FIFO is refused, not waited on.
    #[cfg(unix)]
    {
        let fifo = dir.join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        refused(read_images(&fifo), &fifo, &["not a regular file"]);
    }
}

#[test]
fn load_split_names_missing_and_mismatched_files() {
    let dir = temp_dir("split");
    refused(
        load_split(&dir, Split::Test),
        &dir,
        &[
            "neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz",
            "minitorch data mnist",
        ],
    );
    write(
        &dir.join("train-images-idx3-ubyte.gz"),
        &gzip(&images_bytes([4, 3, 3], &pixels(4, 3, 3))),
    );
    refused(
        load_split(&dir, Split::Train),
        &dir,
        &["neither train-labels-idx1-ubyte nor train-labels-idx1-ubyte.gz"],
    );
    let labels_path = dir.join("train-labels-idx1-ubyte");
    write(&labels_path, &labels_bytes(3, &[1, 2, 3]));
    refused(
        load_split(&dir, Split::Train),
        &labels_path,
        &[
            "holds 3 labels",
            "train-images-idx3-ubyte.gz holds 4 images",
        ],
    );
    let missing = dir.join("nowhere");
    refused(
        load_split(&missing, Split::Train),
        &missing,
        &["cannot read the directory"],
    );
}

/// The real sample of 10,000 MNIST training digits in the shared data directory (or the
/// directory `MINITORCH_MNIST_DIR` names), when present.
#[test]
fn the_real_mnist_sample_loads() {
    let dir = match std::env::var_os("MINITORCH_MNIST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist-10k"),
    };
    if !dir.is_dir() {
        println!(
            "skipped: no MNIST files at {} (set MINITORCH_MNIST_DIR to a directory holding \
             train-images-idx3-ubyte(.gz) and train-labels-idx1-ubyte(.gz))",
            dir.display()
        );
        return;
    }
    let mnist = load_split(&dir, Split::Train).unwrap();
    assert_eq!((mnist.rows, mnist.cols), (28, 28));
    assert_eq!(mnist.label_counts().iter().sum::<usize>(), mnist.count);
    assert!(mnist.images.contains(&255) && mnist.images.contains(&0));
    if mnist.count == 10_000 {
        assert_eq!(
            mnist.label_counts(),
            [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
        );
    }
    println!(
        "{}: {} training images of {}×{}, labels {:?}",
        dir.display(),
        mnist.count,
        mnist.rows,
        mnist.cols,
        mnist.label_counts()
    );
    // The test set too, where it is there (the 10,000-digit sample has none).
    if idx::find_file(&dir, &Split::Test.images_name()).is_ok() {
        let test = load_split(&dir, Split::Test).unwrap();
        assert_eq!((test.rows, test.cols), (28, 28));
        println!("{}: {} test images", dir.display(), test.count);
    }
    let split = mnist.holdout(5000, 500).unwrap();
    assert_eq!((split.train, split.valid), (0..5000, 5000..5500));
    assert!(mnist.holdout(mnist.count, 1).is_err());
}

/// `minitorch data mnist` against a server on 127.0.0.1.
#[cfg(feature = "cli")]
mod download {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, TcpStream};
    use std::process::Command;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    const NAMES: [&str; 4] = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ];

    /// The four files, small: gzipped IDX fixtures.
    fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                NAMES[0],
                gzip(&images_bytes([50, 28, 28], &pixels(50, 28, 28))),
            ),
            (NAMES[1], gzip(&labels_bytes(50, &labels(50)))),
            (
                NAMES[2],
                gzip(&images_bytes([10, 28, 28], &pixels(10, 28, 28))),
            ),
            (NAMES[3], gzip(&labels_bytes(10, &labels(10)))),
        ]
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `--sha256 NAME=HEX` for every fixture.
    fn digest_flags(files: &[(&str, Vec<u8>)]) -> Vec<String> {
        files
            .iter()
            .flat_map(|(name, bytes)| {
                [
                    "--sha256".to_string(),
                    format!("{name}={}", sha256_hex(bytes)),
                ]
            })
            .collect()
    }

    #[derive(Clone, Default)]
    struct Behaviour {
        /// Answer every request with the whole file (no Range support).
        ignore_range: bool,
        /// Send only this many body bytes of the first response for this file, then hang up.
        cut: Option<(&'static str, usize)>,
    }

    /// A tiny HTTP/1.1 file server on an ephemeral port of 127.0.0.1. It answers GET /NAME
    /// (with `Range: bytes=N-` when allowed), one request per connection, and stops by itself
    /// after 200 connections or two minutes.
    struct Server {
        url: String,
        /// `NAME` or `NAME bytes=N-` per request, in order.
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Server {
        fn start(files: Vec<(&'static str, Vec<u8>)>, behaviour: Behaviour) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            listener.set_nonblocking(true).unwrap();
            let log = Arc::new(Mutex::new(Vec::new()));
            let server_log = Arc::clone(&log);
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut cut = behaviour.cut;
                let mut served = 0;
                while served < 200 && start.elapsed() < Duration::from_secs(120) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            let _ = answer(stream, &files, &behaviour, &mut cut, &server_log);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
            Server { url, log }
        }

        fn requests(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
    }

    fn answer(
        mut stream: TcpStream,
        files: &[(&'static str, Vec<u8>)],
        behaviour: &Behaviour,
        cut: &mut Option<(&'static str, usize)>,
        log: &Mutex<Vec<String>>,
    ) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut range = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((key, value)) = line.split_once(':')
                && key.trim().eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_string());
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let name = path.trim_start_matches('/');
        log.lock().unwrap().push(match &range {
            Some(r) => format!("{name} {r}"),
            None => name.to_string(),
        });
        let Some((_, data)) = files.iter().find(|(n, _)| *n == name) else {
            return stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            );
        };
        let start = range.filter(|_| !behaviour.ignore_range).and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        });
        let (head, body) = match start {
            Some(s) if s >= data.len() => (
                format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n",
                    data.len()
                ),
                &data[..0],
            ),
            Some(s) => (
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    data.len() - 1,
                    data.len(),
                    data.len() - s
                ),
                &data[s..],
            ),
            None => (
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-gzip\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    data.len()
                ),
                &data[..],
            ),
        };
        stream.write_all(head.as_bytes())?;
        match *cut {
            Some((cut_name, n)) if cut_name == name => {
                *cut = None;
                stream.write_all(&body[..n.min(body.len())])?;
                stream.flush()?;
                stream.shutdown(std::net::Shutdown::Both)
            }
            _ => stream.write_all(body),
        }
    }

    /// Runs `minitorch data mnist` with `MINITORCH_MNIST_MIRROR` set to `mirror` (and no proxy):
    /// exit code, stdout, stderr.
    fn data_mnist(mirror: &str, args: &[String]) -> (Option<i32>, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_minitorch"))
            .args(["data", "mnist"])
            .args(args)
            .env("MINITORCH_MNIST_MIRROR", mirror)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .output()
            .expect("run minitorch");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `--dir DIR` and the fixtures' digests.
    fn args(dir: &Path, files: &[(&str, Vec<u8>)]) -> Vec<String> {
        let mut args = vec!["--dir".to_string(), dir.display().to_string()];
        args.extend(digest_flags(files));
        args
    }

    /// Exit 1 with one `error:` line containing every needle; returns stderr.
    fn failed(result: (Option<i32>, String, String), needles: &[&str]) -> String {
        let (code, out, err) = result;
        assert_eq!(code, Some(1), "{out}\n{err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        for needle in needles {
            assert!(err.contains(needle), "{needle:?} missing in\n{err}");
        }
        err
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn downloads_verifies_and_then_skips_present_files() {
        let files = fixtures();
        let server = Server::start(files.clone(), Behaviour::default());
        let dir = temp_dir("dl-ok").join("nested/mnist");
        let (code, out, err) = data_mnist(&server.url, &args(&dir, &files));
        assert_eq!(code, Some(0), "{out}\n{err}");
        for (name, bytes) in &files {
            assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
            assert!(
                out.contains(&format!(
                    "{name}: downloaded {} bytes from {}{name}",
                    bytes.len(),
                    server.url
                )),
                "{out}"
            );
        }
        assert!(out.contains("SHA-256 verified"), "{out}");
        assert_eq!(listing(&dir), sorted(&NAMES), "no .part left");
        assert_eq!(server.requests().len(), 4);
        // The library reads what was downloaded.
        assert_eq!(load_split(&dir, Split::Train).unwrap().count, 50);
        assert_eq!(load_split(&dir, Split::Test).unwrap().count, 10);

        // A second run finds everything verified and downloads nothing.
        let (code, out, err) = data_mnist(&server.url, &args(&dir, &files));
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(
            out.matches("already present, SHA-256 verified").count(),
            4,
            "{out}"
        );
        assert_eq!(server.requests().len(), 4);

        // A present file with other content is downloaded again and replaced.
        write(&dir.join(NAMES[3]), b"something else");
        let (code, out, err) = data_mnist(&server.url, &args(&dir, &files));
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert!(
            out.contains("replacing a file whose SHA-256 differed"),
            "{out}"
        );
        assert_eq!(std::fs::read(dir.join(NAMES[3])).unwrap(), files[3].1);
    }

    #[test]
    fn a_checksum_mismatch_leaves_no_file() {
        let files = fixtures();
        let server = Server::start(files.clone(), Behaviour::default());
        let dir = temp_dir("dl-mismatch");
        let mut args = args(&dir, &files);
        // Expect other bytes for the labels.
        let wrong = format!("{}={}", NAMES[1], "0".repeat(64));
        let i = args.iter().position(|a| a.starts_with(NAMES[1])).unwrap();
        args[i] = wrong;
        let url = format!("{}{}", server.url, NAMES[1]);
        failed(
            data_mnist(&server.url, &args),
            &[
                &format!(
                    "error: {}: cannot download: {url}: SHA-256 mismatch",
                    dir.join(NAMES[1]).display()
                ),
                &sha256_hex(&files[1].1),
                "the download was removed",
            ],
        );
        // The images before it were verified and kept; nothing of the labels remains.
        assert_eq!(listing(&dir), vec![NAMES[0].to_string()]);
    }

    #[test]
    fn an_interrupted_download_resumes_with_a_range_request() {
        let files = fixtures();
        let cut = 1000;
        let server = Server::start(
            files.clone(),
            Behaviour {
                cut: Some((NAMES[0], cut)),
                ..Behaviour::default()
            },
        );
        let dir = temp_dir("dl-resume");
        let err = failed(
            data_mnist(&server.url, &args(&dir, &files)),
            &[
                "cannot download",
                "interrupted after 1000 bytes",
                "kept for the next run to resume",
            ],
        );
        let part = dir.join(format!(".{}.part", NAMES[0]));
        assert_eq!(std::fs::read(&part).unwrap(), files[0].1[..cut], "{err}");
        assert!(!dir.join(NAMES[0]).exists());

        let (code, out, err) = data_mnist(&server.url, &args(&dir, &files));
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert!(out.contains("(resumed at byte 1000)"), "{out}");
        assert_eq!(std::fs::read(dir.join(NAMES[0])).unwrap(), files[0].1);
        assert_eq!(listing(&dir), sorted(&NAMES));
        let requests = server.requests();
        assert_eq!(
            requests[..2],
            [NAMES[0].to_string(), format!("{} bytes=1000-", NAMES[0])]
        );
    }

    #[test]
    fn a_part_is_restarted_when_the_server_ignores_ranges_or_the_join_does_not_verify() {
        let files = fixtures();
        let part_name = format!(".{}.part", NAMES[2]);

        // The server answers a Range request with the whole file: the download starts over.
        let server = Server::start(
            files.clone(),
            Behaviour {
                ignore_range: true,
                ..Behaviour::default()
            },
        );
        let dir = temp_dir("dl-restart");
        write(&dir.join(&part_name), &files[2].1[..300]);
        let (code, out, err) = data_mnist(&server.url, &args(&dir, &files));
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert!(!out.contains("resumed"), "{out}");
        assert_eq!(std::fs::read(dir.join(NAMES[2])).unwrap(), files[2].1);
        assert_eq!(listing(&dir), sorted(&NAMES));

        // A part with wrong bytes resumes into a file that does not verify: one more try from
        // the start.
        let server = Server::start(files.clone(), Behaviour::default());
        let dir = temp_dir("dl-bad-part");
        write(&dir.join(&part_name), &vec![0xAB; 300]);
        let (code, out, err) = data_mnist(&server.url, &args(&dir, &files));
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(std::fs::read(dir.join(NAMES[2])).unwrap(), files[2].1);
        let requests = server.requests();
        assert_eq!(
            requests[2..4],
            [format!("{} bytes=300-", NAMES[2]), NAMES[2].to_string()]
        );

        // A part that is already the whole file: the server has nothing more (416) and the
        // part is verified and kept.
        let server = Server::start(files.clone(), Behaviour::default());
        let dir = temp_dir("dl-whole-part");
        write(&dir.join(&part_name), &files[2].1);
        let (code, out, err) = data_mnist(&server.url, &args(&dir, &files));
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(std::fs::read(dir.join(NAMES[2])).unwrap(), files[2].1);
        assert_eq!(listing(&dir), sorted(&NAMES));
    }

    /// A port on 127.0.0.1 where nothing listens.
    fn dead_url() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        url
    }

    #[test]
    fn an_unreachable_server_is_one_clear_error() {
        let dir = temp_dir("dl-offline");
        let (a, b) = (dead_url(), format!("{}mnist", dead_url()));
        let files = fixtures();
        let err = failed(
            data_mnist(&format!("{a}, {b}"), &args(&dir, &files)),
            &[
                &format!(
                    "{}: cannot download: {a}{}: ",
                    dir.join(NAMES[0]).display(),
                    NAMES[0]
                ),
                &format!("; {b}/{}: ", NAMES[0]),
            ],
        );
        assert!(err.to_lowercase().contains("refused"), "{err}");
        assert!(listing(&dir).is_empty());
        // A server without the files: the HTTP status is the reason.
        let server = Server::start(Vec::new(), Behaviour::default());
        failed(
            data_mnist(&server.url, &args(&dir, &files)),
            &[&format!("{}{}: HTTP 404", server.url, NAMES[0])],
        );
    }

    #[test]
    fn mirror_flags_override_the_environment_and_are_checked() {
        let files = fixtures();
        let server = Server::start(files.clone(), Behaviour::default());
        let dir = temp_dir("dl-flags");
        let mut with_mirror = args(&dir, &files);
        with_mirror.extend(["--mirror".to_string(), server.url.clone(), "--quiet".into()]);
        let (code, out, err) = data_mnist(&dead_url(), &with_mirror);
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(listing(&dir), sorted(&NAMES));

        failed(
            data_mnist(
                &server.url,
                &["--mirror".into(), "ftp://example.org/".into()],
            ),
            &["--mirror \"ftp://example.org/\": must be an http:// or https:// URL"],
        );
        failed(
            data_mnist("file:///tmp", &[]),
            &["MINITORCH_MNIST_MIRROR \"file:///tmp\": must be an http:// or https:// URL"],
        );
        let file = dir.join(NAMES[0]);
        failed(
            data_mnist(&server.url, &["--dir".into(), file.display().to_string()]),
            &[&format!("--dir {}: not a directory", file.display())],
        );
        failed(
            data_mnist(&server.url, &["--sha256".into(), "x.gz=00".into()]),
            &["--sha256 x.gz=00: the digest must be 64 hexadecimal digits"],
        );
    }
}
